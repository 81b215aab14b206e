"""The learned out-of-scope score: its geometry, its fit, its storage, and an intent model that uses it."""

from __future__ import annotations

import numpy as np
import pytest

from kefu.errors import InputError
from kefu.nlp.intent import OOS, EnsembleIntentModel, TrainingData, load_intent_model, save_versioned
from kefu.nlp.oos_score import MIN_OOS_ROWS, Geometry, OOSScorer, check_rows, probability_signals

from .test_intent import EXAMPLES, OOS_EXAMPLES, data, embedder

VAL_IN = {
    "refund": ["I'd like my money returned", "cancel and refund please", "退钱给我", "申请退货退款"],
    "shipping": ["where's my parcel now", "delivery status please", "物流信息查询", "快递怎么还没到"],
    "password": ["locked out of my account", "forgot my login", "密码忘了怎么办", "账号登不上去"],
    "invoice": ["need a receipt for my order", "email me the invoice", "开一张发票", "发票抬头怎么改"],
    "warranty": ["is the repair free under warranty", "warranty claim", "还在保修期内吗", "保修怎么申请"],
}
VAL_OOS = [
    "what's the capital of France", "play some music", "how tall is mount everest", "book me a flight to paris",
    "what time is it in tokyo", "recommend a good novel", "how do I bake bread", "who is the president",
    "translate hello into german", "set an alarm for 7", "is it going to rain tomorrow", "tell me a fun fact",
    "北京有什么好玩的", "帮我订一张机票", "现在几点了", "给我讲个故事", "怎么做红烧肉", "明天会下雨吗",
    "推荐一部电视剧", "珠穆朗玛峰有多高", "帮我定个闹钟", "今天星期几",
]


def val_data() -> TrainingData:
    rows = [(t, lab) for lab, texts in VAL_IN.items() for t in texts] + [(t, OOS) for t in VAL_OOS]
    return TrainingData([t for t, _ in rows], [lab for _, lab in rows], "val")


def test_geometry_matches_direct_cosine_and_mahalanobis():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 6)) * 3
    yi = np.repeat([0, 1, 2, 3], 30)  # label 3 is oos: left out of the means and the covariance
    x = np.vstack([centres[c] + rng.normal(size=6) if c < 3 else rng.normal(size=6) * 9 for c in yi])
    g = Geometry.fit(x, yi, 4, oos=3)
    assert g.means.shape == (3, 6) and list(g.in_scope) == [0, 1, 2]
    assert np.allclose(g.centroids[3], 0.0)
    q = rng.normal(size=(5, 6)).astype(np.float32)
    top = np.array([0, 1, 2, 0, 1])
    got = g.signals(q, top)
    p = g.precision.astype(np.float64)
    for i in range(5):
        cos = q[i] @ g.centroids[top[i]] / np.linalg.norm(q[i])
        dist = min(np.sqrt((q[i] - m) @ p @ (q[i] - m)) for m in g.means.astype(np.float64))
        assert got[i, 0] == pytest.approx(cos, abs=1e-4)
        assert got[i, 1] == pytest.approx(-dist, rel=1e-3)


def test_probability_signals_rank_confident_rows_higher():
    proba = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25]])
    s = probability_signals(proba, np.log(proba), np.log(proba), oos=2)
    assert s.shape == (2, 6)
    assert (s[0, [0, 1, 2, 5]] > s[1, [0, 1, 2, 5]]).all()  # max, margin, -entropy, -p(oos): higher when sure
    assert np.allclose(s[:, 3:5], 0.0, atol=1e-9)  # the energy of log-probabilities is 0
    logits = np.array([[8.0, 1.0, 1.0], [1.0, 0.9, 0.5]])
    assert probability_signals(proba, logits, logits, oos=None).shape == (2, 5)
    assert (probability_signals(proba, logits, logits, oos=None)[0, 3:5] > 7).all()


