"""How well an intent model does (``evaluate``) and where its out-of-scope confidence threshold goes: the
metrics and the threshold calibration every intent model kind uses."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from kefu.errors import InputError
from kefu.nlp.intent_base import OOS

SMALL_VAL = 30  # validation rows below which the out-of-scope threshold is set leniently


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


def _pick_threshold(
    labels: list[str], proba: np.ndarray, y: np.ndarray, target_in_scope: float | None,
    oos_recall: float | None = None,
    scores: np.ndarray | None = None,
) -> float:
    """Confidence threshold below which a message is out of scope.

    With out-of-scope validation rows: with ``oos_recall``, the lowest threshold that reports at least
    that share of them as out of scope (the most in-scope accuracy that recall allows); otherwise
    maximise the mean of in-scope accuracy and OOS recall (balanced accuracy of the in/out decision),
    keeping in-scope accuracy within 1 point of its value without a threshold. Without them: the
    threshold keeping ``target_in_scope`` (default 97%) of in-scope validation rows; from fewer than
    ``SMALL_VAL`` rows that quantile is little more than the least confident row, so the threshold is
    set halfway from it down to the uniform probability. ``scores``: judge by these (a learned out-of-scope
    score, high in scope) instead of the max probability.
    """
    conf = proba.max(1) if scores is None else np.asarray(scores, dtype=np.float64)
    top = np.asarray(labels)[proba.argmax(1)]
    is_oos = y == OOS
    if oos_recall is not None and not is_oos.any():
        raise InputError("an out-of-scope recall needs out-of-scope rows among the validation rows, and the "
                         "held-out rows have none", hint="label more out-of-scope examples, or pass --val FILE")
    if not is_oos.any():
        keep = target_in_scope if target_in_scope is not None else 0.97
        if not len(conf):
            return 0.0
        threshold = float(np.quantile(conf, 1 - keep))
        if len(conf) < SMALL_VAL:
            threshold -= (threshold - 1.0 / len(labels)) / 2
        return threshold
    # A threshold that rejects nothing: 0 for a probability; below every score for a learned score (unbounded)
    nothing = 0.0 if scores is None else float(conf.min()) - 1.0
    if oos_recall is not None:
        return _threshold_for_recall(conf, top == OOS, is_oos, oos_recall, nothing)
    base_in = float(np.mean(top[~is_oos] == y[~is_oos])) if (~is_oos).any() else 1.0
    floor = base_in - 0.01 if target_in_scope is None else target_in_scope
    best_t, best_score = nothing, -1.0
    candidates = np.unique(np.round(conf, 3))
    for t in candidates if scores is None else np.r_[nothing, candidates]:
        pred = np.where(conf < t, OOS, top)
        in_acc = float(np.mean(pred[~is_oos] == y[~is_oos])) if (~is_oos).any() else 1.0
        oos_rec = float(np.mean(pred[is_oos] == OOS))
        if in_acc + 1e-9 < floor:
            continue
        score = (in_acc + oos_rec) / 2
        if score > best_score:
            best_t, best_score = float(t), score
    return best_t


def _threshold_for_recall(conf: np.ndarray, said_oos: np.ndarray, is_oos: np.ndarray, recall: float,
                          nothing: float = 0.0) -> float:
    """The lowest threshold under which at least ``recall`` of the out-of-scope rows fall (or are already
    classed out of scope); ``nothing`` (a threshold that rejects nothing) when the trained class alone does."""
    scores = np.sort(np.where(said_oos, -np.inf, conf)[is_oos])
    needed = int(np.ceil(recall * len(scores) - 1e-9))
    if needed <= 0 or np.isneginf(scores[needed - 1]):
        return nothing
    return float(scores[needed - 1]) + 1e-6  # a margin that survives the float32 the model is saved in


def _decide(labels: list[str], proba: np.ndarray, threshold: float, scores: np.ndarray | None = None) -> list[str]:
    """Each row's label: its top one, or ``oos`` below ``threshold`` (on the max probability, or on ``scores``)."""
    top = np.asarray(labels)[proba.argmax(1)]
    return np.where((proba.max(1) if scores is None else scores) < threshold, OOS, top).tolist()
