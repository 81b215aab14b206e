"""Knowledge-graph records and the ``GraphStore`` protocol.

Entities (products, places, policies, customers, orders…) and triples ``subject —relation→ object``.
Every row carries a tenant and every method takes one. Triples belong to a *source* (a document uri,
an imported file, a customer): replacing or deleting a source touches exactly its triples, which is
what makes builds incremental. Entities that no triple or alias refers to any more are removed.
Implementations: ``sqlite`` (``kefu.kg.sqlite_graph``); ``tests/kg/graph_conformance.py`` runs on each.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

MAX_PAGE = 500  # neighbour and triple queries never return more rows than this at once


def norm_alias(text: str) -> str:
    """The form aliases are matched in: NFKC, lower case, single spaces, no surrounding punctuation."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return " ".join(text.split()).strip(" .,;:!?，。；：！？\"'“”‘’()（）")


def entity_id(type_: str, name: str) -> str:
    """A stable id for an entity of ``type_`` called ``name`` (ASCII, URL-safe)."""
    digest = hashlib.sha1(f"{type_.lower()}|{norm_alias(name)}".encode()).hexdigest()[:16]
    return f"e_{digest}"


ENTITY_ID = re.compile(r"e_[0-9a-f]{16}|cu_[0-9a-f]{16}")


@dataclass
class Entity:
    """A node. ``aliases`` are other names it goes by (Chinese/English names, model numbers, SKUs)."""

    tenant: str
    id: str
    name: str
    type: str = "thing"
    aliases: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Triple:
    """``subject —relation→ object``; ``object_id`` is set when the object is itself an entity.

    ``provenance`` says where it came from: ``{"uri", "chunk_id"}`` for documents and catalogue rows,
    ``{"file", "line"}`` for imported triple files, ``{"conversation"}`` for customers.
    """

    tenant: str
    subject: str
    relation: str
    object: str
    object_id: str | None = None
    source: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    subject_name: str = ""
    object_name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Neighbours:
    """One page of an entity's edges (outgoing and incoming) and how many there are in all."""

    entity: Entity
    edges: list[Triple]
    total: int
    limit: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        return {"entity": self.entity.to_dict(), "edges": [e.to_dict() for e in self.edges],
                "total": self.total, "limit": self.limit, "offset": self.offset}


@runtime_checkable
class GraphStore(Protocol):
    """What build, import, graph QA, profiles and the server need from a graph store."""

    def replace_source(self, tenant: str, source: str, content_hash: str, entities: list[Entity],
                       triples: list[Triple]) -> int:
        """Atomically replace everything ``source`` contributed; returns how many triples it now has.

        Duplicate triples within a source are stored once; aliases are recorded per source.
        """

    def delete_source(self, tenant: str, source: str) -> int:
        """Delete a source's triples and aliases (and entities left orphaned); returns triples deleted."""

    def source_hash(self, tenant: str, source: str) -> str | None:
        """The content hash recorded for ``source`` (``None`` when it is not in the graph)."""

    def list_sources(self, tenant: str) -> list[dict[str, Any]]:
        """``{"source", "content_hash", "triples", "updated_at"}`` for each source, by name."""

    def get_entity(self, tenant: str, entity_id: str) -> Entity:
        """The entity with its aliases, or ``NotFoundError`` (also for another tenant's id)."""

    def search_entities(self, tenant: str, query: str, limit: int = 20) -> list[Entity]:
        """Entities whose name or an alias contains ``query`` (exact matches first)."""

    def aliases(self, tenant: str) -> dict[str, list[str]]:
        """Every normalised alias (names included) → the ids of the entities it names."""

    def triples(self, tenant: str, *, subject: str | None = None, relation: str | None = None,
                source: str | None = None, limit: int = 100, offset: int = 0) -> list[Triple]:
        """Triples matching the given fields, in id order (``limit`` at most ``MAX_PAGE``)."""

    def neighbours(self, tenant: str, entity_id: str, limit: int = 50, offset: int = 0) -> Neighbours:
        """One page of the entity's outgoing and incoming edges; ``NotFoundError`` if it does not exist."""

    def delete_entities(self, tenant: str, ids: list[str]) -> int:
        """Delete these entities with every triple and alias that mentions them; returns entities deleted."""

    def counts(self, tenant: str) -> dict[str, int]:
        """``{"entities", "triples", "sources"}`` for the tenant."""

    def version(self, tenant: str) -> int:
        """A number that changes whenever the tenant's graph changes (for caches)."""

    def close(self) -> None: ...


__all__ = ["ENTITY_ID", "MAX_PAGE", "Entity", "GraphStore", "Neighbours", "Triple", "entity_id", "norm_alias"]
