"""Audio in and out: decoding any common format, resampling, G.711 μ-law, silence and speech detection.

``decode(data)`` accepts WAV (read directly), and MP3, OGG/Opus, WebM, FLAC, M4A … through PyAV (which
faster-whisper already depends on). A file longer than ``max_seconds`` is refused from its header when
the header says how long it is, and otherwise as soon as decoding passes the limit — a one-hour upload is
never decoded whole.
"""
from __future__ import annotations

import io
import math
import struct
import wave
from dataclasses import dataclass
from math import gcd

import numpy as np

from kefu.voice.base import Audio, AudioError, AudioTooLongError, NoSpeechError, UnsupportedAudioError

ASR_RATE = 16000
SILENCE_DBFS = -50.0  # RMS below this (dB relative to full scale) is silence
_WAV_FORMATS = {1: "pcm", 3: "float", 6: "alaw", 7: "mulaw", 0xFFFE: "extensible"}


def decode(data: bytes, *, max_seconds: float = 600.0, rate: int | None = ASR_RATE) -> Audio:
    """``data`` (any common audio file) as mono float32, resampled to ``rate`` (``None`` keeps it)."""
    if not data:
        raise AudioError("the audio is empty (0 bytes)")
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        audio = _decode_wav(data, max_seconds)
    else:
        audio = _decode_av(data, max_seconds)
    if audio.samples.size == 0:
        raise AudioError("the audio holds no samples")
    return audio if rate is None or audio.sample_rate == rate else audio.resampled(rate)


def _too_long(seconds: float, max_seconds: float) -> AudioTooLongError:
    return AudioTooLongError(f"the audio is {_clock(seconds)} long; the limit is {_clock(max_seconds)} "
                             "(setting voice_max_seconds)")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def _wav_format(data: bytes) -> tuple[int, int, int, int]:
    """(format tag, channels, rate, bits) from the ``fmt `` chunk, or an ``AudioError``."""
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if cid == b"fmt ":
            if size < 16 or pos + 24 > len(data):
                break
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[pos + 8:pos + 24])
            if tag == 0xFFFE and size >= 40 and pos + 34 <= len(data):
                tag = struct.unpack("<H", data[pos + 32:pos + 34])[0]  # the sub-format GUID starts with it
            return tag, channels, rate, bits
        pos += 8 + size + (size & 1)
    raise AudioError("the WAV header is corrupt: no valid 'fmt ' chunk")


def _decode_wav(data: bytes, max_seconds: float) -> Audio:
    tag, channels, rate, bits = _wav_format(data)
    if tag not in (1, 3, 6, 7):
        raise UnsupportedAudioError(f"WAV codec 0x{tag:04x} is not supported; send PCM, float, μ-law or A-law "
                                    "WAV, or MP3/OGG/WebM/FLAC")
    if not channels or not rate or rate > 384000 or channels > 16:
        raise AudioError(f"the WAV header is corrupt: {channels} channels at {rate} Hz")
    if tag != 1:
        return _decode_av(data, max_seconds)  # float, μ-law and A-law WAV: PyAV reads them
    try:
        with wave.open(io.BytesIO(data)) as w:
            n, width = w.getnframes(), w.getsampwidth()
            declared = n / rate
            if declared > max_seconds:
                raise _too_long(declared, max_seconds)
            raw = w.readframes(n)
    except (wave.Error, EOFError, struct.error) as exc:
        raise AudioError(f"the WAV file is corrupt: {exc}") from None
    if width not in (1, 2, 3, 4):
        raise UnsupportedAudioError(f"{width * 8}-bit PCM WAV is not supported")
    usable = len(raw) - len(raw) % (width * channels)
    raw = raw[:usable]
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        x = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8).astype(np.float32) / 8388608.0
    else:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    if len(x) / rate > max_seconds:
        raise _too_long(len(x) / rate, max_seconds)
    return Audio(x, rate)


def _decode_av(data: bytes, max_seconds: float) -> Audio:
    try:
        import av
    except ImportError as exc:  # the voice extra is missing
        from kefu.voice.base import VoiceUnavailableError

        raise VoiceUnavailableError("decoding compressed audio needs PyAV (pip install 'kefu[voice]')") from exc
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except av.error.FFmpegError as exc:
        raise AudioError(f"not a recognised audio file ({_ff(exc)})") from None
    with container:
        streams = container.streams.audio
        if not streams:
            raise AudioError("the file holds no audio stream")
        stream = streams[0]
        declared = _declared_seconds(container, stream)
        if declared is not None and declared > max_seconds:
            raise _too_long(declared, max_seconds)
        if stream.codec_context is None or not stream.codec_context.name:
            raise UnsupportedAudioError("the audio codec is not supported")
        rate = stream.codec_context.sample_rate or ASR_RATE
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts: list[np.ndarray] = []
        total = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1)
                    parts.append(arr)
                    total += arr.size
                if total / rate > max_seconds:
                    raise _too_long(total / rate, max_seconds)
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            if not parts:
                if isinstance(exc, av.error.PatchWelcomeError | av.error.DecoderNotFoundError):
                    raise UnsupportedAudioError(f"the audio codec is not supported ({_ff(exc)})") from None
                raise AudioError(f"the audio could not be decoded ({_ff(exc)})") from None
            # A truncated tail: keep what decoded (browsers cut recordings mid-frame).
    if not parts:
        raise AudioError("the audio holds no decodable frames")
    return Audio(np.concatenate(parts).astype(np.float32), rate)


