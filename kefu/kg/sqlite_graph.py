"""SQLite graph store: ``kg_*`` tables in the knowledge store's own file (``$KEFU_HOME/kefu.db``).

The knowledge store versions its schema with ``PRAGMA user_version``; the graph tables keep their own
version in ``kg_schema`` so the two never step on each other.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kefu.errors import InputError, StoreError
from kefu.kg.base import Entity, Triple, norm_alias
from kefu.kg.graph_reads import GraphReads
from kefu.store.sqlite_files import open_sqlite

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE kg_entities (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        meta TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (tenant, id)
    );
    CREATE TABLE kg_aliases (
        tenant TEXT NOT NULL,
        alias TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        source TEXT NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (tenant, alias, entity_id, source)
    );
    CREATE INDEX kg_aliases_entity ON kg_aliases (tenant, entity_id);
    CREATE INDEX kg_aliases_source ON kg_aliases (tenant, source);
    CREATE TABLE kg_triples (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant TEXT NOT NULL,
        subject TEXT NOT NULL,
        relation TEXT NOT NULL,
        object TEXT NOT NULL,
        object_id TEXT,
        source TEXT NOT NULL,
        provenance TEXT NOT NULL DEFAULT '{}',
        UNIQUE (tenant, source, subject, relation, object)
    );
    CREATE INDEX kg_triples_subject ON kg_triples (tenant, subject, relation);
    CREATE INDEX kg_triples_object ON kg_triples (tenant, object_id);
    CREATE TABLE kg_sources (
        tenant TEXT NOT NULL,
        source TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (tenant, source)
    );
    CREATE TABLE kg_versions (tenant TEXT PRIMARY KEY, version INTEGER NOT NULL);
    """,
)
def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SQLiteGraphStore(GraphReads):
    """Thread-safe: one connection, one lock; every write is one transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = open_sqlite(self.path, ())
        self._lock = threading.RLock()
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            if self._schema_version() >= len(MIGRATIONS):
                return  # no write lock taken: opening never waits for a long ingest transaction
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("CREATE TABLE IF NOT EXISTS kg_schema (version INTEGER NOT NULL)")
                row = self._db.execute("SELECT version FROM kg_schema").fetchone()
                done = row[0] if row else 0
                for script in MIGRATIONS[done:]:
                    for statement in filter(str.strip, script.split(";")):
                        self._db.execute(statement)
                if row is None:
                    self._db.execute("INSERT INTO kg_schema (version) VALUES (?)", (len(MIGRATIONS),))
                else:
                    self._db.execute("UPDATE kg_schema SET version = ?", (len(MIGRATIONS),))
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                self._db.execute("ROLLBACK")
                raise StoreError(f"{self.path}: graph tables could not be created: {exc}") from exc

    def _schema_version(self) -> int:
        try:
            row = self._db.execute("SELECT version FROM kg_schema").fetchone()
        except sqlite3.OperationalError:
            return 0  # no kg_schema table yet
        return row[0] if row else 0

    # -- writes -----------------------------------------------------------------------------
    def _write(self, what: str, fn) -> Any:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                result = fn()
                self._db.execute("COMMIT")
                return result
            except BaseException as exc:
                self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError):
                    raise StoreError(f"{self.path}: could not {what}: {exc}") from exc
                raise

    def replace_source(self, tenant: str, source: str, content_hash: str, entities: list[Entity],
                       triples: list[Triple]) -> int:
        if not source:
            raise InputError("a graph source needs a name")

        def run() -> int:
            self._drop_source(tenant, source)
            for e in entities:
                self._db.execute(
                    "INSERT INTO kg_entities (tenant, id, name, type, meta) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (tenant, id) DO UPDATE SET name = excluded.name, type = excluded.type, "
                    "meta = excluded.meta",
                    (tenant, e.id, e.name, e.type, json.dumps(e.meta, ensure_ascii=False)))
                for text in dict.fromkeys([e.name, *e.aliases]):
                    alias = norm_alias(text)
                    if alias:
                        self._db.execute("INSERT OR IGNORE INTO kg_aliases (tenant, alias, entity_id, source, text) "
                                         "VALUES (?, ?, ?, ?, ?)", (tenant, alias, e.id, source, text.strip()))
            self._db.executemany(
                "INSERT OR IGNORE INTO kg_triples (tenant, subject, relation, object, object_id, source, "
                "provenance) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(tenant, t.subject, t.relation, t.object, t.object_id, source,
                  json.dumps(t.provenance, ensure_ascii=False)) for t in triples])
            self._db.execute("INSERT INTO kg_sources (tenant, source, content_hash, updated_at) VALUES (?, ?, ?, ?) "
                             "ON CONFLICT (tenant, source) DO UPDATE SET content_hash = excluded.content_hash, "
                             "updated_at = excluded.updated_at", (tenant, source, content_hash, _now()))
            self._collect(tenant)
            self._bump(tenant)
            return self._db.execute("SELECT COUNT(*) FROM kg_triples WHERE tenant = ? AND source = ?",
                                    (tenant, source)).fetchone()[0]

        return self._write(f"store graph source {source!r}", run)

    def delete_source(self, tenant: str, source: str) -> int:
        def run() -> int:
            n = self._drop_source(tenant, source)
            self._db.execute("DELETE FROM kg_sources WHERE tenant = ? AND source = ?", (tenant, source))
            self._collect(tenant)
            self._bump(tenant)
            return n

        return self._write(f"delete graph source {source!r}", run)

    def delete_entities(self, tenant: str, ids: list[str]) -> int:
        def run() -> int:
            n = 0
            for i in range(0, len(ids), 400):
                part = list(ids[i:i + 400])
                marks = ",".join("?" * len(part))
                self._db.execute(f"DELETE FROM kg_triples WHERE tenant = ? AND (subject IN ({marks}) "
                                 f"OR object_id IN ({marks}))", [tenant, *part, *part])
                self._db.execute(f"DELETE FROM kg_aliases WHERE tenant = ? AND entity_id IN ({marks})",
                                 [tenant, *part])
                n += self._db.execute(f"DELETE FROM kg_entities WHERE tenant = ? AND id IN ({marks})",
                                      [tenant, *part]).rowcount
            self._collect(tenant)
            self._bump(tenant)
            return n

        return self._write("delete entities", run)

    def _drop_source(self, tenant: str, source: str) -> int:
        n = self._db.execute("DELETE FROM kg_triples WHERE tenant = ? AND source = ?", (tenant, source)).rowcount
        self._db.execute("DELETE FROM kg_aliases WHERE tenant = ? AND source = ?", (tenant, source))
        return n

    def _collect(self, tenant: str) -> None:
        """Remove entities no triple and no alias refers to any more."""
        self._db.execute(
            "DELETE FROM kg_entities WHERE tenant = ?1 "
            "AND id NOT IN (SELECT subject FROM kg_triples WHERE tenant = ?1) "
            "AND id NOT IN (SELECT object_id FROM kg_triples WHERE tenant = ?1 AND object_id IS NOT NULL) "
            "AND id NOT IN (SELECT entity_id FROM kg_aliases WHERE tenant = ?1)", (tenant,))

    def _bump(self, tenant: str) -> None:
        self._db.execute("INSERT INTO kg_versions (tenant, version) VALUES (?, 1) "
                         "ON CONFLICT (tenant) DO UPDATE SET version = version + 1", (tenant,))

    # -- reads ------------------------------------------------------------------------------
    def _all(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()
