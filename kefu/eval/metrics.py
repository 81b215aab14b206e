"""Scores of a bot reply against a human reply: chrF, ROUGE-L (characters for Chinese), summaries."""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

_WORD = re.compile(r"[\u3400-\u9fff]|[A-Za-z0-9]+")


def tokens(text: str) -> list[str]:
    """Characters for Chinese, lowercase words for everything else (ROUGE-L's units)."""
    return [t.lower() for t in _WORD.findall(text)]


def rouge_l(hyp: str, ref: str) -> float:
    """ROUGE-L F1 on :func:`tokens` (longest common subsequence)."""
    a, b = tokens(hyp), tokens(ref)
    if not a or not b:
        return 0.0
    b = b[:2000]
    prev = [0] * (len(b) + 1)
    for x in a[:2000]:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


@lru_cache(maxsize=1)
def _chrf():
    from sacrebleu.metrics import CHRF

    return CHRF()


def chrf(hyp: str, ref: str) -> float:
    """chrF (character n-gram F-score, sacrebleu) in [0, 1]."""
    if not hyp.strip() or not ref.strip():
        return 0.0
    return _chrf().sentence_score(hyp, [ref]).score / 100


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(float(np.mean(vals)), 4) if vals else None
