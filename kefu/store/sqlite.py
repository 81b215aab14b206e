"""SQLite store: one file, WAL, FTS5 over jieba-tokenised text, float32 vectors searched with numpy."""
from __future__ import annotations

import functools
import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from kefu.errors import StoreError
from kefu.store.base import Chunk, Document, Filters, Hit
from kefu.store.sqlite_files import open_sqlite

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE documents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant TEXT NOT NULL,
        source TEXT NOT NULL,
        uri TEXT NOT NULL,
        title TEXT NOT NULL,
        kind TEXT NOT NULL,
        lang TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        meta TEXT NOT NULL DEFAULT '{}',
        updated_at TEXT NOT NULL,
        UNIQUE (tenant, uri)
    );
    CREATE INDEX documents_source ON documents (tenant, source);
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant TEXT NOT NULL,
        doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        position INTEGER NOT NULL,
        title TEXT NOT NULL,
        text TEXT NOT NULL,
        lang TEXT NOT NULL,
        kind TEXT NOT NULL,
        question TEXT NOT NULL DEFAULT '',
        answer TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '[]',
        meta TEXT NOT NULL DEFAULT '{}',
        content_hash TEXT NOT NULL,
        vector BLOB
    );
    CREATE INDEX chunks_tenant ON chunks (tenant, source);
    CREATE INDEX chunks_doc ON chunks (doc_id);
    CREATE INDEX chunks_hash ON chunks (tenant, content_hash);
    CREATE VIRTUAL TABLE chunks_fts USING fts5 (tokens, tokenize = 'unicode61 remove_diacritics 2');
    """,
)

# Keyword search skips query terms found in more chunks than this (see SQLiteStore._selective_terms).
COMMON_TERM_MIN_DF = 2000
COMMON_TERM_SHARE = 0.1

def _locked(method):
    """Reads share the connection with writes: hold the lock so none sees a transaction half-done."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


def _now() -> str:
    # Microseconds: a source edited twice within a second (same counts) must still read as changed
    # (``sources_version``); ISO strings with and without them still order by time.
    return datetime.now(UTC).isoformat(timespec="microseconds")


