"""faster-whisper with the packaged whisper-base weights: joined once, offline, zh/en only."""
from __future__ import annotations

import numpy as np
import pytest

from kefu.voice.base import ASR, Audio, NoSpeechError
from kefu.voice.metrics import wer
from tests.voice.conftest import needs_voice

pytestmark = [pytest.mark.voice, pytest.mark.slow, needs_voice]


def test_model_folder_is_joined_once(asr, tmp_path):
    from kefu.voice.asr import model_dir

    path = model_dir(asr.cache_dir)
    assert {"model.bin", "config.json", "tokenizer.json", "vocabulary.json"} <= {p.name for p in path.iterdir()}
    stamp = (path / "model.bin").stat().st_mtime_ns
    assert model_dir(asr.cache_dir) == path and (path / "model.bin").stat().st_mtime_ns == stamp
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".whisper-base-")]  # no leftovers


def test_english_round_trip(asr, say):
    assert isinstance(asr, ASR)
    text = "How do I return an item?"
    t = asr.transcribe(say(text), lang="en")
    errors, n = wer(text, t.text)
    assert errors <= 1, t.text
    assert t.language == "en" and t.segments


def test_detection_is_clamped_to_zh_or_en(asr, say):
    t = asr.transcribe(say("我想转人工客服。"))
    assert t.language == "zh"
    t = asr.transcribe(say("I would like to talk to a person, please."))
    assert t.language == "en"
    assert "person" in t.text.lower()


def test_forced_chinese_and_other_rates(asr, say):
    audio = say("我的订单还没有发货，请帮我查一下。")
    for rate in (8000, 44100):
        t = asr.transcribe(audio.resampled(rate), lang="zh")
        assert t.language == "zh"
        assert sum("\u4e00" <= c <= "\u9fff" for c in t.text) >= 5, t.text
        assert "订单" in t.text


def test_too_short(asr):
    with pytest.raises(NoSpeechError):
        asr.transcribe(Audio(np.zeros(100, np.float32), 16000), lang="en")


def test_no_hub_access(asr, monkeypatch):
    import os

    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def spy_on_decoding(asr, monkeypatch) -> list[dict]:
    """The decoding options of each of ``asr``'s calls to faster-whisper, in order."""
    real, seen = asr.load(), []

    class Spy:
        def __getattr__(self, name):
            return getattr(real, name)

        def transcribe(self, *args, **kwargs):
            seen.append(kwargs)
            return real.transcribe(*args, **kwargs)

    monkeypatch.setattr(asr, "_model", Spy())
    return seen


def test_mandarin_decoding_options(asr, say, monkeypatch):
    """Mandarin: the service hotwords and no temperature fallback (bounded time); English untouched."""
    from kefu.voice.asr import ZH_HOTWORDS

    seen = spy_on_decoding(asr, monkeypatch)
    t = asr.transcribe(say("请问运费是多少？"), lang="zh")
    assert "运费" in t.text
    assert seen[-1]["temperature"] == 0.0 and seen[-1]["hotwords"] == ZH_HOTWORDS
    asr.transcribe(say("Where is my order?"), lang="en")
    assert "temperature" not in seen[-1] and "hotwords" not in seen[-1]
    t = asr.transcribe(say("请问运费是多少？"), lang="zh", hotwords="运费 质检 包邮")  # a tenant's own words
    assert seen[-1]["hotwords"] == "运费 质检 包邮" and "运费" in t.text
    asr.transcribe(say("Where is my order?"), lang="en", hotwords="订单 质检")
    assert "hotwords" not in seen[-1]  # Mandarin only


def test_partials_decode_once_without_temperature_fallback(asr, say, monkeypatch, tmp_path):
    """A call's partial transcript is a clip cut mid-word: whisper's fallback re-decoded one up to six times
    (2.6 s instead of 0.3 s, traced on "Will your support staff ever…"). Partials decode once, with no
    repeated 3-grams; final recognitions keep the fallback."""
    from types import SimpleNamespace

    from kefu.config import Config
    from kefu.voice.turn import CallSession, VoiceRuntime

    seen = spy_on_decoding(asr, monkeypatch)
    runtime = VoiceRuntime(Config.load(tmp_path, env={}, overrides={}), asr=asr)
    audio = say("Where is my order?")
    partial = CallSession._partial_asr(SimpleNamespace(runtime=runtime, lang="en", chat=None, tenant="acme"), audio)
    assert "order" in partial.text.lower()
    assert seen[-1]["temperature"] == 0.0 and seen[-1]["no_repeat_ngram_size"] == 3 and seen[-1]["beam_size"] == 1
    final = CallSession._final(SimpleNamespace(runtime=runtime, lang="en", chat=None, tenant="acme"), audio)
    assert "order" in final.text.lower()
    assert "temperature" not in seen[-1] and "no_repeat_ngram_size" not in seen[-1]


class CountingEncoder:
    """CTranslate2's whisper with its ``encode`` calls counted (input frames of each)."""

    def __init__(self, real):
        self.real, self.frames = real, []

    def __getattr__(self, name):
        return getattr(self.real, name)

    def encode(self, features, **kwargs):
        self.frames.append(features.shape[-1])
        return self.real.encode(features, **kwargs)


def test_short_window_encodes_once_and_only_what_it_needs(asr, say, monkeypatch):
    """A 2-s question: the encoder sees the sound plus ``window_s`` (not whisper's whole 30 s), and
    detecting the language then transcribing encodes it once."""
    from kefu.voice.asr import FRAMES_PER_S, PAD_S, WINDOW_FRAMES

    real = asr.load()
    counter = CountingEncoder(real.model)
    monkeypatch.setattr(real, "model", counter)
    monkeypatch.setattr(real, "_last", None)
    audio = say("Where is my order?")
    t = asr.transcribe(audio)
    assert t.language == "en" and "order" in t.text.lower()
    assert len(counter.frames) == 1, counter.frames
    sound = (audio.seconds + 2 * PAD_S) * FRAMES_PER_S
    assert sound + asr.window_s * FRAMES_PER_S - 4 <= counter.frames[0] <= sound + asr.window_s * FRAMES_PER_S + 4
    assert counter.frames[0] < WINDOW_FRAMES

    asr.transcribe(audio, lang="en", window_s=30.0)  # whisper's own padding
    assert counter.frames[-1] == WINDOW_FRAMES
    t = asr.transcribe(audio, lang="en", window_s=4.0)  # a partial transcript's window
    assert abs(counter.frames[-1] - (sound + 4 * FRAMES_PER_S)) <= 4 and "order" in t.text.lower()
    asr.transcribe(audio, lang="en")
    assert counter.frames[-1] == counter.frames[0]  # the instance's window again


def test_window_setting_is_checked(tmp_path):
    from kefu.errors import ConfigError
    from kefu.voice.asr import WhisperASR

    for bad in (0.5, 31.0):
        with pytest.raises(ConfigError, match="window_s"):
            WhisperASR(cache_dir=tmp_path, window_s=bad)


def test_window_argument_is_checked(asr, say):
    from kefu.errors import ConfigError

    with pytest.raises(ConfigError, match="window_s"):
        asr.transcribe(say("Where is my order?"), lang="en", window_s=0.2)
