"""``GET /v1/voice`` and ``POST /v1/voice/turn``: auth, tenants, the full turn, and every kind of bad audio."""
from __future__ import annotations

import base64
import io
import threading
import time
import wave

import numpy as np
import pytest
from fastapi.testclient import TestClient

from kefu.config import Config
from tests import helpers
from tests.server.conftest import make_tenant
from tests.voice.conftest import encode_av, needs_voice, wav_bytes

pytestmark = [pytest.mark.voice, pytest.mark.slow, needs_voice]


@pytest.fixture(scope="module")
def client(voice_app):
    with TestClient(voice_app) as c:
        yield c


@pytest.fixture(scope="module")
def acme(kb_engine):
    return make_tenant(kb_engine, "acme")


@pytest.fixture(scope="module")
def globex(kb_engine):
    return make_tenant(kb_engine, "globex")


def post(client, headers, data: bytes, **params):
    return client.post("/v1/voice/turn", content=data, params=params,
                       headers={**headers, "Content-Type": "application/octet-stream"})


def test_status(client, acme):
    r = client.get("/v1/voice", headers=acme.w)
    assert r.status_code == 200
    body = r.json()
    assert body["available"] is True and body["languages"] == ["zh", "en"]
    assert body["formats"]["call"] == ["mulaw8k", "pcm16k"]
    assert client.get("/v1/voice").status_code == 401


def test_english_turn(client, acme, say, kb_engine):
    audio = say("How do I return an item?")
    r = post(client, acme.w, encode_av(audio.resampled(48000).samples, 48000, "webm", "libopus"), lang="en")
    assert r.status_code == 200, r.text
    body = r.json()
    assert "return" in body["transcript"]["text"].lower()
    assert "30 days" in body["answer"]["text"]
    assert body["answer"]["citations"] and body["answer"]["citations"][0]["uri"].endswith("faq.csv")
    assert body["conversation"]["channel"] == "voice"
    wav = base64.b64decode(body["audio"]["base64"])
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getframerate() == body["audio"]["sample_rate"] and w.getnframes() / w.getframerate() > 2
    # The turn is stored like a typed one.
    msgs = kb_engine.chats.list_messages("acme", body["conversation"]["id"])
    assert [m.role for m in msgs] == ["customer", "bot"]
    assert msgs[0].text == body["transcript"]["text"]

    # The same conversation continues by id; another tenant cannot see it.
    cid = body["conversation"]["id"]
    r = post(client, acme.w, wav_bytes(say("I would like to talk to a person, please.").samples, 24000),
             conversation_id=cid, speak="false")
    assert r.status_code == 200, r.text
    assert r.json()["handoff"]["reason"] == "explicit"
    assert "audio" not in r.json()
    assert kb_engine.chats.get_conversation("acme", cid).status == "queued"


def test_chinese_turn(client, acme, say):
    r = post(client, acme.w, wav_bytes(say("配送需要几天？").resampled(16000).samples, 16000), lang="zh")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["transcript"]["language"] == "zh"
    assert body["answer"]["language"] in ("zh", "en") and body["answer"]["text"]
    assert body["audio"]["seconds"] > 1


def test_tenants_and_auth(client, acme, globex, say):
    r = client.post("/v1/conversations", json={}, headers=acme.w)
    cid = r.json()["conversation"]["id"]
    data = wav_bytes(say("How do I return an item?").samples, 24000)
    assert post(client, globex.w, data, conversation_id=cid).status_code == 404
    assert post(client, {}, data).status_code == 401
    assert post(client, {"X-Kefu-Key": "kw_nope"}, data).status_code == 401
    assert post(client, acme.w, data, lang="fr").status_code == 422


@pytest.mark.parametrize("name, data, status, code", [
    ("empty", b"", 422, "invalid_audio"),
    ("text", "这不是音频文件，而是一段文字。".encode() * 40, 422, "invalid_audio"),
    ("pdf", b"%PDF-1.4\n" + b"0" * 3000, 422, "invalid_audio"),
    ("corrupt-wav", b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\x00" * 8, 422, "invalid_audio"),
    ("silence", wav_bytes(np.zeros(32000, np.float32), 16000), 422, "no_speech"),
    ("noise-floor", wav_bytes(np.random.default_rng(0).normal(0, 2e-4, 32000).astype(np.float32), 16000), 422,
     "no_speech"),
])
def test_bad_audio(client, acme, name, data, status, code):
    r = post(client, acme.w, data)
    assert r.status_code == status, (name, r.text)
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]