def test_scorer_fit_separates_and_round_trips():
    rng = np.random.default_rng(1)
    is_oos = np.array([False] * 200 + [True] * 40)
    signals = rng.normal(size=(240, 4))
    signals[~is_oos, 0] += 2.5  # one informative signal
    g = Geometry(np.zeros((2, 3), np.float32), np.zeros((1, 3), np.float32), np.eye(3, dtype=np.float32),
                 np.array([0], np.int32))
    scorer, oof = OOSScorer.fit([g], signals, is_oos)
    assert oof.shape == (240,)
    # out-of-fold scores still separate the two groups, and the fitted weights favour the informative signal
    assert np.mean(oof[~is_oos][:, None] > oof[is_oos][None, :]) > 0.9
    assert np.argmax(np.abs(scorer.coef)) == 0 and scorer.coef[0] > 0
    back = OOSScorer.from_arrays(scorer.to_arrays("oos_"), "oos_")
    assert np.allclose(back.score(signals), scorer.score(signals), atol=1e-5)
    with pytest.raises(InputError, match="fitted on 4 signals, not 3"):
        scorer.score(signals[:, :3])


def test_too_few_rows_are_refused_by_name():
    with pytest.raises(InputError, match=f"at least {MIN_OOS_ROWS} out-of-scope .* not 5 and 100"):
        check_rows(np.array([True] * 5 + [False] * 100))
    with pytest.raises(InputError, match="not 30 and 3"):
        check_rows(np.array([True] * 30 + [False] * 3))
    check_rows(np.array([True] * MIN_OOS_ROWS + [False] * MIN_OOS_ROWS))


def test_intent_model_with_a_learned_oos_score(tmp_path):
    val = val_data()
    m = EnsembleIntentModel.fit(data(with_oos=True), embedder(), val=val, view=None)  # auto: enough rows
    assert m.oos_scorer is not None
    assert m.card["oos"]["score"] == "learned" and m.card["format"] == "kefu-intent/4"
    assert m.card["validation_metrics"]["oos_recall"] > 0.5  # out-of-fold, on the validation rows
    inside = ["I want a refund for my order", "我的快递到哪了", "reset my password please", "保修期多久"]
    outside = ["what's the best pizza in town", "帮我写一首诗", "who wrote hamlet", "今天的股票行情"]
    got = m.predict(inside + outside)
    assert [p.label for p in got[:4]] == ["refund", "shipping", "password", "warranty"]
    assert sum(p.oos for p in got[4:]) >= 3
    # the same model judged by its max probability alone
    plain = EnsembleIntentModel.fit(data(with_oos=True), embedder(), val=val, view=None, oos_score="probability")
    assert plain.oos_scorer is None and plain.card["oos"]["score"] == "max probability"
    assert plain.card["format"] == "kefu-intent/1"
    folder = save_versioned(m, tmp_path / "intent")
    back = load_intent_model(tmp_path / "intent").bind(embedder())
    assert back.oos_scorer is not None and back.card["format"] == "kefu-intent/4"
    again = back.predict(inside + outside)
    assert [(p.label, p.oos) for p in again] == [(p.label, p.oos) for p in got]
    assert (folder / "model.npz").is_file()


def test_learned_oos_score_bad_input():
    from kefu.nlp.embed import HashEmbedder

    with pytest.raises(InputError, match="unknown out-of-scope score 'best'"):
        EnsembleIntentModel.fit(data(with_oos=True), HashEmbedder(), oos_score="best", view=None)
    # too few out-of-scope rows would be held out: refused before anything is embedded
    with pytest.raises(InputError, match="learned out-of-scope score needs at least"):
        EnsembleIntentModel.fit(data(with_oos=True), HashEmbedder(), oos_score="learned", view=None)
    with pytest.raises(InputError, match="not 0 and"):
        EnsembleIntentModel.fit(data(with_oos=True), HashEmbedder(), val=data(), oos_score="learned", view=None)
    auto = EnsembleIntentModel.fit(data(with_oos=True), HashEmbedder(), view=None, val_fraction=0.25)
    assert auto.oos_scorer is None  # auto: too few rows, the max probability as before
    assert len(EXAMPLES) == 5 and len(OOS_EXAMPLES) == 8


