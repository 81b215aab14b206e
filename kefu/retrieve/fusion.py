"""Weighted reciprocal-rank fusion of several rankings."""
from __future__ import annotations

from kefu.store.base import Hit


def rrf(rankings: dict[str, list[Hit]], weights: dict[str, float], k: int = 60) -> list[Hit]:
    """Fuse ``rankings`` (name → hits best first): score = Σ weight / (k + rank).

    Each fused hit keeps the per-ranking scores and ranks in ``chunk.meta["scores"]``.
    """
    fused: dict[int, Hit] = {}
    parts: dict[int, dict[str, float]] = {}
    for name, hits in rankings.items():
        weight = weights.get(name, 1.0)
        for rank, hit in enumerate(hits, 1):
            cid = hit.chunk.id
            if cid not in fused:
                fused[cid] = Hit(hit.chunk, 0.0)
                parts[cid] = {}
            fused[cid].score += weight / (k + rank)
            parts[cid][name] = hit.score
            parts[cid][f"{name}_rank"] = rank
    ordered = sorted(fused.values(), key=lambda h: -h.score)
    for rank, hit in enumerate(ordered, 1):
        hit.rank = rank
        hit.chunk.meta = {**hit.chunk.meta, "scores": parts[hit.chunk.id]}
    return ordered
