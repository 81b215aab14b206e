"""Decoding any common audio, limits, G.711 μ-law, silence and the streaming speech detector."""
from __future__ import annotations

import io
import struct
import time
import wave

import numpy as np
import pytest

from kefu.voice.audio import (
    EnergyVAD,
    decode,
    mulaw_decode,
    mulaw_encode,
    pcm16_decode,
    pcm16_encode,
    require_sound,
    resample,
)
from kefu.voice.base import Audio, AudioError, AudioTooLongError, NoSpeechError, UnsupportedAudioError
from tests.voice.conftest import HAVE_EXTRA, encode_av, wav_bytes

needs_av = pytest.mark.skipif(not HAVE_EXTRA, reason="needs the voice extra (PyAV)")


def tone(seconds: float, rate: int, freq: float = 440.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("rate, width, channels", [(8000, 2, 1), (16000, 2, 1), (22050, 1, 1), (44100, 2, 2),
                                                   (48000, 2, 1)])
def test_wav_any_rate_is_resampled_to_16k(rate, width, channels):
    audio = decode(wav_bytes(tone(1.0, rate), rate, width, channels))
    assert audio.sample_rate == 16000
    assert abs(audio.seconds - 1.0) < 0.01
    assert 0.15 < float(np.abs(audio.samples).max()) < 0.35


@needs_av
@pytest.mark.voice
@pytest.mark.parametrize("fmt, codec, rate", [("mp3", "libmp3lame", 22050), ("ogg", "libopus", 48000),
                                              ("webm", "libopus", 48000), ("flac", "flac", 44100)])
def test_compressed_formats_decode(fmt, codec, rate):
    audio = decode(encode_av(tone(1.5, rate), rate, fmt, codec))
    assert audio.sample_rate == 16000
    assert abs(audio.seconds - 1.5) < 0.1


@needs_av
@pytest.mark.voice
def test_mulaw_wav_decodes():
    x = tone(0.5, 8000)
    buf = io.BytesIO()
    data = mulaw_encode(x)
    fmt = struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8)
    buf.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE")
    buf.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)
    audio = decode(buf.getvalue())
    assert abs(audio.seconds - 0.5) < 0.02


def test_empty_and_non_audio_are_refused():
    with pytest.raises(AudioError, match="empty"):
        decode(b"")
    with pytest.raises(AudioError):
        decode(b"%PDF-1.7 this is a document, not audio" * 20)
    with pytest.raises(AudioError):
        decode("我们的退货政策是七天无理由".encode() * 50)


def test_corrupt_wav_header():
    good = wav_bytes(tone(0.5, 16000), 16000)
    with pytest.raises(AudioError, match="corrupt"):
        decode(good[:12] + b"junkjunkjunk" * 3)
    broken = bytearray(good)
    broken[22:24] = struct.pack("<H", 0)  # zero channels
    with pytest.raises(AudioError, match="corrupt"):
        decode(bytes(broken))


def test_unsupported_wav_codec():
    good = bytearray(wav_bytes(tone(0.5, 16000), 16000))
    good[20:22] = struct.pack("<H", 0x1234)
    with pytest.raises(UnsupportedAudioError, match="0x1234"):
        decode(bytes(good))


def test_one_hour_wav_is_refused_from_its_header():
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 8000)
    data = bytearray(buf.getvalue())
    data[40:44] = struct.pack("<I", 3600 * 8000 * 2)  # the data chunk claims one hour
    started = time.perf_counter()
    with pytest.raises(AudioTooLongError, match="1:00:00"):
        decode(bytes(data), max_seconds=600)
    assert time.perf_counter() - started < 0.5


@needs_av
@pytest.mark.voice
def test_one_hour_mp3_is_refused_without_decoding_it(one_hour_mp3):
    started = time.perf_counter()
    with pytest.raises(AudioTooLongError, match="limit is 10:00"):
        decode(one_hour_mp3, max_seconds=600)
    assert time.perf_counter() - started < 1.0


@needs_av
@pytest.mark.voice
def test_stream_without_duration_stops_at_the_limit():
    # A raw ADTS/MP3 stream has no reliable duration header: decoding stops once past the limit.
    data = encode_av(tone(5.0, 16000), 16000, "mp3", "libmp3lame")
    with pytest.raises(AudioTooLongError):
        decode(data, max_seconds=2)


def test_mulaw_round_trip_and_known_codes():
    x = np.linspace(-0.9, 0.9, 2001).astype(np.float32)
    y = mulaw_decode(mulaw_encode(x))
    assert np.abs(y - x).max() < 0.03  # G.711 is 8-bit log: ~2 % at full scale
    assert mulaw_encode(np.zeros(1)) == b"\xff"  # digital silence is 0xFF in G.711
    assert mulaw_decode(b"\x00")[0] == pytest.approx(-32124 / 32768)
    assert np.allclose(pcm16_decode(pcm16_encode(x)), x, atol=1e-4)
    assert pcm16_decode(b"\x01") .size == 0


def test_resample_keeps_duration():
    x = tone(1.0, 44100)
    assert resample(x, 44100, 16000).size == 16000
    assert resample(x, 8000, 8000) is not x


def test_silence_is_no_speech():
    with pytest.raises(NoSpeechError, match="silent"):
        require_sound(Audio(np.zeros(16000), 16000))
    with pytest.raises(NoSpeechError, match="silent"):
        require_sound(Audio(np.random.default_rng(0).normal(0, 1e-4, 16000), 16000))
    with pytest.raises(NoSpeechError, match="too short"):
        require_sound(Audio(np.zeros(100), 16000))
    require_sound(Audio(tone(0.5, 16000), 16000))


def test_energy_vad_finds_utterance_and_its_end():
    rate = 8000
    noise = np.random.default_rng(1).normal(0, 0.002, rate).astype(np.float32)
    x = np.concatenate([noise, tone(1.0, rate, 220, 0.2), noise])
    vad = EnergyVAD(rate, silence_ms=500)
    events = []
    for i in range(0, len(x), 160):
        events += vad.feed(x[i:i + 160])
    assert [e.kind for e in events] == ["speech_start", "speech_end"]
    assert events[0].at == pytest.approx(1.0, abs=0.1)
    assert events[1].at == pytest.approx(2.0, abs=0.1)