def test_thresholds_on_a_learned_score_reject_nothing_when_nothing_is_needed():
    from kefu.nlp.intent_metrics import _decide, _pick_threshold

    labels = ["a", "b", OOS]
    y = np.array(["a"] * 50 + ["b"] * 50 + [OOS] * 40)
    proba = np.full((140, 3), 0.05)
    proba[:50, 0] = proba[50:100, 1] = proba[100:132, 2] = proba[132:, 0] = 0.9  # the class catches 32 of 40
    scores = np.r_[np.linspace(-0.5, 5, 100), np.linspace(-6, -1, 40)]  # logits: negative is not a rejection
    t = _pick_threshold(labels, proba, y, None, 0.75, scores=scores)
    assert t < scores.min()  # the trained class alone reaches 0.75: nothing rejected (0.0 would reject 10)
    assert _decide(labels, proba, t, scores)[:100] == list(y[:100])
    t = _pick_threshold(labels, proba, y, None, 0.9, scores=scores)  # now 4 more must go: the 4 lowest
    said = np.asarray(_decide(labels, proba, t, scores))
    assert np.mean(said[100:] == OOS) >= 0.9 and np.all(said[:100] == y[:100])
    # balanced rule, no cut keeps in-scope accuracy within the floor: a threshold below every score
    flat = np.r_[np.full(100, -2.0), np.full(40, -2.0)]
    assert _pick_threshold(labels, proba, y, None, None, scores=flat) < -2.0


class _SecondHash:
    """A second embedder for the tests (hash vectors of another size)."""

    name = "hash-second"

    def __init__(self):
        from kefu.nlp.embed import HashEmbedder

        self._inner = HashEmbedder(64)
        self.dim = self._inner.dim

    def embed_queries(self, texts):
        return self._inner.embed_queries(texts)


def test_learned_score_with_a_held_out_split_and_a_second_embedder(tmp_path):
    from kefu.nlp.embed import HashEmbedder

    rows = [(t, lab) for lab, ts in EXAMPLES.items() for t in ts] + [(t, lab) for lab, ts in VAL_IN.items() for t in ts]
    rows += [(t + " please", lab) for t, lab in rows] + [(t + " now", lab) for t, lab in rows]
    oos = OOS_EXAMPLES + VAL_OOS
    rows += [(t, OOS) for t in oos] + [(t + " ok", OOS) for t in oos]
    d = TrainingData([t for t, _ in rows], [lab for _, lab in rows], "mixed")
    second = _SecondHash()
    m = EnsembleIntentModel.fit(d, HashEmbedder(), view=second, val_fraction=0.4, oos_score="learned")
    assert m.card["oos"]["score"] == "learned" and "held-out training rows" in m.card["oos"]["calibrated_on"]
    assert m.view == "hash-second" and len(m.oos_scorer.geometries) == 2  # its head has weight here
    texts = ["I want my money back", "what is the weather", "帮我定个闹钟", "where is my parcel"]
    before = m.oos_scorer.score(m.oos_signals(texts)[1])
    save_versioned(m, tmp_path / "intent")
    back = load_intent_model(tmp_path / "intent").bind(HashEmbedder())
    back._view_embedder = second  # not a registered embedder: given as the fit was
    assert np.allclose(back.oos_scorer.score(back.oos_signals(texts)[1]), before, atol=1e-5)
    assert back.threshold == m.threshold  # saved as float64: the threshold on a logit is not rounded
    assert [(p.label, p.oos) for p in back.predict(texts)] == [(p.label, p.oos) for p in m.predict(texts)]