class SQLiteStore:
    """The embedded default store. Safe to share between threads (one lock per write)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = open_sqlite(self.path, MIGRATIONS, foreign_keys=True)
        self._lock = threading.RLock()
        self._vectors: dict[str, tuple] = {}
        self._df_cache: dict[str, Any] = {}
        self._writes = 0  # this connection's own writes: PRAGMA data_version only sees other connections'
        self._db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab USING fts5vocab(main, chunks_fts, row)")

    # -- documents --------------------------------------------------------------------------
    @_locked
    def get_document(self, tenant: str, uri: str) -> Document | None:
        row = self._db.execute(
            "SELECT id, tenant, source, uri, title, kind, lang, content_hash, meta, updated_at "
            "FROM documents WHERE tenant = ? AND uri = ?", (tenant, uri)).fetchone()
        return _document(row) if row else None

    @_locked
    def list_documents(self, tenant: str, source: str | None = None) -> list[Document]:
        sql = ("SELECT id, tenant, source, uri, title, kind, lang, content_hash, meta, updated_at "
               "FROM documents WHERE tenant = ?")
        args: list[Any] = [tenant]
        if source is not None:
            sql += " AND source = ?"
            args.append(source)
        return [_document(r) for r in self._db.execute(sql + " ORDER BY uri", args)]

    def replace_document(self, doc: Document, chunks: list[Chunk]) -> int:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                old = self._db.execute("SELECT id FROM documents WHERE tenant = ? AND uri = ?",
                                       (doc.tenant, doc.uri)).fetchone()
                if old:
                    self._delete_docs([old[0]])
                cur = self._db.execute(
                    "INSERT INTO documents (tenant, source, uri, title, kind, lang, content_hash, "
                    "meta, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (doc.tenant, doc.source, doc.uri, doc.title, doc.kind, doc.lang,
                     doc.content_hash, json.dumps(doc.meta, ensure_ascii=False), _now()))
                doc_id = cur.lastrowid
                dim = self._dim()  # once per document, not once per chunk
                for chunk in chunks:
                    dim = self._insert_chunk(doc, doc_id, chunk, dim)
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError):
                    raise StoreError(f"could not store {doc.uri}: {exc}") from exc
                raise
            self._writes += 1
            doc.id = doc_id
            return doc_id

    def _insert_chunk(self, doc: Document, doc_id: int, chunk: Chunk, dim: int | None) -> int | None:
        """Insert one chunk; returns the vector dimension the store now holds."""
        from kefu.nlp.text import tokenize

        vector = None
        if chunk.vector is not None:
            array = np.asarray(chunk.vector, dtype=np.float32).ravel()
            if dim is not None and array.shape[0] != dim:
                raise StoreError(f"chunk {chunk.position} of {doc.uri} has a {array.shape[0]}-d vector "
                                 f"but the store holds {dim}-d vectors",
                                 hint="re-ingest after changing the embedder")
            vector = array.tobytes()
            dim = array.shape[0]
        cur = self._db.execute(
            "INSERT INTO chunks (tenant, doc_id, source, position, title, text, lang, kind, question,"
            " answer, tags, meta, content_hash, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (doc.tenant, doc_id, doc.source, chunk.position, chunk.title, chunk.text, chunk.lang,
             chunk.kind, chunk.question, chunk.answer, json.dumps(chunk.tags, ensure_ascii=False),
             json.dumps(chunk.meta, ensure_ascii=False), chunk.content_hash, vector))
        tokens = tokenize(" ".join(filter(None, (chunk.title, chunk.question, chunk.text))),
                          stopwords=True)
        self._db.execute("INSERT INTO chunks_fts (rowid, tokens) VALUES (?, ?)",
                         (cur.lastrowid, " ".join(tokens)))
        chunk.id, chunk.doc_id = cur.lastrowid, doc_id
        return dim

    def _dim(self) -> int | None:
        row = self._db.execute(
            "SELECT length(vector) FROM chunks WHERE vector IS NOT NULL LIMIT 1").fetchone()
        return row[0] // 4 if row else None

    def _delete_docs(self, doc_ids: list[int]) -> None:
        marks = ",".join("?" * len(doc_ids))
        self._db.execute(f"DELETE FROM chunks_fts WHERE rowid IN "
                         f"(SELECT id FROM chunks WHERE doc_id IN ({marks}))", doc_ids)
        self._db.execute(f"DELETE FROM chunks WHERE doc_id IN ({marks})", doc_ids)
        self._db.execute(f"DELETE FROM documents WHERE id IN ({marks})", doc_ids)

    def delete_source(self, tenant: str, source: str) -> int:
        with self._lock:
            ids = [r[0] for r in self._db.execute(
                "SELECT id FROM documents WHERE tenant = ? AND source = ?", (tenant, source))]
            if not ids:
                return 0
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._delete_docs(ids)
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                self._db.execute("ROLLBACK")
                raise StoreError(f"could not delete source {source!r}: {exc}") from exc
            self._writes += 1
            return len(ids)

    @_locked
    def list_sources(self, tenant: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT d.source, COUNT(DISTINCT d.id), COUNT(c.id), MAX(d.updated_at) "
            "FROM documents d LEFT JOIN chunks c ON c.doc_id = d.id "
            "WHERE d.tenant = ? GROUP BY d.source ORDER BY d.source", (tenant,))
        return [{"source": r[0], "documents": r[1], "chunks": r[2], "updated_at": r[3]} for r in rows]

    @_locked
    def list_tenants(self) -> list[str]:
        """Every tenant holding a document (not in the ``Store`` protocol; as ``PostgresStore.list_tenants``)."""
        return [r[0] for r in self._db.execute("SELECT DISTINCT tenant FROM documents ORDER BY tenant")]

    @_locked
    def existing_chunk_hashes(self, tenant: str, hashes: list[str], exclude_uri: str) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(hashes), 500):
            part = hashes[i:i + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT c.content_hash FROM chunks c JOIN documents d ON d.id = c.doc_id "
                f"WHERE c.tenant = ? AND d.uri != ? AND c.content_hash IN ({marks})",
                [tenant, exclude_uri, *part])
            found.update(r[0] for r in rows)
        return found

    # -- search -----------------------------------------------------------------------------
    def _filter_sql(self, filters: Filters | None, alias: str = "c") -> tuple[str, list[Any]]:
        if not filters:
            return "", []
        sql, args = "", []
        for column, values in (("source", filters.sources), ("lang", filters.langs),
                               ("kind", filters.kinds)):
            if values:
                sql += f" AND {alias}.{column} IN ({','.join('?' * len(values))})"
                args += list(values)
        for tag in filters.tags:
            sql += f" AND EXISTS (SELECT 1 FROM json_each({alias}.tags) WHERE value = ?)"
            args.append(tag)
        return sql, args

    @_locked
    def keyword_search(self, tenant: str, tokens: list[str], k: int,
                       filters: Filters | None = None) -> list[Hit]:
        terms = self._selective_terms(sorted({t for t in tokens if t.strip()}))
        if not terms:
            return []
        query = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        where, args = self._filter_sql(filters)
        try:
            rows = self._db.execute(
                f"SELECT c.id, bm25(chunks_fts) AS s FROM chunks_fts JOIN chunks c "
                f"ON c.id = chunks_fts.rowid WHERE chunks_fts MATCH ? AND +c.tenant = ?{where} "
                f"ORDER BY s LIMIT ?", [query, tenant, *args, k]).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreError(f"keyword search failed: {exc}") from exc
        return self._hits(tenant, [(r[0], -r[1]) for r in rows])

    def _version(self) -> tuple[int, int]:
        """Changes whenever any connection (``data_version``) or this one (``_writes``) changed the data:
        the key of the cached vector matrices and term frequencies."""
        return self._db.execute("PRAGMA data_version").fetchone()[0], self._writes

    def _selective_terms(self, terms: list[str]) -> list[str]:
        """``terms`` without those so common that scoring their postings costs more than they tell.

        BM25 gives a word found in a tenth of all chunks little weight, yet FTS5 must score every
        chunk that holds it ("不", "很" in 30k reviews: 7-10k each). Such terms are dropped once the
        index is large; the rarest terms always stay, so a query never loses all of its words.
        """
        if len(terms) <= 1:
            return terms
        total, df = self._document_frequencies(terms)
        limit = max(COMMON_TERM_MIN_DF, COMMON_TERM_SHARE * total)
        kept = [t for t in terms if df.get(t, 0) <= limit]
        return kept or sorted(terms, key=lambda t: df.get(t, 0))[:1]

    def _document_frequencies(self, terms: list[str]) -> tuple[int, dict[str, int]]:
        version = self._version()
        if self._df_cache.get("version") != version:
            self._df_cache = {"version": version, "terms": {},
                              "total": self._db.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0]}
        known = self._df_cache["terms"]
        missing = [t for t in terms if t not in known]
        if missing:
            marks = ",".join("?" * len(missing))
            found = dict(self._db.execute(
                f"SELECT term, doc FROM temp.chunks_vocab WHERE term IN ({marks})", missing).fetchall())
            for t in missing:
                known[t] = found.get(t, 0)
            if len(known) > 50_000:
                known.clear()
        return self._df_cache["total"], known

    def _matrix(self, tenant: str, kinds: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
        """Chunk ids and their vectors (rows of ``kinds`` only, when given), cached until a write."""
        version = self._version()
        cached = self._vectors.get(tenant)
        if not cached or cached[0] != version:
            rows = self._db.execute("SELECT id, vector, kind FROM chunks WHERE tenant = ? AND vector IS NOT NULL",
                                    (tenant,)).fetchall()
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            if rows:
                matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            else:
                matrix = np.zeros((0, 0), dtype=np.float32)
            cached = self._vectors[tenant] = (version, {(): (ids, matrix)}, np.array([r[2] for r in rows]))
        views, row_kinds = cached[1], cached[2]
        key = tuple(sorted(set(kinds)))
        if key not in views:
            # A separate (copied) matrix per kind set: the retriever searches questions and passages
            # apart, and two matmuls over half the rows cost one over all of them.
            ids, matrix = views[()]
            keep = np.isin(row_kinds, key)
            views[key] = (ids[keep], np.ascontiguousarray(matrix[keep]))
        return views[key]

    def vector_search(self, tenant: str, vector: np.ndarray, k: int,
                      filters: Filters | None = None) -> list[Hit]:
        with self._lock:
            ids, matrix = self._matrix(tenant, tuple(filters.kinds) if filters and filters.kinds else ())
        if not len(ids):
            return []
        vector = np.asarray(vector, dtype=np.float32).ravel()
        if matrix.shape[1] != vector.shape[0]:
            raise StoreError(f"query vector has {vector.shape[0]} dimensions but the store holds "
                             f"{matrix.shape[1]}", hint="re-ingest after changing the embedder")
        scores = matrix @ vector
        if filters and (filters.sources or filters.tags or filters.langs):
            where, args = self._filter_sql(filters)
            with self._lock:
                allowed = np.fromiter((r[0] for r in self._db.execute(
                    f"SELECT c.id FROM chunks c WHERE c.tenant = ?{where}", [tenant, *args])), np.int64)
            scores = np.where(np.isin(ids, allowed), scores, -np.inf)
        k = min(k, len(ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return self._hits(tenant, [(int(ids[i]), float(scores[i])) for i in top
                                   if np.isfinite(scores[i])])

    def _hits(self, tenant: str, scored: list[tuple[int, float]]) -> list[Hit]:
        chunks = {c.id: c for c in self.get_chunks(tenant, [i for i, _ in scored])}
        return [Hit(chunks[i], s, rank) for rank, (i, s) in enumerate(scored, 1) if i in chunks]

    @_locked
    def get_chunks(self, tenant: str, ids: list[int]) -> list[Chunk]:
        out: list[Chunk] = []
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT c.id, c.doc_id, c.tenant, c.source, d.uri, c.position, c.title, c.text, "
                f"c.lang, c.kind, c.question, c.answer, c.tags, c.meta, c.content_hash, c.vector "
                f"FROM chunks c JOIN documents d ON d.id = c.doc_id "
                # `+c.tenant`: look rows up by id; the tenant index would scan the whole tenant.
                f"WHERE +c.tenant = ? AND c.id IN ({marks})", [tenant, *part])
            out += [_chunk(r) for r in rows]
        order = {cid: n for n, cid in enumerate(ids)}
        return sorted(out, key=lambda c: order[c.id])

    @_locked
    def list_chunks(self, tenant: str, kinds: list[str], limit: int = 10_000) -> list[Chunk]:
        if not kinds:
            return []
        marks = ",".join("?" * len(kinds))
        rows = self._db.execute(
            f"SELECT c.id, c.doc_id, c.tenant, c.source, d.uri, c.position, c.title, c.text, "
            f"c.lang, c.kind, c.question, c.answer, c.tags, c.meta, c.content_hash, NULL "
            f"FROM chunks c JOIN documents d ON d.id = c.doc_id "
            f"WHERE c.tenant = ? AND c.kind IN ({marks}) ORDER BY c.id LIMIT ?", [tenant, *kinds, int(limit)])
        return [_chunk(r) for r in rows]

    @_locked
    def count_chunks(self, tenant: str) -> int:
        return self._db.execute("SELECT COUNT(*) FROM chunks WHERE tenant = ?", (tenant,)).fetchone()[0]

    # -- meta -------------------------------------------------------------------------------
    @_locked
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) "
                             "DO UPDATE SET value = excluded.value", (key, value))

    def close(self) -> None:
        self._db.close()


def _document(row: tuple) -> Document:
    return Document(id=row[0], tenant=row[1], source=row[2], uri=row[3], title=row[4], kind=row[5],
                    lang=row[6], content_hash=row[7], meta=json.loads(row[8]), updated_at=row[9])


def _chunk(row: tuple) -> Chunk:
    vector = np.frombuffer(row[15], dtype=np.float32) if row[15] is not None else None
    return Chunk(id=row[0], doc_id=row[1], tenant=row[2], source=row[3], uri=row[4], position=row[5],
                 title=row[6], text=row[7], lang=row[8], kind=row[9], question=row[10],
                 answer=row[11], tags=json.loads(row[12]), meta=json.loads(row[13]),
                 content_hash=row[14], vector=vector)