def test_unsupported_codec(client, acme):
    data = bytearray(wav_bytes(np.zeros(1600, np.float32), 16000))
    data[20:22] = (0x1234).to_bytes(2, "little")
    r = post(client, acme.w, bytes(data))
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_audio"


def test_one_hour_upload_refused_fast(client, acme, one_hour_mp3):
    started = time.perf_counter()
    r = post(client, acme.w, one_hour_mp3)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "audio_too_long"
    assert "1:00:00" in r.json()["error"]["message"]
    assert time.perf_counter() - started < 3


def test_upload_over_the_size_limit(kb_engine, acme, asr, speaker):
    from kefu.server.app import create_app
    from kefu.voice.turn import VoiceRuntime

    config = Config.load(home=kb_engine.config.home, env={}, overrides={"voice_max_upload_mb": 0.05,
                                                                        "rate_limit_ip_per_min": 0})
    app = create_app(config, kb_engine)
    app.state.voice = VoiceRuntime(config, asr=asr, speaker=speaker)
    with TestClient(app) as c:
        r = post(c, acme.w, b"\x00" * 60_000)
        assert r.status_code == 413 and "voice_max_upload_mb" in r.json()["error"]["message"]
        # Chat messages keep their own (small) limit.
        json_headers = {**acme.w, "Content-Type": "application/json"}
        r = c.post("/v1/conversations", content=b"{" + b" " * 70_000 + b"}", headers=json_headers)
        assert r.status_code == 413


def test_voice_switched_off(kb_engine, acme):
    from kefu.server.app import create_app

    config = Config.load(home=kb_engine.config.home, env={}, overrides={"voice_enabled": False})
    with TestClient(create_app(config, kb_engine)) as c:
        assert c.get("/v1/voice", headers=acme.w).json()["available"] is False
        r = post(c, acme.w, wav_bytes(np.zeros(1600, np.float32), 16000))
        assert r.status_code == 503 and r.json()["error"]["code"] == "voice_unavailable"


def test_warm_up_loads_the_models(voice_app, caplog):
    from kefu.server.routes_voice import warm_up_in_background

    rt = voice_app.state.voice
    with caplog.at_level("INFO", logger="kefu.server.voice"):
        thread = warm_up_in_background(voice_app)
        assert thread is not None
        thread.join(120)
    assert not thread.is_alive()
    assert rt.asr._model is not None  # whisper loaded
    assert "voice models ready: asr_s" in caplog.text
    took = rt.warm_up()
    assert set(took) == {"asr_s", "tts_zh_s", "tts_en_s"} and all(v >= 0 for v in took.values())


def test_no_warm_up_when_switched_off_or_unavailable(kb_engine, asr, speaker):
    from kefu.server.app import create_app
    from kefu.server.routes_voice import warm_up_in_background
    from kefu.voice.turn import VoiceRuntime

    for overrides in ({"voice_warm_up": False}, {"voice_enabled": False}):
        config = Config.load(home=kb_engine.config.home, env={}, overrides=overrides)
        app = create_app(config, kb_engine)
        app.state.voice = VoiceRuntime(config, asr=asr, speaker=speaker)
        assert warm_up_in_background(app) is None


def test_a_failed_warm_up_is_logged_and_the_server_goes_on(kb_engine, asr, caplog):
    from kefu.server.app import create_app
    from kefu.server.routes_voice import warm_up_in_background
    from kefu.voice.base import VoiceUnavailableError
    from kefu.voice.turn import VoiceRuntime

    class BrokenSpeaker:
        def speak(self, text, lang=None, rate=1.0):
            raise VoiceUnavailableError("the Kokoro model file is unreadable")

    config = Config.load(home=kb_engine.config.home, env={}, overrides={})
    app = create_app(config, kb_engine)
    app.state.voice = VoiceRuntime(config, asr=asr, speaker=BrokenSpeaker())
    with caplog.at_level("WARNING", logger="kefu.server.voice"):
        thread = warm_up_in_background(app)
        thread.join(60)
    assert "voice warm-up failed: the Kokoro model file is unreadable" in caplog.text


class SlowMandarin:
    """espeak's Mandarin asking for short first pieces, as Kokoro does; ``said`` records each synthesis."""

    languages = ("zh",)

    def __init__(self, voice, first_piece_chars: int) -> None:
        self.voice, self.first_piece_chars, self.said = voice, first_piece_chars, []

    def synthesize(self, text, *, lang="zh", rate=1.0):
        self.said.append(text)
        return self.voice.synthesize(text, lang=lang, rate=rate)


