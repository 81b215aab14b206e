"""PostgreSQL graph store: the same ``kg_*`` tables as SQLite, in the knowledge store's database.

Passes ``tests/kg/graph_conformance.py`` like the SQLite store; its schema version is the ``kg`` row of
``schema_version`` (shared with the other PostgreSQL stores, migrated under an advisory lock).
"""
from __future__ import annotations

import json
from typing import Any

from kefu.errors import InputError, NotFoundError
from kefu.kg.base import MAX_PAGE, Entity, Neighbours, Triple, norm_alias
from kefu.kg.sqlite_graph import _like, _page, _triple
from kefu.store.postgres import ADVISORY_LOCK, Pool, _lock_key, _now, migrate_schema, normalize_url

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE kg_entities (tenant TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
                              meta TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (tenant, id));
    CREATE TABLE kg_aliases (tenant TEXT NOT NULL, alias TEXT NOT NULL, entity_id TEXT NOT NULL, source TEXT NOT NULL,
                             text TEXT NOT NULL, PRIMARY KEY (tenant, alias, entity_id, source));
    CREATE INDEX kg_aliases_entity ON kg_aliases (tenant, entity_id);
    CREATE INDEX kg_aliases_source ON kg_aliases (tenant, source);
    CREATE TABLE kg_triples (id BIGSERIAL PRIMARY KEY, tenant TEXT NOT NULL, subject TEXT NOT NULL,
                             relation TEXT NOT NULL, object TEXT NOT NULL, object_id TEXT, source TEXT NOT NULL,
                             provenance TEXT NOT NULL DEFAULT '{}', UNIQUE (tenant, source, subject, relation, object));
    CREATE INDEX kg_triples_subject ON kg_triples (tenant, subject, relation);
    CREATE INDEX kg_triples_object ON kg_triples (tenant, object_id);
    CREATE TABLE kg_sources (tenant TEXT NOT NULL, source TEXT NOT NULL, content_hash TEXT NOT NULL,
                             updated_at TEXT NOT NULL, PRIMARY KEY (tenant, source));
    CREATE TABLE kg_versions (tenant TEXT PRIMARY KEY, version BIGINT NOT NULL);
    """,
)
_COLS = ("t.id, t.tenant, t.subject, t.relation, t.object, t.object_id, t.source, t.provenance, s.name, o.name")
_FROM = ("kg_triples t LEFT JOIN kg_entities s ON s.tenant = t.tenant AND s.id = t.subject "
         "LEFT JOIN kg_entities o ON o.tenant = t.tenant AND o.id = t.object_id")


class PostgresGraphStore:
    """Thread-safe through a small connection pool; every write is one transaction, per tenant serialised."""

    def __init__(self, url: str, *, pool_size: int = 4) -> None:
        self.url = normalize_url(url)
        self._pool = Pool(self.url, pool_size)
        try:
            migrate_schema(self._pool, "kg", MIGRATIONS)
        except BaseException:
            self._pool.close()
            raise

    # -- writes -----------------------------------------------------------------------------
    def _write(self, tenant: str, what: str, fn) -> Any:
        with self._pool.transaction(write=True, what=what) as cur:
            cur.execute(ADVISORY_LOCK, (_lock_key("kg", tenant),))
            result = fn(cur)
            _collect(cur, tenant)
            cur.execute("INSERT INTO kg_versions (tenant, version) VALUES (%s, 1) ON CONFLICT (tenant) "
                        "DO UPDATE SET version = kg_versions.version + 1", (tenant,))
            return result

    def replace_source(self, tenant: str, source: str, content_hash: str, entities: list[Entity],
                       triples: list[Triple]) -> int:
        if not source:
            raise InputError("a graph source needs a name")

        def run(cur) -> int:
            _drop(cur, tenant, source)
            for e in entities:
                cur.execute("INSERT INTO kg_entities (tenant, id, name, type, meta) VALUES (%s, %s, %s, %s, %s) "
                            "ON CONFLICT (tenant, id) DO UPDATE SET name = excluded.name, type = excluded.type, "
                            "meta = excluded.meta",
                            (tenant, e.id, e.name, e.type, json.dumps(e.meta, ensure_ascii=False)))
                rows = [(tenant, norm_alias(t), e.id, source, t.strip()) for t in dict.fromkeys([e.name, *e.aliases])
                        if norm_alias(t)]
                cur.executemany("INSERT INTO kg_aliases (tenant, alias, entity_id, source, text) VALUES "
                                "(%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", rows)
            cur.executemany("INSERT INTO kg_triples (tenant, subject, relation, object, object_id, source, provenance) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                            [(tenant, t.subject, t.relation, t.object, t.object_id, source,
                              json.dumps(t.provenance, ensure_ascii=False)) for t in triples])
            cur.execute("INSERT INTO kg_sources (tenant, source, content_hash, updated_at) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (tenant, source) DO UPDATE SET content_hash = excluded.content_hash, "
                        "updated_at = excluded.updated_at", (tenant, source, content_hash, _now()))
            return cur.execute("SELECT COUNT(*) FROM kg_triples WHERE tenant = %s AND source = %s",
                               (tenant, source)).fetchone()[0]

        return self._write(tenant, f"store graph source {source!r}", run)

    def delete_source(self, tenant: str, source: str) -> int:
        def run(cur) -> int:
            n = _drop(cur, tenant, source)
            cur.execute("DELETE FROM kg_sources WHERE tenant = %s AND source = %s", (tenant, source))
            return n

        return self._write(tenant, f"delete graph source {source!r}", run)

    def delete_entities(self, tenant: str, ids: list[str]) -> int:
        def run(cur) -> int:
            ids_ = list(ids)
            cur.execute("DELETE FROM kg_triples WHERE tenant = %s AND (subject = ANY(%s) OR object_id = ANY(%s))",
                        (tenant, ids_, ids_))
            cur.execute("DELETE FROM kg_aliases WHERE tenant = %s AND entity_id = ANY(%s)", (tenant, ids_))
            cur.execute("DELETE FROM kg_entities WHERE tenant = %s AND id = ANY(%s)", (tenant, ids_))
            return cur.rowcount

        return self._write(tenant, "delete entities", run)

    # -- reads ------------------------------------------------------------------------------
    def _all(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        with self._pool.transaction(write=False, what="graph query") as cur:
            return cur.execute(sql, args).fetchall()

    def source_hash(self, tenant: str, source: str) -> str | None:
        rows = self._all("SELECT content_hash FROM kg_sources WHERE tenant = %s AND source = %s", (tenant, source))
        return rows[0][0] if rows else None

    def list_sources(self, tenant: str) -> list[dict[str, Any]]:
        rows = self._all("SELECT s.source, s.content_hash, (SELECT COUNT(*) FROM kg_triples t WHERE t.tenant = "
                         "s.tenant AND t.source = s.source), s.updated_at FROM kg_sources s WHERE s.tenant = %s "
                         "ORDER BY s.source", (tenant,))
        return [{"source": r[0], "content_hash": r[1], "triples": r[2], "updated_at": r[3]} for r in rows]

    def get_entity(self, tenant: str, entity_id: str) -> Entity:
        rows = self._all("SELECT id, name, type, meta FROM kg_entities WHERE tenant = %s AND id = %s",
                         (tenant, str(entity_id)))
        if not rows:
            raise NotFoundError(f"entity {str(entity_id)[:64]!r} not found")
        return self._entities(tenant, rows)[0]

    def _entities(self, tenant: str, rows: list[tuple]) -> list[Entity]:
        out = []
        for eid, name, type_, meta in rows:
            texts = [r[0] for r in self._all("SELECT DISTINCT text FROM kg_aliases WHERE tenant = %s AND "
                                             "entity_id = %s ORDER BY text", (tenant, eid))]
            out.append(Entity(tenant, eid, name, type_, [t for t in texts if t != name], json.loads(meta)))
        return out

    def search_entities(self, tenant: str, query: str, limit: int = 20) -> list[Entity]:
        q = norm_alias(query)
        if not q:
            return []
        limit, _ = _page(limit, 0)
        rows = self._all(
            "SELECT e.id, e.name, e.type, e.meta, MIN(CASE WHEN a.alias = %s THEN 0 WHEN a.alias LIKE %s ESCAPE '\\' "
            "THEN 1 ELSE 2 END) AS rank FROM kg_aliases a JOIN kg_entities e ON e.tenant = a.tenant AND "
            "e.id = a.entity_id WHERE a.tenant = %s AND a.alias LIKE %s ESCAPE '\\' GROUP BY e.id, e.name, e.type, "
            "e.meta ORDER BY rank, length(e.name), e.name LIMIT %s", (q, _like(q)[1:], tenant, _like(q), limit))
        return self._entities(tenant, [r[:4] for r in rows])

    def aliases(self, tenant: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for alias, eid in self._all("SELECT DISTINCT alias, entity_id FROM kg_aliases WHERE tenant = %s", (tenant,)):
            out.setdefault(alias, []).append(eid)
        return out

    def triples(self, tenant: str, *, subject: str | None = None, relation: str | None = None,
                source: str | None = None, limit: int = 100, offset: int = 0) -> list[Triple]:
        limit, offset = _page(limit, offset)
        sql = f"SELECT {_COLS} FROM {_FROM} WHERE t.tenant = %s"
        args: list[Any] = [tenant]
        for column, value in (("subject", subject), ("relation", relation), ("source", source)):
            if value is not None:
                sql += f" AND t.{column} = %s"
                args.append(value)
        return [_triple(r) for r in self._all(sql + " ORDER BY t.id LIMIT %s OFFSET %s", [*args, limit, offset])]

    def neighbours(self, tenant: str, entity_id: str, limit: int = 50, offset: int = 0) -> Neighbours:
        entity = self.get_entity(tenant, entity_id)
        limit, offset = _page(limit, offset)
        where = "t.tenant = %s AND (t.subject = %s OR t.object_id = %s)"
        total = self._all(f"SELECT COUNT(*) FROM kg_triples t WHERE {where}", (tenant, entity.id, entity.id))[0][0]
        rows = self._all(f"SELECT {_COLS} FROM {_FROM} WHERE {where} ORDER BY t.subject != %s, t.relation, t.id "
                         "LIMIT %s OFFSET %s", (tenant, entity.id, entity.id, entity.id, limit, offset))
        return Neighbours(entity, [_triple(r) for r in rows], total, limit, offset)

    def counts(self, tenant: str) -> dict[str, int]:
        row = self._all("SELECT (SELECT COUNT(*) FROM kg_entities WHERE tenant = %s), "
                        "(SELECT COUNT(*) FROM kg_triples WHERE tenant = %s), "
                        "(SELECT COUNT(*) FROM kg_sources WHERE tenant = %s)", (tenant, tenant, tenant))[0]
        return {"entities": row[0], "triples": row[1], "sources": row[2]}

    def version(self, tenant: str) -> int:
        rows = self._all("SELECT version FROM kg_versions WHERE tenant = %s", (tenant,))
        return rows[0][0] if rows else 0

    def close(self) -> None:
        self._pool.close()


def _drop(cur, tenant: str, source: str) -> int:
    cur.execute("DELETE FROM kg_triples WHERE tenant = %s AND source = %s", (tenant, source))
    n = cur.rowcount
    cur.execute("DELETE FROM kg_aliases WHERE tenant = %s AND source = %s", (tenant, source))
    return n


def _collect(cur, tenant: str) -> None:
    cur.execute("DELETE FROM kg_entities e WHERE e.tenant = %s "
                "AND NOT EXISTS (SELECT 1 FROM kg_triples t WHERE t.tenant = e.tenant AND t.subject = e.id) "
                "AND NOT EXISTS (SELECT 1 FROM kg_triples t WHERE t.tenant = e.tenant AND t.object_id = e.id) "
                "AND NOT EXISTS (SELECT 1 FROM kg_aliases a WHERE a.tenant = e.tenant AND a.entity_id = e.id)",
                (tenant,))


__all__ = ["MAX_PAGE", "PostgresGraphStore"]
