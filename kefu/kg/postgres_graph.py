"""PostgreSQL graph store: the same ``kg_*`` tables as SQLite, in the knowledge store's database.

Passes ``tests/kg/graph_conformance.py`` like the SQLite store; its schema version is the ``kg`` row of
``schema_version`` (shared with the other PostgreSQL stores, migrated under an advisory lock).
"""
from __future__ import annotations

import json
from typing import Any

from kefu.errors import InputError
from kefu.kg.base import MAX_PAGE, Entity, Triple, norm_alias
from kefu.kg.graph_reads import GraphReads
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
class PostgresGraphStore(GraphReads):
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
            return cur.execute(sql.replace("?", "%s"), args).fetchall()  # GraphReads writes ? placeholders

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