def test_warm_up_says_the_fixed_messages_first_pieces_into_the_cache(kb_engine, asr, hibari_tts, espeak_tts):
    """With the speech cache on, a caller who is queued or not answered hears the first words at once."""
    from kefu.voice.tts import Speaker, SpeechCache
    from kefu.voice.turn import CANNED_READY_S, CLAUSE_PAUSE_S, VoiceRuntime, answer_pieces, canned_replies

    mandarin = SlowMandarin(espeak_tts, first_piece_chars=4)
    said = mandarin.said
    config = Config.load(home=kb_engine.config.home, env={}, overrides={})
    speaker = Speaker({"en": hibari_tts, "zh": mandarin}, cache_seconds=60)
    took = VoiceRuntime(config, asr=asr, speaker=speaker).warm_up()
    assert took["canned_s"] >= 0
    waiting = canned_replies("zh")[-1]
    assert waiting.startswith("您当前排在第 1 位")
    for lang in ("zh", "en"):
        for text in canned_replies(lang):
            first = answer_pieces(speaker, text, lang, config.tts_rate)[0][0]
            assert speaker.is_cached(first, lang, config.tts_rate) or len(first) > SpeechCache.MAX_CHARS, first
    import numpy as np

    from kefu.voice.base import Audio

    for i in range(40):  # a busy server's answers fill the cache: the fixed messages' first pieces are kept
        speaker.cache.put((f"answer {i}", "zh", 1.0), Audio(np.zeros(3 * 24000, np.float32), 24000))
    assert speaker.cache.seconds <= 60
    for lang in ("zh", "en"):
        for text in canned_replies(lang):
            first = answer_pieces(speaker, text, lang, config.tts_rate)[0][0]
            assert speaker.is_cached(first, lang, config.tts_rate) or len(first) > SpeechCache.MAX_CHARS, first
    # The queue position changes; the first piece does not.
    assert answer_pieces(speaker, waiting.replace("1", "7"), "zh", config.tts_rate)[0] == ("您当前排在", False)
    assert len(said) == len(set(said))  # each piece once
    for text in canned_replies("zh"):  # ~2 s of each is ready: the next piece is synthesised while it plays
        ready = 0.0
        for piece, pause in answer_pieces(speaker, text, "zh", config.tts_rate):
            if not speaker.is_cached(piece, "zh", config.tts_rate):
                break
            ready += speaker.speak(piece, "zh", config.tts_rate).seconds + (CLAUSE_PAUSE_S if pause else 0)
        assert ready >= CANNED_READY_S or ready >= speaker.speak(text, "zh", config.tts_rate).seconds, text


def test_stored_answers_are_the_faq_then_passages_then_the_most_given_chat_log_answers(store):
    from kefu.store.base import Chunk, Document
    from kefu.voice.prepare import answers_to_prepare, stored_answers

    def qa(answer, lang="zh", question="问"):
        return Chunk(answer, kind="qa", question=question, answer=answer, lang=lang, content_hash=answer + question)

    store.replace_document(Document("acme", "faq", "faq.csv", "FAQ", "faq", "h1"), [
        Chunk("七天无理由退货。", kind="faq", question="能退货吗", answer="七天无理由退货。", lang="zh"),
        Chunk("Ships in 2 days.", kind="faq", question="Shipping?", answer="Ships in 2 days.", lang="en")])
    store.replace_document(Document("acme", "logs", "chats.jsonl", "chats", "qa", "h2"), [
        qa("请稍等。", question="a"), qa("顺丰包邮。", question="b"), qa("顺丰包邮。", question="c"),
        qa("七天无理由退货。", question="d"), qa("  ", question="e"), qa("Bonjour.", lang="fr")])
    store.replace_document(Document("other", "faq", "faq.csv", "FAQ", "faq", "h3"), [
        Chunk("别的租户。", kind="faq", question="别的", answer="别的租户。", lang="zh")])
    store.replace_document(Document("acme", "docs", "returns.md", "退货政策", "passage", "h4"), [
        Chunk("退货政策\n\n签收后七天内可以退货。", lang="zh"), Chunk("Returns\n\nWithin 30 days.", position=1)])
    store.replace_document(Document("acme", "catalogue", "products.csv", "products", "table", "h5"), [
        Chunk("sku: X1; name: Nova X1", kind="row")])
    assert stored_answers(store, "acme", 10) == [
        ("七天无理由退货。", "zh"), ("Ships in 2 days.", "en"),
        ("退货政策\n\n签收后七天内可以退货。", "zh"), ("Returns\n\nWithin 30 days.", "en"),
        ("sku: X1; name: Nova X1", "en"),
        ("顺丰包邮。", "zh"), ("请稍等。", "zh")]
    assert stored_answers(store, "acme", 6)[-1] == ("顺丰包邮。", "zh")
    assert stored_answers(store, "acme", 0) == [] and stored_answers(store, "nobody", 10) == []
    # Every tenant's, in turn, the named tenant first: a cache too small for all is shared fairly.
    store.replace_document(Document("other", "faq", "faq.csv", "FAQ", "faq", "h3"), [
        Chunk("别的租户。", kind="faq", question="别的", answer="别的租户。", lang="zh"),
        Chunk("七天无理由退货。", kind="faq", question="退货", answer="七天无理由退货。", lang="zh"),
        Chunk("Other tenant.", kind="faq", question="Other?", answer="Other tenant.", lang="en")])
    assert answers_to_prepare(store, "other", 2) == [
        ("别的租户。", "zh"), ("七天无理由退货。", "zh"), ("Ships in 2 days.", "en")]
    assert answers_to_prepare(store, "acme", 3)[:4] == [
        ("七天无理由退货。", "zh"), ("别的租户。", "zh"), ("Ships in 2 days.", "en"),
        ("退货政策\n\n签收后七天内可以退货。", "zh")]
    assert len(answers_to_prepare(store, "acme", 3)) == 5  # a text both tenants store is said once
    assert answers_to_prepare(store, "nobody", 1) == [("七天无理由退货。", "zh"), ("别的租户。", "zh")]
    assert answers_to_prepare(store, "acme", 0) == []


