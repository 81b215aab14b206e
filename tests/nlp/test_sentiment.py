"""The shipped sentiment/emotion model, edge-case messages and the per-conversation trend."""

from __future__ import annotations

import json

import pytest

from kefu.nlp.sentiment import (
    DEFAULT_DIR,
    EMOTIONS,
    ConversationSentiment,
    Sentiment,
    SentimentModel,
    default_sentiment_model,
    sentiment_trend,
)


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return default_sentiment_model()


def test_model_card_records_provenance_and_licences():
    card = json.loads((DEFAULT_DIR / "card.json").read_text(encoding="utf-8"))
    assert card["format"] == "kefu-sentiment/1"
    assert {d["licence"] for d in card["training_data"]} >= {"research use", "Apache-2.0 (data CC BY 4.0)"}
    assert all("source" in d for d in card["training_data"])
    assert "sst2_dev_accuracy" in card["metrics"] and "online_shopping_heldout_accuracy" in card["metrics"]
    assert sum(p.stat().st_size for p in DEFAULT_DIR.iterdir()) < 3_000_000


@pytest.mark.parametrize(
    "text, sign",
    [
        ("太好用了，非常满意，物流也快", 1),
        ("质量太差了，再也不买了", -1),
        ("Thanks so much, it works great!", 1),
        ("This is terrible, nothing works and nobody helps.", -1),
        ("这个 headphone 音质 terrible，太失望了", -1),
    ],
)
def test_polarity_zh_en_mixed(model, text, sign):
    s = model.analyze_one(text)
    assert -1.0 <= s.score <= 1.0
    assert s.score * sign > 0.2, (text, s)
    assert s.label == ("positive" if sign > 0 else "negative")


def test_emotions(model):
    assert model.analyze_one("I am furious, this is unacceptable!").emotion == "anger"
    assert model.analyze_one("气死我了，我要投诉你们").emotion == "anger"
    assert model.analyze_one("I'm really worried my parcel is lost").emotion == "anxiety"
    assert model.analyze_one("Thank you, I'm very happy with it").emotion == "satisfaction/joy"
    assert model.analyze_one("What are your opening hours?").emotion == "neutral"
    for s in model.analyze(["我的订单什么时候发货", "ok"]):
        assert s.emotion in EMOTIONS


def test_edge_case_messages(model):
    texts = [
        "",
        "   ",
        "😡😡😡",
        "👍🎉",
        "🙂" * 1000,
        "好" * 1_000_000,
        "mixed 中英 text ﻿ with ＦＵＬＬ width",
    ]
    results = model.analyze(texts)
    assert len(results) == len(texts)
    assert results[0].label == "neutral" and results[0].score == 0.0
    assert results[2].emotion == "anger" and results[2].score < 0
    assert results[3].emotion == "satisfaction/joy" and results[3].score > 0
    for r in results:
        assert -1.0 <= r.score <= 1.0 and r.emotion in EMOTIONS


def test_save_load_roundtrip(model, tmp_path):
    model.save(tmp_path / "s")
    again = SentimentModel.load(tmp_path / "s")
    again._embedder = model._embedder_or_default()
    texts = ["很好", "bad service"]
    assert [r.to_dict() for r in again.analyze(texts)] == [r.to_dict() for r in model.analyze(texts)]


def _s(score: float, emotion: str = "neutral") -> Sentiment:
    label = "positive" if score > 0.2 else "negative" if score < -0.2 else "neutral"
    return Sentiment(label, score, emotion, 0.9)


def test_trend_detects_a_customer_getting_angrier():
    conv = ConversationSentiment()
    for s in (_s(0.1), _s(-0.3, "frustration/disappointment"), _s(-0.6, "anger"), _s(-0.9, "anger")):
        trend = conv.add(s)
    assert trend.direction == "worsening" and trend.escalate
    assert trend.angry_turns == 2 and trend.negative_streak == 3
    assert "angry" in trend.reason


def test_trend_calm_and_improving():
    calm = sentiment_trend([_s(0.0), _s(0.1), _s(0.0)])
    assert not calm.escalate and calm.direction == "stable"
    better = sentiment_trend([_s(-0.8, "frustration/disappointment"), _s(-0.2), _s(0.6, "satisfaction/joy")])
    assert better.direction == "improving" and not better.escalate
    assert sentiment_trend([]).turns == 0


def test_model_card_grouping_is_the_shared_constant():
    import json

    from kefu.nlp.sentiment import DEFAULT_DIR, EKMAN, service_grouping

    card = json.loads((DEFAULT_DIR / "card.json").read_text(encoding="utf-8"))
    assert {k: sorted(v) for k, v in card["emotion_grouping"].items()} == \
        {k: sorted(v) for k, v in service_grouping().items()}
    assert sum(len(v) for v in EKMAN.values()) == 28  # every GoEmotions label, once
