"""Store protocol and the records it holds.

Every record carries a tenant id; every query takes one. A store never sees
another tenant's rows in a result. Implementations: ``sqlite`` (embedded
default); the conformance suite in ``tests/store/conformance.py`` runs on each.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

CHUNK_KINDS = ("faq", "qa", "passage", "row")


@dataclass
class Document:
    """One ingested file (or logical document) within a named source."""

    tenant: str
    source: str
    uri: str
    title: str
    kind: str
    content_hash: str
    lang: str = "en"
    meta: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    updated_at: str | None = None


@dataclass
class Chunk:
    """A retrievable unit. ``faq``/``qa`` chunks carry a question and its answer."""

    text: str
    title: str = ""
    position: int = 0
    lang: str = "en"
    kind: str = "passage"
    question: str = ""
    answer: str = ""
    tags: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    vector: np.ndarray | None = None
    content_hash: str = ""
    id: int | None = None
    doc_id: int | None = None
    tenant: str | None = None
    source: str | None = None
    uri: str | None = None


@dataclass
class Filters:
    """Optional restrictions on a search; empty means everything of the tenant."""

    sources: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    langs: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)


@dataclass
class Hit:
    chunk: Chunk
    score: float
    rank: int = 0


def sources_version(store, tenant: str) -> tuple:
    """Changes whenever ``tenant``'s knowledge does: its sources with their document and chunk counts and last
    update (one small query). What the server's caches of a tenant's knowledge compare."""
    return tuple((s["source"], s["documents"], s["chunks"], s["updated_at"]) for s in store.list_sources(tenant))


@runtime_checkable
class Store(Protocol):
    """What retrieval, ingest and the CLI need from a store."""

    def get_document(self, tenant: str, uri: str) -> Document | None: ...

    def replace_document(self, doc: Document, chunks: list[Chunk]) -> int:
        """Insert ``doc`` with ``chunks``, atomically replacing any document at the same uri."""

    def delete_source(self, tenant: str, source: str) -> int:
        """Delete every document of ``source``; returns how many were deleted."""

    def list_sources(self, tenant: str) -> list[dict[str, Any]]: ...

    def list_documents(self, tenant: str, source: str | None = None) -> list[Document]: ...

    def existing_chunk_hashes(self, tenant: str, hashes: list[str], exclude_uri: str) -> set[str]:
        """Which of ``hashes`` are already stored in documents other than ``exclude_uri``."""

    def keyword_search(self, tenant: str, tokens: list[str], k: int,
                       filters: Filters | None = None) -> list[Hit]: ...

    def vector_search(self, tenant: str, vector: np.ndarray, k: int,
                      filters: Filters | None = None) -> list[Hit]: ...

    def get_chunks(self, tenant: str, ids: list[int]) -> list[Chunk]: ...

    def list_chunks(self, tenant: str, kinds: list[str], limit: int = 10_000) -> list[Chunk]:
        """The tenant's chunks of these kinds in insertion order, without vectors (e.g. catalogue rows)."""

    def count_chunks(self, tenant: str) -> int: ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...