def test_knowledge_version_changes_with_any_tenants_knowledge(store):
    from kefu.store.base import Chunk, Document
    from kefu.voice.prepare import knowledge_version

    def faq(tenant, answer, source="faq"):
        store.replace_document(Document(tenant, source, f"{source}.csv", "FAQ", "faq", answer), [
            Chunk(answer, kind="faq", question="q", answer=answer, lang="zh")])

    versions = [knowledge_version(store, "acme")]
    for change in (lambda: faq("acme", "一"), lambda: faq("other", "二"), lambda: faq("other", "三", "more"),
                   lambda: store.delete_source("other", "more")):
        change()
        versions.append(knowledge_version(store, "acme"))
    assert len(set(versions)) == len(versions) - 1 and versions[4] == versions[2]  # deleting undoes adding
    assert knowledge_version(store, "acme") == versions[-1]  # reading changes nothing


def test_warm_up_says_the_first_piece_of_each_stored_answer(kb_engine, asr, hibari_tts, espeak_tts, caplog):
    """A caller answered with a stored FAQ answer or from a passage's opening hears its first piece from the
    cache, not after a synthesis of ~1 s; only a slow voice's answers are said (hibari needs no help); they
    fill at most half of the cache; at startup the default tenant's are taken."""
    from kefu.server.app import create_app
    from kefu.server.routes_voice import warm_up_in_background
    from kefu.voice.prepare import stored_answers
    from kefu.voice.tts import Speaker, SpeechCache, speech_units
    from kefu.voice.turn import VoiceRuntime, answer_pieces, speech_text

    def speaker(seconds):
        return Speaker({"en": hibari_tts, "zh": SlowMandarin(espeak_tts, first_piece_chars=3)}, cache_seconds=seconds)

    answers = stored_answers(kb_engine.store, "acme", 100)
    assert {lang for _, lang in answers} == {"zh", "en"} and answers[:len(helpers.FAQ_ROWS)] == [
        (a, "en" if q.isascii() else "zh") for q, a, _ in helpers.FAQ_ROWS]
    assert len(answers) > len(helpers.FAQ_ROWS)  # the shipping and warranty pages' openings
    config = Config.load(home=kb_engine.config.home, env={}, overrides={})
    rate = config.tts_rate

    def first_said(text):  # the piece a call starts the answer with: a few characters of a long clause
        return answer_pieces(speaker(0), speech_text(text), "zh", rate)[0][0]

    big = speaker(600)
    took = VoiceRuntime(config, asr=asr, speaker=big).warm_up(answers)
    zh = [(speech_text(t), first_said(t)) for t, lang in answers if lang == "zh"]
    assert took["answers"] == len({first for _, first in zh}) >= 4
    assert any(len(first) < len(speech_units(spoken)[0]) for spoken, first in zh)
    for spoken, first in zh:
        assert big.is_cached(first, "zh", rate) and len(first) <= SpeechCache.MAX_CHARS
        assert answer_pieces(big, spoken, "zh", rate)[0][0] == first  # played at once
    assert not any(big.is_cached(speech_units(speech_text(t))[0], "en", rate) for t, lang in answers if lang == "en")
    mixed = "增值税专用发票 (VAT special invoice) for companies: it is issued within 3 business days."
    assert VoiceRuntime(config, asr=asr, speaker=big).warm_up([(mixed, "en")])["answers"] == 1  # starts slow
    first = answer_pieces(big, mixed, "en", rate)[0][0]
    assert big.is_cached(first, "en", rate) and first.startswith("增值")

    small = speaker(6.0)  # 3 s for the stored answers: a few pieces, kept however full the cache is
    rt = VoiceRuntime(config, asr=asr, speaker=small)
    took = rt.warm_up(answers)
    assert 0 < took["answers"] == len(rt.prepared) < len(zh)
    assert all(small.is_cached(piece, lang, rate) for piece, lang in rt.prepared)
    assert rt.prepare_answers(answers) == 0  # all there already
    kept = rt.prepared
    assert rt.prepare_answers([]) == 0 and rt.prepared == []  # the answers went: their pieces may go
    assert not any(small.is_cached(piece, lang, rate) for piece, lang in kept)  # and did, the cache being full
    assert all(small.is_cached(first_said(t), lang, rate) for t, lang in canned_replies_of("zh"))  # kept for good

    config = Config.load(home=kb_engine.config.home, env={},
                         overrides={"tenant": "acme", "voice_answers_check_s": 0})
    app = create_app(config, kb_engine)
    app.state.voice = rt = VoiceRuntime(config, asr=asr, speaker=speaker(600))

    def checkers():
        return sum(t.name == "kefu-voice-answers" for t in threading.enumerate())

    before = checkers()
    with caplog.at_level("INFO", logger="kefu.server.voice"):
        warm_up_in_background(app).join(120)
    assert f"answers {len({first for _, first in zh}):.1f}" in caplog.text
    assert all(rt.speaker.is_cached(first, "zh", rate) for _, first in zh)
    assert checkers() == before  # voice_answers_check_s = 0: no checks


