"""Small protocols for speech backends, the audio value they exchange, and the voice errors.

    class MyTTS:                      # any object with these members is a TTS backend
        languages = ("en",)
        sample_rate = 24000
        def synthesize(self, text: str, *, lang: str, rate: float = 1.0) -> Audio: ...

    class MyASR:
        def transcribe(self, audio: Audio, *, lang: str | None = None) -> Transcript: ...
"""
from __future__ import annotations

import contextlib
import io
import threading
import wave
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kefu.errors import BackendError, InputError, KefuError

LANGUAGES = ("zh", "en")


class AudioError(InputError):
    """The audio cannot be used: not audio, corrupt, empty or silent."""

    code = "invalid_audio"
    status = 422


class UnsupportedAudioError(AudioError):
    """A container or codec kefu cannot decode."""

    code = "unsupported_audio"
    status = 415


class AudioTooLongError(AudioError):
    """Longer than the ``voice_max_seconds`` setting allows."""

    code = "audio_too_long"
    status = 413


class NoSpeechError(AudioError):
    """The audio holds no speech (silence, noise, or nothing recognisable)."""

    code = "no_speech"
    status = 422


class VoiceUnavailableError(BackendError):
    """The voice extra, espeak-ng or the whisper weights are missing, or voice is switched off."""

    code = "voice_unavailable"
    status = 503


class SpeechInterrupted(KefuError):
    """A synthesis stopped part-way because its ``Interrupt`` was set (the caller barged in)."""

    code = "speech_interrupted"
    status = 409


class Interrupt:
    """A stop signal for speech work running on another thread (a caller who barges in stops the answer
    being synthesised, not only the one being played). Backends that can stop a run part-way register a
    hook with ``on_stop``; ``current_interrupt()`` finds the one the work runs under (``interruptible``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hooks: list[Callable[[], None]] = []
        self.stopped = False

    def stop(self) -> None:
        """Set the signal and run every registered hook once."""
        with self._lock:
            self.stopped, hooks, self._hooks = True, self._hooks, []
        for hook in hooks:
            hook()

    def on_stop(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Run ``hook`` on ``stop()`` (now, if it already happened); returns the function that unregisters it."""
        with self._lock:
            if not self.stopped:
                self._hooks.append(hook)
                return lambda: self._discard(hook)
        hook()
        return lambda: None

    def _discard(self, hook: Callable[[], None]) -> None:
        with self._lock:
            if hook in self._hooks:
                self._hooks.remove(hook)

    def check(self) -> None:
        """Raise ``SpeechInterrupted`` once stopped."""
        if self.stopped:
            raise SpeechInterrupted("the speech was interrupted")


_INTERRUPT: ContextVar[Interrupt | None] = ContextVar("kefu_voice_interrupt", default=None)


@contextlib.contextmanager
def interruptible(interrupt: Interrupt) -> Iterator[Interrupt]:
    """Run the block (and the threads ``asyncio.to_thread`` starts from it) under ``interrupt``."""
    token = _INTERRUPT.set(interrupt)
    try:
        yield interrupt
    finally:
        _INTERRUPT.reset(token)


def current_interrupt() -> Interrupt | None:
    """The ``Interrupt`` this code runs under, if any."""
    return _INTERRUPT.get()


@dataclass
class Audio:
    """Mono float32 samples in [-1, 1] at ``sample_rate`` Hz."""

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        self.samples = np.asarray(self.samples, dtype=np.float32).reshape(-1)

    @property
    def seconds(self) -> float:
        return len(self.samples) / float(self.sample_rate) if self.sample_rate else 0.0

    def to_wav(self) -> bytes:
        """16-bit mono PCM WAV bytes."""
        pcm = (np.clip(self.samples, -1.0, 1.0) * 32767.0).astype("<i2")
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(int(self.sample_rate))
            w.writeframes(pcm.tobytes())
        return buf.getvalue()

    def resampled(self, rate: int) -> Audio:
        """This audio at ``rate`` Hz (polyphase resampling; a copy when the rate already matches)."""
        from kefu.voice.audio import resample

        return Audio(resample(self.samples, self.sample_rate, rate), rate)


@dataclass
class Transcript:
    """What was said: text, the language used (zh/en), and timed segments."""

    text: str
    language: str
    language_probability: float = 1.0
    duration: float = 0.0
    segments: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0  # wall time spent transcribing
    heard: str = ""  # what the recogniser wrote, when the tenant's words put it right (kefu.voice.lexicon)

    def to_dict(self) -> dict[str, Any]:
        out = {"text": self.text, "language": self.language,
               "language_probability": round(self.language_probability, 4),
               "duration": round(self.duration, 3), "segments": self.segments}
        if self.heard:
            out["heard"] = self.heard
        return out


@runtime_checkable
class TTS(Protocol):
    """Text to speech for the languages in ``languages``."""

    languages: tuple[str, ...]

    def synthesize(self, text: str, *, lang: str, rate: float = 1.0) -> Audio:
        """``text`` (already normalised for speech) spoken in ``lang``; ``rate`` 1.0 is normal pace."""
        ...


@runtime_checkable
class ASR(Protocol):
    """Speech to text, restricted to zh/en."""

    def transcribe(self, audio: Audio, *, lang: str | None = None) -> Transcript:
        """The transcript of ``audio``; ``lang`` forces zh or en, ``None`` detects (clamped to zh/en)."""
        ...


def check_rate(rate: float) -> float:
    """A speaking rate in 0.5 (slow) .. 2.0 (fast); anything else is an ``InputError``."""
    if not isinstance(rate, int | float) or not 0.5 <= float(rate) <= 2.0:
        raise InputError(f"rate {rate!r} is out of range; use 0.5 (slow) to 2.0 (fast)")
    return float(rate)


def check_lang(lang: str | None, *, allow_auto: bool = True) -> str | None:
    """``zh``/``en`` (or ``None`` for auto-detection); anything else is an ``InputError``."""
    if lang in (None, "", "auto") and allow_auto:
        return None
    if lang not in LANGUAGES:
        raise InputError(f"language {str(lang)[:20]!r} is not supported; use zh or en"
                         + (" (or auto)" if allow_auto else ""))
    return lang
