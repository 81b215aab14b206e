"""An out-of-scope score learned from labelled out-of-scope examples.

The intent ensemble's own confidence (its highest fused probability) is one sign that a message is out of
scope. Others: how the probability mass is spread (margin, entropy, the trained ``oos`` class's share), how
large the heads' logits are (energy), and how far the message's vectors lie from the intents' training
examples (cosine to the top intent's centroid; Mahalanobis distance to the nearest intent's mean with a
shared, shrunk covariance). ``OOSScorer`` standardises these signals and weighs them with a logistic
regression fitted on validation rows labelled in scope or ``oos``. Its threshold is set on out-of-fold scores
of those rows, so the rows that fitted the weights do not also flatter the threshold.

On CLINC150 it keeps more in-scope messages and is wrong less often when it says "out of scope" than the
highest probability alone at a similar out-of-scope recall (``python benchmarks/nlu.py``, ``python
benchmarks/oos_study.py``; figures in the README).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from kefu.errors import InputError

MIN_OOS_ROWS = 20  # fewer labelled out-of-scope rows cannot fit (and cross-validate) a stacker
FOLDS = 5


def enough_rows(is_oos: np.ndarray) -> bool:
    """Whether validation rows (``is_oos``: one flag per row) can fit and cross-validate a learned score."""
    n_oos = int(np.sum(is_oos))
    return min(n_oos, len(is_oos) - n_oos) >= MIN_OOS_ROWS


def check_rows(is_oos: np.ndarray) -> None:
    """Refuse validation rows too few to fit and cross-validate a learned score (``is_oos``: one flag per row)."""
    if not enough_rows(is_oos):
        n_oos = int(np.sum(is_oos))
        n_in = len(is_oos) - n_oos
        raise InputError(f"a learned out-of-scope score needs at least {MIN_OOS_ROWS} out-of-scope and "
                         f"{MIN_OOS_ROWS} in-scope validation rows, not {n_oos} and {n_in}",
                         hint="label more out-of-scope examples for validation, or use --oos-score probability")


@dataclass
class Geometry:
    """Where one embedder puts each intent's training examples: unit centroids and a Mahalanobis metric."""

    centroids: np.ndarray  # (labels, dim), unit rows; the oos row is zero
    means: np.ndarray  # (in-scope labels, dim)
    precision: np.ndarray  # (dim, dim), inverse of the shrunk shared covariance
    in_scope: np.ndarray  # indices of the labels ``means`` rows belong to
    _mpm: np.ndarray = field(init=False, repr=False)  # each mean's m·P·m, computed once

    def __post_init__(self) -> None:
        self._mpm = ((self.means @ self.precision) * self.means).sum(1)

    @classmethod
    def fit(cls, x: np.ndarray, yi: np.ndarray, n_labels: int, oos: int | None) -> Geometry:
        """From training vectors ``x`` with label indices ``yi`` (out-of-scope rows are left out)."""
        from sklearn.covariance import LedoitWolf

        keep = yi != oos if oos is not None else np.ones(len(yi), bool)
        x, yi = np.asarray(x, np.float64)[keep], yi[keep]
        present = np.unique(yi)
        means = np.zeros((n_labels, x.shape[1]))
        for c in present:
            means[c] = x[yi == c].mean(0)
        precision = LedoitWolf().fit(x - means[yi]).precision_
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        centroids = np.where(norms > 1e-9, means / np.maximum(norms, 1e-9), 0.0)
        return cls(centroids.astype(np.float32), means[present].astype(np.float32),
                   precision.astype(np.float32), present.astype(np.int32))

    def signals(self, x: np.ndarray, top: np.ndarray) -> np.ndarray:
        """``(n, 2)``: cosine to the top label's centroid; minus the Mahalanobis distance to the nearest mean."""
        x = np.asarray(x, np.float32)
        unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
        cos = np.einsum("ij,ij->i", unit, self.centroids[top])
        d = x @ self.precision
        m2 = (d * x).sum(1)[:, None] - 2 * d @ self.means.T + self._mpm[None, :]
        return np.stack([cos, -np.sqrt(np.clip(m2.min(1), 0.0, None))], 1)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}centroids": self.centroids, f"{prefix}means": self.means,
                f"{prefix}precision": self.precision, f"{prefix}in_scope": self.in_scope}

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> Geometry:
        return cls(*(arrays[f"{prefix}{k}"] for k in ("centroids", "means", "precision", "in_scope")))