def canned_replies_of(lang):
    from kefu.voice.turn import canned_replies

    return [(text, lang) for text in canned_replies(lang)]


def test_the_server_prepares_answers_again_when_any_tenants_knowledge_changes(kb_engine, asr, hibari_tts,
                                                                             espeak_tts, caplog):
    """An FAQ saved for another tenant (here through the ingestor, as the console or `kefu ingest` would) is
    said into the cache at the next check; when it is removed its piece is let go; shutdown stops the checks."""
    from kefu.server.app import create_app
    from kefu.server.routes_voice import warm_up_in_background
    from kefu.voice.tts import Speaker
    from kefu.voice.turn import VoiceRuntime, answer_pieces

    config = Config.load(home=kb_engine.config.home, env={}, overrides={"voice_answers_check_s": 0.2})
    speaker = Speaker({"en": hibari_tts, "zh": SlowMandarin(espeak_tts, first_piece_chars=3)}, cache_seconds=600)
    app = create_app(config, kb_engine)
    app.state.voice = rt = VoiceRuntime(config, asr=asr, speaker=speaker)
    answer = "手表的表带可以免费更换一次，请带上购买凭证到门店办理。"
    first = (answer_pieces(speaker, answer, "zh", config.tts_rate)[0][0], "zh")

    try:
        with TestClient(app), caplog.at_level("INFO", logger="kefu.server.voice"):
            before = set(threading.enumerate())
            warm_up_in_background(app).join(120)
            assert rt.prepared and first not in rt.prepared
            kb_engine.ingestor.add_faq("initech", "console", "console/strap", "表带能换吗", answer)
            assert helpers.wait_for(lambda: first in rt.prepared), caplog.text
            assert speaker.is_cached(*first, config.tts_rate)
            assert "knowledge changed: 1 answer pieces said" in caplog.text
            kb_engine.store.delete_source("initech", "console")
            assert helpers.wait_for(lambda: first not in rt.prepared)
            [checker] = [t for t in set(threading.enumerate()) - before if t.name == "kefu-voice-answers"]
        checker.join(5)  # the app shut down
        assert not checker.is_alive()
    finally:
        kb_engine.store.delete_source("initech", "console")
