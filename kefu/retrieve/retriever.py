"""Hybrid retrieval: BM25 keyword search + vector search, fused with weighted RRF."""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace

import numpy as np

from kefu.errors import InputError
from kefu.nlp.embed import Embedder
from kefu.nlp.text import normalize, tokenize
from kefu.pool import LazyPool
from kefu.retrieve.fusion import rrf
from kefu.store.base import Filters, Hit, Store

MODES = ("hybrid", "keyword", "vector")
QUESTION_KINDS = ("faq", "qa")
PASSAGE_KINDS = ("passage", "row")


@dataclass
class Retrieval:
    """Hits plus the query embedding, so callers can score sentences without re-embedding."""

    hits: list[Hit]
    query_vector: np.ndarray | None


class Retriever:
    """Searches one store for one tenant at a time."""

    def __init__(self, store: Store, embedder: Embedder, *, keyword_weight: float = 1.0,
                 vector_weight: float = 2.0, rrf_k: int = 5, depth: int = 50,
                 expand: Callable[[str, str], list[str]] | None = None) -> None:
        self.store = store
        # (tenant, query) -> extra keyword-search words, e.g. the knowledge graph's other names for the
        # entities the query names (GraphQA.expansion). The embedding reads the query as written.
        self.expand = expand
        self.embedder = embedder
        self.weights = {"keyword": keyword_weight, "vector": vector_weight}
        self.rrf_k = rrf_k
        self.depth = depth
        self._pool = LazyPool(2, "kefu-keyword")

    def _background(self, fn) -> Future:
        """Run ``fn`` on the retriever's helper thread (created on first use)."""
        return self._pool.get().submit(fn)

    def _keywords(self, tenant: str, query: str) -> list[str]:
        tokens = tokenize(query)
        if self.expand is not None:
            extra = self.expand(tenant, query)
            if extra:
                tokens += tokenize(" ".join(extra))
        return tokens

    def close(self) -> None:
        """Stop the helper threads (searches after this still work, on new ones)."""
        self._pool.close()

    def search(self, tenant: str, query: str, k: int = 5, *, mode: str = "hybrid",
               filters: Filters | None = None) -> Retrieval:
        """Top ``k`` chunks for ``query``; ``mode`` is hybrid, keyword or vector."""
        if mode not in MODES:
            raise InputError(f"search mode {mode!r} is unknown; use one of {', '.join(MODES)}")
        query = normalize(query)
        rankings: dict[str, list[Hit]] = {}
        vector = None
        keyword: Future | None = None
        if mode == "keyword":
            rankings["keyword"] = self.store.keyword_search(tenant, self._keywords(tenant, query), self.depth,
                                                            filters)
        elif mode == "hybrid" and self.weights["keyword"] > 0:
            # The keyword index (SQLite/PostgreSQL) and the embedder both release the GIL:
            # searching while the query is embedded takes the shorter of the two off each turn.
            keyword = self._background(lambda: self.store.keyword_search(
                tenant, self._keywords(tenant, query), self.depth, filters))
        if mode in ("hybrid", "vector"):
            # Question-to-question similarity (FAQ, mined Q&A) runs higher than question-to-passage,
            # so each group is ranked on its own and both rankings enter the fusion.
            vector = self.embedder.embed_queries([query])[0]
            for name, kinds in (("vector", QUESTION_KINDS), ("vector_passages", PASSAGE_KINDS)):
                wanted = [k for k in kinds if not (filters and filters.kinds) or k in filters.kinds]
                if wanted:
                    scoped = replace(filters or Filters(), kinds=wanted)
                    rankings[name] = self.store.vector_search(tenant, vector, self.depth, scoped)
        if keyword is not None:
            rankings = {"keyword": keyword.result(), **rankings}
        if mode == "keyword":
            hits = rankings["keyword"]
            for hit in hits:
                hit.chunk.meta = {**hit.chunk.meta, "scores": {mode: hit.score, f"{mode}_rank": hit.rank}}
            return Retrieval(hits[:k], vector)
        weights = {**self.weights, "vector_passages": self.weights["vector"]}
        if mode == "vector":
            weights = {"vector": 1.0, "vector_passages": 1.0}
        return Retrieval(rrf(rankings, weights, self.rrf_k)[:k], vector)
