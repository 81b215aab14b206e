"""The read side of a SQL graph store, written once for SQLite and PostgreSQL.

Both stores keep the same ``kg_*`` tables; a store mixes in :class:`GraphReads` and provides
``_all(sql, args) -> rows``, with ``?`` as the parameter placeholder (PostgreSQL's ``_all`` turns it
into ``%s``). The queries use no other dialect feature.
"""
from __future__ import annotations

import json
from typing import Any

from kefu.errors import InputError, NotFoundError
from kefu.kg.base import MAX_PAGE, Entity, Neighbours, Triple, norm_alias

TRIPLE_COLS = "t.id, t.tenant, t.subject, t.relation, t.object, t.object_id, t.source, t.provenance, s.name, o.name"
TRIPLE_FROM = ("kg_triples t LEFT JOIN kg_entities s ON s.tenant = t.tenant AND s.id = t.subject "
               "LEFT JOIN kg_entities o ON o.tenant = t.tenant AND o.id = t.object_id")


def _page(limit: int, offset: int) -> tuple[int, int]:
    if limit < 1 or offset < 0:
        raise InputError("limit must be at least 1 and offset at least 0")
    return min(int(limit), MAX_PAGE), int(offset)


def _like(query: str) -> str:
    return "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _triple(row: tuple) -> Triple:
    tid, tenant, subject, relation, obj, object_id, source, provenance, s_name, o_name = row
    return Triple(tenant, subject, relation, obj, object_id, source, json.loads(provenance), tid,
                  s_name or "", o_name or "")


class GraphReads:
    """Every read of the ``GraphStore`` protocol, over ``self._all``."""

    def _all(self, sql: str, args: tuple | list = ()) -> list[tuple]:  # pragma: no cover - stores define it
        raise NotImplementedError

    def source_hash(self, tenant: str, source: str) -> str | None:
        rows = self._all("SELECT content_hash FROM kg_sources WHERE tenant = ? AND source = ?", (tenant, source))
        return rows[0][0] if rows else None

    def list_sources(self, tenant: str) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT s.source, s.content_hash, (SELECT COUNT(*) FROM kg_triples t WHERE t.tenant = s.tenant "
            "AND t.source = s.source), s.updated_at FROM kg_sources s WHERE s.tenant = ? ORDER BY s.source",
            (tenant,))
        return [{"source": r[0], "content_hash": r[1], "triples": r[2], "updated_at": r[3]} for r in rows]

    def get_entity(self, tenant: str, entity_id: str) -> Entity:
        rows = self._all("SELECT id, name, type, meta FROM kg_entities WHERE tenant = ? AND id = ?",
                         (tenant, str(entity_id)))
        if not rows:
            raise NotFoundError(f"entity {str(entity_id)[:64]!r} not found")
        return self._entities(tenant, rows)[0]

    def _entities(self, tenant: str, rows: list[tuple]) -> list[Entity]:
        out = []
        for eid, name, type_, meta in rows:
            texts = [r[0] for r in self._all("SELECT DISTINCT text FROM kg_aliases WHERE tenant = ? AND "
                                             "entity_id = ? ORDER BY text", (tenant, eid))]
            out.append(Entity(tenant, eid, name, type_, [t for t in texts if t != name], json.loads(meta)))
        return out

    def search_entities(self, tenant: str, query: str, limit: int = 20) -> list[Entity]:
        q = norm_alias(query)
        if not q:
            return []
        limit, _ = _page(limit, 0)
        rows = self._all(
            "SELECT e.id, e.name, e.type, e.meta, MIN(CASE WHEN a.alias = ? THEN 0 WHEN a.alias LIKE ? ESCAPE '\\' "
            "THEN 1 ELSE 2 END) AS rank FROM kg_aliases a JOIN kg_entities e ON e.tenant = a.tenant AND "
            "e.id = a.entity_id WHERE a.tenant = ? AND a.alias LIKE ? ESCAPE '\\' GROUP BY e.id, e.name, e.type, "
            "e.meta ORDER BY rank, length(e.name), e.name LIMIT ?", (q, _like(q)[1:], tenant, _like(q), limit))
        return self._entities(tenant, [r[:4] for r in rows])

    def aliases(self, tenant: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for alias, eid in self._all("SELECT DISTINCT alias, entity_id FROM kg_aliases WHERE tenant = ?", (tenant,)):
            out.setdefault(alias, []).append(eid)
        return out

    def triples(self, tenant: str, *, subject: str | None = None, relation: str | None = None,
                source: str | None = None, limit: int = 100, offset: int = 0) -> list[Triple]:
        limit, offset = _page(limit, offset)
        sql = f"SELECT {TRIPLE_COLS} FROM {TRIPLE_FROM} WHERE t.tenant = ?"
        args: list[Any] = [tenant]
        for column, value in (("subject", subject), ("relation", relation), ("source", source)):
            if value is not None:
                sql += f" AND t.{column} = ?"
                args.append(value)
        return [_triple(r) for r in self._all(sql + " ORDER BY t.id LIMIT ? OFFSET ?", [*args, limit, offset])]

    def neighbours(self, tenant: str, entity_id: str, limit: int = 50, offset: int = 0) -> Neighbours:
        entity = self.get_entity(tenant, entity_id)
        limit, offset = _page(limit, offset)
        where = "t.tenant = ? AND (t.subject = ? OR t.object_id = ?)"
        total = self._all(f"SELECT COUNT(*) FROM kg_triples t WHERE {where}", (tenant, entity.id, entity.id))[0][0]
        rows = self._all(f"SELECT {TRIPLE_COLS} FROM {TRIPLE_FROM} WHERE {where} ORDER BY t.subject != ?, "
                         "t.relation, t.id LIMIT ? OFFSET ?", (tenant, entity.id, entity.id, entity.id, limit, offset))
        return Neighbours(entity, [_triple(r) for r in rows], total, limit, offset)

    def counts(self, tenant: str) -> dict[str, int]:
        row = self._all("SELECT (SELECT COUNT(*) FROM kg_entities WHERE tenant = ?), "
                        "(SELECT COUNT(*) FROM kg_triples WHERE tenant = ?), "
                        "(SELECT COUNT(*) FROM kg_sources WHERE tenant = ?)", (tenant, tenant, tenant))[0]
        return {"entities": row[0], "triples": row[1], "sources": row[2]}

    def version(self, tenant: str) -> int:
        rows = self._all("SELECT version FROM kg_versions WHERE tenant = ?", (tenant,))
        return rows[0][0] if rows else 0