def probability_signals(proba: np.ndarray, log_fused: np.ndarray, emb_logits: np.ndarray,
                        oos: int | None) -> np.ndarray:
    """``(n, 5 or 6)``: max probability, margin, minus the entropy, the fused and the embedding head's energy,
    and (with a trained ``oos`` class) minus its probability."""
    top2 = np.sort(proba, 1)[:, -2:] if proba.shape[1] > 1 else np.hstack([np.zeros_like(proba), proba])
    cols = [top2[:, 1], top2[:, 1] - top2[:, 0], (proba * np.log(np.clip(proba, 1e-12, 1.0))).sum(1),
            logsumexp(log_fused, axis=1), logsumexp(emb_logits, axis=1)]
    if oos is not None:
        cols.append(-proba[:, oos])
    return np.stack(cols, 1)


def signals(geometries: Sequence[Geometry], proba: np.ndarray, log_fused: np.ndarray, emb_logits: np.ndarray,
            vectors: Sequence[np.ndarray], oos: int | None) -> np.ndarray:
    """Every signal of each message; ``vectors``: one array per geometry, in order."""
    if len(vectors) != len(geometries):
        raise InputError(f"the out-of-scope scorer reads {len(geometries)} embedders' vectors, not {len(vectors)}")
    top = proba.argmax(1)
    cols = [probability_signals(proba, log_fused, emb_logits, oos)]
    cols += [g.signals(v, top) for g, v in zip(geometries, vectors)]
    return np.hstack(cols)


@dataclass
class OOSScorer:
    """Standardised signals weighed by a logistic regression: ``score`` is high for an in-scope message."""

    geometries: list[Geometry]  # the embedding's, then the second embedder's (when the model reads one)
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # weights of the standardised signals towards "in scope"
    intercept: float

    def signals(self, proba, log_fused, emb_logits, vectors: Sequence[np.ndarray], oos: int | None) -> np.ndarray:
        """Every signal of each message, as :func:`signals` with this scorer's geometries."""
        return signals(self.geometries, proba, log_fused, emb_logits, vectors, oos)

    def score(self, signals: np.ndarray) -> np.ndarray:
        if signals.shape[1] != len(self.coef):
            raise InputError(f"the out-of-scope scorer was fitted on {len(self.coef)} signals, not "
                             f"{signals.shape[1]}", hint="retrain the intent model")
        return ((signals - self.mean) / self.scale) @ self.coef + self.intercept

    @classmethod
    def fit(cls, geometries: list[Geometry], signals: np.ndarray, is_oos: np.ndarray,
            seed: int = 0) -> tuple[OOSScorer, np.ndarray]:
        """Fit on validation ``signals``; returns the scorer and out-of-fold scores of the same rows (to set
        the threshold on). Needs ``MIN_OOS_ROWS`` out-of-scope rows and as many in scope."""
        is_oos = np.asarray(is_oos, bool)
        check_rows(is_oos)
        from sklearn.model_selection import StratifiedKFold

        oof = np.zeros(len(signals))
        for train, held in StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(signals, is_oos):
            oof[held] = cls._fit_one(geometries, signals[train], is_oos[train]).score(signals[held])
        return cls._fit_one(geometries, signals, is_oos), oof

    @classmethod
    def _fit_one(cls, geometries, signals: np.ndarray, is_oos: np.ndarray) -> OOSScorer:
        from sklearn.linear_model import LogisticRegression

        mean, scale = signals.mean(0), signals.std(0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        lr = LogisticRegression(C=0.3, class_weight="balanced", max_iter=2000)
        lr.fit((signals - mean) / scale, ~is_oos)
        return cls(geometries, mean.astype(np.float32), scale.astype(np.float32),
                   lr.coef_[0].astype(np.float32), float(lr.intercept_[0]))

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}mean": self.mean, f"{prefix}scale": self.scale, f"{prefix}coef": self.coef,
               f"{prefix}intercept": np.float32(self.intercept), f"{prefix}geometries": np.int32(len(self.geometries))}
        for i, g in enumerate(self.geometries):
            out.update(g.to_arrays(f"{prefix}{i}."))
        return out

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> OOSScorer:
        n = int(arrays[f"{prefix}geometries"])
        return cls([Geometry.from_arrays(arrays, f"{prefix}{i}.") for i in range(n)], arrays[f"{prefix}mean"],
                   arrays[f"{prefix}scale"], arrays[f"{prefix}coef"], float(arrays[f"{prefix}intercept"]))
