"""Text-to-speech backends (``tts.hibari``, ``tts.espeak``, ``tts.http``) and the bilingual ``Speaker``.

    speaker = Speaker({"en": HibariTTS(), "zh": EspeakTTS()})
    audio = speaker.speak("您的订单NT2026030112345已发货，预计3天到达。")   # Audio at 24 kHz
    open("out.wav", "wb").write(audio.to_wav())

``Speaker`` normalises the text for speech (``text_norm.speakable``), splits mixed Chinese/English text by
script, synthesises each part with the backend for its language and joins the parts at one sample rate.
"""
from __future__ import annotations

import inspect
import io
import os
import re
import shutil
import subprocess
import threading
import wave
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kefu.errors import BackendError, ConfigError, InputError
from kefu.nlp.text import HAN, has_han
from kefu.voice.base import TTS, Audio, VoiceUnavailableError, check_lang, check_rate
from kefu.voice.pinyin import pinyin_words
from kefu.voice.text_norm import speakable, split_by_script

OUTPUT_RATE = 24000
MAX_TTS_CHARS = 5000


class HibariTTS:
    """English speech with hibari-tts (ONNX, 24 kHz); only the voice bundled in the wheel (``heart``)."""

    languages = ("en",)
    sample_rate = 24000

    def __init__(self, voice: str = "heart", threads: int = 1) -> None:
        self.voice = voice
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                try:
                    from hibari import Hibari
                    from hibari.voices import VOICES
                except ImportError as exc:
                    raise VoiceUnavailableError("hibari-tts is not installed (pip install 'kefu[voice]')") from exc
                if not VOICES.get(self.voice, {}).get("bundled"):
                    bundled = [n for n, v in VOICES.items() if v.get("bundled")]
                    raise ConfigError(f"hibari voice {self.voice!r} is not bundled (it would be downloaded); "
                                      f"offline voices: {', '.join(bundled)}")
                self._model = Hibari(voice=self.voice, threads=self.threads)
            return self._model

    def synthesize(self, text: str, *, lang: str = "en", rate: float = 1.0) -> Audio:
        """English ``text`` as 24 kHz audio; ``rate`` 1.0 is the voice's natural pace."""
        rate = check_rate(rate)
        model = self._load()
        with self._lock:  # one ONNX session; calls are short
            samples = model(text, speed=rate, seed=0)
        return Audio(samples, self.sample_rate)