def _ff(exc: Exception) -> str:
    return str(getattr(exc, "strerror", None) or exc)[:200]


def _declared_seconds(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def resample(x: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    """``x`` resampled from ``rate_from`` to ``rate_to`` Hz (polyphase filter)."""
    x = np.asarray(x, dtype=np.float32)
    if rate_from == rate_to or x.size == 0:
        return x.copy()
    from scipy.signal import resample_poly

    g = gcd(int(rate_from), int(rate_to))
    return resample_poly(x, rate_to // g, rate_from // g).astype(np.float32)


# -- G.711 μ-law (telephony, 8 kHz) ----------------------------------------------------------------
_BIAS, _CLIP = 0x84, 32635


def mulaw_encode(x: np.ndarray) -> bytes:
    """Float samples in [-1, 1] → G.711 μ-law bytes."""
    pcm = np.clip(np.asarray(x, np.float32) * 32768.0, -32768, 32767).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    mag = np.minimum(np.abs(pcm), _CLIP) + _BIAS
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


_MULAW_TABLE: np.ndarray | None = None


def mulaw_decode(data: bytes) -> np.ndarray:
    """G.711 μ-law bytes → float32 samples in [-1, 1]."""
    global _MULAW_TABLE
    if _MULAW_TABLE is None:
        u = ~np.arange(256, dtype=np.int32) & 0xFF
        sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
        mag = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
        _MULAW_TABLE = (np.where(sign, -mag, mag) / 32768.0).astype(np.float32)
    return _MULAW_TABLE[np.frombuffer(data, np.uint8)]


def pcm16_decode(data: bytes) -> np.ndarray:
    """Little-endian signed 16-bit PCM bytes → float32 samples (an odd trailing byte is dropped)."""
    return np.frombuffer(data[: len(data) - len(data) % 2], "<i2").astype(np.float32) / 32768.0


def pcm16_encode(x: np.ndarray) -> bytes:
    return (np.clip(np.asarray(x, np.float32), -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


# -- loudness and speech detection -----------------------------------------------------------------
def dbfs(x: np.ndarray) -> float:
    """RMS level in dB relative to full scale (-inf dB for digital silence)."""
    x = np.asarray(x, np.float32)
    if x.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def require_sound(audio: Audio, threshold_dbfs: float = SILENCE_DBFS) -> None:
    """Refuse audio that is silent everywhere (no 30 ms window above ``threshold_dbfs``)."""
    if audio.seconds < 0.1:
        raise NoSpeechError(f"the audio is too short ({audio.seconds * 1000:.0f} ms)")
    win = max(1, int(audio.sample_rate * 0.03))
    n = len(audio.samples) // win
    frames = audio.samples[: n * win].reshape(n, win) if n else audio.samples.reshape(1, -1)
    loudest = max(dbfs(f) for f in frames)
    if loudest < threshold_dbfs:
        raise NoSpeechError("the audio is silent" + (f" (loudest {loudest:.0f} dBFS)" if loudest > -math.inf else ""))


@dataclass
class VadEvent:
    kind: str  # "speech_start" | "speech_end"
    at: float  # seconds since the stream started


class EnergyVAD:
    """Streaming speech detector over 20 ms frames: an adaptive noise floor plus hysteresis.

    Speech starts after ``start_ms`` of frames louder than the floor by ``margin_db`` (and above
    ``min_dbfs``); it ends after ``silence_ms`` of quieter frames — the end of the caller's utterance.
    """

    def __init__(self, rate: int, *, silence_ms: int = 600, start_ms: int = 60, margin_db: float = 12.0,
                 min_dbfs: float = -45.0) -> None:
        self.rate = rate
        self.frame = int(rate * 0.02)
        self.silence_frames = max(1, silence_ms // 20)
        self.start_frames = max(1, start_ms // 20)
        self.margin_db = margin_db
        self.min_dbfs = min_dbfs
        self.floor = -60.0
        self.in_speech = False
        self.loud_run = 0
        self.quiet_run = 0
        self.frames_seen = 0
        self._pending = np.zeros(0, np.float32)

    @property
    def quiet_seconds(self) -> float:
        """How long the caller has been quiet since their last loud frame (while in speech)."""
        return self.quiet_run * 0.02

    def is_loud(self, level: float) -> bool:
        return level > max(self.min_dbfs, self.floor + self.margin_db)

    def feed(self, x: np.ndarray) -> list[VadEvent]:
        """Feed samples; returns the speech start/end events they complete."""
        buf = np.concatenate([self._pending, np.asarray(x, np.float32)])
        n = len(buf) // self.frame
        self._pending = buf[n * self.frame:]
        events = []
        for i in range(n):
            level = dbfs(buf[i * self.frame:(i + 1) * self.frame])
            self.frames_seen += 1
            loud = self.is_loud(level)
            if not loud and level > -math.inf:  # the floor follows quiet frames (slowly up, quickly down)
                self.floor = level if level < self.floor else 0.95 * self.floor + 0.05 * level
            if not self.in_speech:
                self.loud_run = self.loud_run + 1 if loud else 0
                if self.loud_run >= self.start_frames:
                    self.in_speech, self.quiet_run = True, 0
                    events.append(VadEvent("speech_start", (self.frames_seen - self.loud_run) * 0.02))
            else:
                self.quiet_run = 0 if loud else self.quiet_run + 1
                if self.quiet_run >= self.silence_frames:
                    self.in_speech, self.loud_run = False, 0
                    events.append(VadEvent("speech_end", (self.frames_seen - self.quiet_run) * 0.02))
        return events