class EspeakTTS:
    """Mandarin (and fallback English) with Debian's ``espeak-ng``.

    Mandarin goes through pinyin with tone numbers from ``pypinyin`` and the ``cmn-latn-pinyin`` voice
    (espeak-ng's character-based ``cmn`` voice is broken). Words come from jieba so tone sandhi and
    pauses follow word boundaries. The female variant ``+f3`` is the most intelligible to whisper here.
    """

    languages = ("zh", "en")
    sample_rate = 22050

    def __init__(self, zh_voice: str = "cmn-latn-pinyin+f3", en_voice: str = "en-us", words_per_minute: int = 150,
                 binary: str = "espeak-ng") -> None:
        self.voices = {"zh": zh_voice, "en": en_voice}
        self.wpm = words_per_minute
        self.binary = binary

    def _exe(self) -> str:
        found = shutil.which(self.binary)
        if not found:
            raise VoiceUnavailableError(f"{self.binary} is not installed (apt-get install espeak-ng)")
        return found

    def synthesize(self, text: str, *, lang: str = "zh", rate: float = 1.0) -> Audio:
        """``text`` in ``lang`` (zh: Han characters, converted to pinyin here) as 22.05 kHz audio."""
        rate = check_rate(rate)
        lang = check_lang(lang, allow_auto=False)
        spoken = to_pinyin(text) if lang == "zh" else text
        if not spoken.strip():
            return Audio(np.zeros(0, np.float32), self.sample_rate)
        cmd = [self._exe(), "-v", self.voices[lang], "-s", str(int(self.wpm * rate)), "--stdout"]
        try:
            done = subprocess.run(cmd, input=spoken.encode("utf-8"), capture_output=True, timeout=60, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BackendError("espeak-ng took more than 60 s") from exc
        if done.returncode != 0 or not done.stdout:
            raise BackendError(f"espeak-ng failed ({done.returncode}): {done.stderr.decode(errors='replace')[:200]}")
        with wave.open(io.BytesIO(done.stdout)) as w:
            rate_hz, raw = w.getframerate(), w.readframes(w.getnframes())
        # espeak writes an unknown length (0xFFFFFFFF) into the header when piping; readframes copes.
        return Audio(np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0, rate_hz)


def to_pinyin(text: str) -> str:
    """Chinese text as pinyin with tone numbers, one jieba word per token: 你好，世界 → ni3hao3, shi4jie4."""
    text = " ".join(w if isinstance(w, str) else "".join(w) for w in pinyin_words(text))
    return re.sub(r"\s+([,.;:!?])", r"\1", text)


class HttpTTS:
    """An external TTS service: ``POST url`` with ``{"text", "lang", "rate"}`` returns an audio file.

    Any format ``audio.decode`` reads (WAV, MP3, OGG…) is accepted; the service's API key, if any, comes
    from the environment variable named by ``api_key_env`` and is sent as a Bearer token.
    """

    languages = ("zh", "en")

    def __init__(self, url: str, timeout: float = 30.0, api_key_env: str = "KEFU_TTS_API_KEY",
                 languages: tuple[str, ...] = ("zh", "en")) -> None:
        if not re.match(r"https?://", url or ""):
            raise ConfigError(f"tts_url {url!r} must be an http(s) URL")
        self.url = url
        self.timeout = timeout
        self.api_key_env = api_key_env
        self.languages = tuple(languages)
        self.sample_rate = OUTPUT_RATE

    def synthesize(self, text: str, *, lang: str = "en", rate: float = 1.0) -> Audio:
        """POST the text; decode the audio that comes back (kept at its own sample rate)."""
        import os

        import httpx

        from kefu.voice.audio import decode

        rate = check_rate(rate)
        key = os.environ.get(self.api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            r = httpx.post(self.url, json={"text": text, "lang": lang, "rate": rate}, headers=headers,
                           timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise BackendError(f"TTS service {self.url} did not answer: {type(exc).__name__}") from exc
        if r.status_code != 200:
            raise BackendError(f"TTS service {self.url} answered {r.status_code}: {r.text[:200]}")
        audio = decode(r.content, max_seconds=3600, rate=None)
        self.sample_rate = audio.sample_rate
        return audio


class SpeechCache:
    """The audio of short texts spoken before (greetings, queue and handoff messages, the first clause of
    frequent answers), least recently used first out, bounded by the seconds of audio held. Entries put
    with ``keep`` (the fixed messages said at warm-up, as an IVR keeps its prompts) are never evicted."""

    MAX_CHARS = 60

    def __init__(self, max_seconds: float) -> None:
        self.max_seconds = max_seconds
        self.seconds = 0.0
        self._items: OrderedDict[tuple, Audio] = OrderedDict()
        self._kept: set[tuple] = set()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Audio | None:
        with self._lock:
            audio = self._items.get(key)
            if audio is not None:
                self._items.move_to_end(key)
            return audio

    def put(self, key: tuple, audio: Audio, keep: bool = False) -> None:
        if audio.seconds > self.max_seconds:
            return
        audio.samples.setflags(write=False)  # shared by every later caller: nobody may change it in place
        with self._lock:
            if keep:
                self._kept.add(key)
            if key in self._items:
                return
            self._items[key] = audio
            self.seconds += audio.seconds
            self._evict()

    def release(self, key: tuple) -> None:
        """Let an entry put with ``keep`` go like any other (least recently used first)."""
        with self._lock:
            self._kept.discard(key)
            self._evict()

    def _evict(self) -> None:
        if self.seconds > self.max_seconds:
            for old in [k for k in self._items if k not in self._kept]:  # least recently used first
                self.seconds -= self._items.pop(old).seconds
                if self.seconds <= self.max_seconds:
                    break


class Speaker:
    """Bilingual speech from per-language backends: ``backends["zh"]``, ``backends["en"]``.

    ``cache_seconds``: how much audio of short texts (≤ 60 characters) to keep and replay instead of
    synthesising again (0: none)."""

    def __init__(self, backends: dict[str, TTS], rate: int = OUTPUT_RATE, pause_s: float = 0.08,
                 cache_seconds: float = 0.0) -> None:
        for lang in ("zh", "en"):
            if lang not in backends:
                raise ConfigError(f"no TTS backend for {lang}")
        self.backends = backends
        self.rate = rate
        self.pause = np.zeros(int(rate * pause_s), np.float32)
        self.cache = SpeechCache(cache_seconds) if cache_seconds > 0 else None

    def parts(self, text: str, lang: str | None = None) -> list[tuple[str, str]]:
        """``[(lang, speakable text), …]`` in order: numbers and ids written out, scripts split."""
        if not isinstance(text, str) or not text.strip():
            raise InputError("there is no text to speak")
        if len(text) > MAX_TTS_CHARS:
            raise InputError(f"the text is {len(text)} characters long; the limit is {MAX_TTS_CHARS}")
        lang = check_lang(lang) or ("zh" if has_han(text) else "en")
        out: list[tuple[str, str]] = []
        if lang == "zh":
            for part_lang, part in split_by_script(speakable(text, "zh")):
                out.append((part_lang, speakable(part, "en") if part_lang == "en" else part))
        else:
            for part_lang, part in split_by_script(speakable(text, "en")):
                out.append((part_lang, speakable(part, "zh") if part_lang == "zh" else part))
        return out

    def stream(self, text: str, lang: str | None = None, rate: float = 1.0) -> Iterator[Audio]:
        """One ``Audio`` per sentence (at ``self.rate``), each as soon as it is synthesised."""
        for sentence in split_sentences(text):
            audio = self.speak(sentence, lang, rate)
            if audio.samples.size:
                yield audio

    def speak(self, text: str, lang: str | None = None, rate: float = 1.0, keep: bool = False) -> Audio:
        """All of ``text`` as one ``Audio`` at ``self.rate`` Hz (``keep``: never evicted from the cache)."""
        cached = self._cached(text, lang, rate)
        if cached is not None:
            if keep:
                self.cache.put((text, lang, rate), cached, keep=True)
            return cached
        audio = self._synthesize(text, lang, rate)
        if self._cacheable(text):
            self.cache.put((text, lang, rate), audio, keep=keep)
        return audio

    def release(self, text: str, lang: str | None = None, rate: float = 1.0) -> None:
        """``text``'s audio, said with ``keep``, may now leave the cache like any other."""
        if self.cache is not None:
            self.cache.release((text, lang, rate))

    def is_cached(self, text: str, lang: str | None = None, rate: float = 1.0) -> bool:
        """Whether ``speak`` would replay ``text`` from the speech cache."""
        return self._cached(text, lang, rate) is not None

    def _cacheable(self, text: str) -> bool:
        return self.cache is not None and isinstance(text, str) and len(text) <= SpeechCache.MAX_CHARS

    def _cached(self, text: str, lang: str | None, rate: float) -> Audio | None:
        return self.cache.get((text, lang, rate)) if self._cacheable(text) else None

    def _synthesize(self, text: str, lang: str | None, rate: float) -> Audio:
        chunks: list[np.ndarray] = []
        for part_lang, part in self.parts(text, lang):
            audio = self.backends[part_lang].synthesize(part, lang=part_lang, rate=rate)
            if audio.samples.size:
                if chunks:
                    chunks.append(self.pause)
                chunks.append(audio.resampled(self.rate).samples)
        samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
        return Audio(samples, self.rate)


_SENTENCE = re.compile(r"(?<=[。！？!?；;])\s*|(?<=[.])\s+(?=[A-Z\"“\u4e00-\u9fff])|\n+")


def split_sentences(text: str) -> list[str]:
    """Sentences (Chinese and English end punctuation, line breaks), for streaming speech."""
    return [s.strip() for s in _SENTENCE.split(text or "") if s and s.strip() and re.search(r"\w", s)]


_CLAUSE_END = re.compile(r"(?<=[，、：；])\s*|(?<=[,:;])\s+")  # not inside 10:30 or 1,000


def speech_units(text: str) -> list[str]:
    """The pieces a call speaks one after another: its sentences, each split after its clauses
    (``您好，`` | ``请问…？``; ``Hello there,`` | ``how can I help?``), so the caller hears the first words
    sooner and a barge-in never waits for a long synthesis. The clause's comma stays with its piece
    (the caller inserts the pause)."""
    units = []
    for sentence in split_sentences(text):
        units += [u.strip() for u in _CLAUSE_END.split(sentence) if u.strip() and re.search(r"\w", u)]
    return units


def quick_start(units: list[str], first_chars: int, growth: float = 1.5) -> list[tuple[str, bool]]:
    """``(piece, pause after it)`` for each piece of a spoken answer: ``units`` as they are, except that a
    first unit of Chinese longer than twice ``first_chars`` is cut between words into pieces of about
    ``first_chars`` characters, each next one ``growth`` times longer, with no pause inside the clause.

    A voice slower than real time (Kokoro on 2 cores) then starts after a few characters instead of a
    whole clause, and each piece is synthesised while the shorter one before it plays. Cuts fall only
    between two Han characters, never beside a digit (whose reading depends on what follows it).
    """
    if not units:
        return []
    rest = [(u, True) for u in units[1:]]
    first = units[0]
    if first_chars <= 0 or len(first) <= 2 * first_chars or not has_han(first):
        return [(first, True), *rest]
    from kefu.nlp.text import segmenter

    words = segmenter().lcut(first)
    pieces, current, target = [], "", float(first_chars)
    for i, word in enumerate(words):
        current += word
        after = "".join(words[i + 1:])
        if (len(current) >= target and len(after) >= first_chars and HAN.fullmatch(current[-1])
                and HAN.fullmatch(after[0])):
            pieces.append(current)
            current, target = "", target * growth
    pieces.append(current)
    return [(p, False) for p in pieces[:-1]] + [(pieces[-1], True), *rest]


def load_tts(name: str, *, url: str = "", timeout: float = 30.0, options: dict[str, Any] | None = None,
             cache_dir: str | Path | None = None, threads: int | None = None,
             tone_semitones: float | None = None) -> TTS:
    """The TTS backend registered as ``tts.<name>`` (or a dotted path), built with its settings.
    ``cache_dir``, ``threads`` and ``tone_semitones`` go to the backends that take them (Kokoro joins its
    model into the cache folder and shapes Mandarin tones; the neural voices run on that many threads)."""
    from kefu.registry import resolve

    cls = resolve("tts", name)
    if cls is HttpTTS or name == "http":
        return cls(url, timeout=timeout)
    options = dict(options or {})
    accepted = inspect.signature(cls).parameters
    for key, value in (("cache_dir", cache_dir), ("threads", threads), ("tone_semitones", tone_semitones)):
        if value is not None and key in accepted:
            options.setdefault(key, value)
    return cls(**options)


def speaker_from_config(config) -> Speaker:
    """The ``Speaker`` for the ``tts_en`` / ``tts_zh`` settings (one instance per backend name)."""
    made: dict[str, TTS] = {}
    backends = {}
    for lang, name in (("en", config.tts_en), ("zh", config.tts_zh)):
        if name not in made:
            threads = max(1, min(config.tts_threads, os.cpu_count() or 1)) if lang == "zh" else None
            made[name] = load_tts(name, url=config.tts_url, timeout=config.tts_timeout_s,
                                  cache_dir=config.voice_cache_dir or config.home / "cache", threads=threads,
                                  tone_semitones=config.tts_tone_semitones)
        backend = made[name]
        if lang not in getattr(backend, "languages", ("zh", "en")):
            raise ConfigError(f"TTS backend {name!r} (setting tts_{lang}) does not speak {lang}")
        backends[lang] = backend
    return Speaker(backends, cache_seconds=config.tts_cache_seconds)
