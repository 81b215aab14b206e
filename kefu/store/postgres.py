"""PostgreSQL store: tsvector over jieba tokens ranked with BM25, pgvector HNSW cosine search.

Same behaviour as the SQLite store (``tests/store/conformance.py`` runs on both); what differs:

* Keyword search: each chunk keeps its ``tokenize`` tokens (the ones SQLite feeds FTS5) as the
  lexemes of a ``tsvector`` built from a literal, so PostgreSQL's parser never re-splits a jieba
  word, plus their count. A query is the OR of its distinct tokens (GIN index); candidates are
  ranked with the BM25 formula FTS5 uses (k1 = 1.2, b = 0.75, idf clamped at 1e-6), with ``N``,
  ``avgdl`` and document frequencies of the tenant alone (FTS5 counts the whole file).
* Vectors live in an untyped ``vector`` column; one dimension per store, checked at write time
  under an advisory lock. Once a dimension is known a partial HNSW index on
  ``(embedding::vector(N)) vector_cosine_ops WHERE vector_dims(embedding) = N`` is created, so an
  emptied store may later hold another dimension (like SQLite) without a table rewrite. Searches
  use an iterative index scan (pgvector >= 0.8) with filters in SQL and fall back to an exact scan
  if the index returns fewer than ``k`` rows, so filters never cut ``k`` short. The score is the
  cosine similarity (SQLite's dot product; the same for the unit vectors embedders produce).
* Thread safety: a small connection pool; every method runs in its own transaction (reads in a
  REPEATABLE READ READ ONLY snapshot, so a reader never sees half of a ``replace_document``).
"""
from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np

from kefu.errors import StoreError
from kefu.store.base import Chunk, Document, Filters, Hit

try:  # the optional ``postgres`` extra
    import psycopg
    from psycopg.pq import TransactionStatus
except ImportError:  # pragma: no cover - exercised when the extra is missing
    psycopg = None  # type: ignore[assignment]

# FTS5's bm25() defaults, so keyword ranks agree with the SQLite store.
BM25_K1 = 1.2
BM25_B = 0.75
# pgvector's HNSW defaults; ef_search grows with k (an HNSW scan returns at most ef_search rows per pass).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH_MIN = 100
HNSW_EF_SEARCH_MAX = 1000
MAX_LEXEME_BYTES = 1000  # PostgreSQL refuses lexemes over 2046 bytes; both sides are cut alike
POOL_SIZE = 8
# Held to the end of the transaction; keyed by text and the schema, so kefu instances in other schemas never wait.
ADVISORY_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s || coalesce(current_schema(), ''), 0))"

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE documents (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant TEXT NOT NULL,
        doc_id BIGINT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        source TEXT NOT NULL,
        position INTEGER NOT NULL,
        title TEXT NOT NULL,
        text TEXT NOT NULL,
        lang TEXT NOT NULL,
        kind TEXT NOT NULL,
        question TEXT NOT NULL DEFAULT '',
        answer TEXT NOT NULL DEFAULT '',
        tags JSONB NOT NULL DEFAULT '[]',
        meta TEXT NOT NULL DEFAULT '{}',
        content_hash TEXT NOT NULL,
        tsv TSVECTOR NOT NULL,
        ntokens INTEGER NOT NULL,
        embedding vector
    );
    CREATE INDEX chunks_tenant ON chunks (tenant, source) INCLUDE (ntokens);
    CREATE INDEX chunks_doc ON chunks (doc_id);
    CREATE INDEX chunks_hash ON chunks (tenant, content_hash);
    CREATE INDEX chunks_tenant_kind ON chunks (tenant, kind, id);
    CREATE INDEX chunks_tsv ON chunks USING gin (tsv);
    CREATE INDEX chunks_tags ON chunks USING gin (tags jsonb_path_ops);
    CREATE INDEX chunks_has_vector ON chunks (tenant, id) WHERE embedding IS NOT NULL;
    """,
)

_CHUNK_COLS = ("c.id, c.doc_id, c.tenant, c.source, d.uri, c.position, c.title, c.text, c.lang, c.kind, "
               "c.question, c.answer, c.tags, c.meta, c.content_hash")


def _require_psycopg() -> None:
    if psycopg is None:
        raise StoreError("the PostgreSQL store needs psycopg and pgvector",
                         hint="pip install 'kefu[postgres]'")


def _lock_key(*parts: str) -> str:
    """Text hashed by ``hashtextextended`` into an advisory-lock key (a tenant may hold any character)."""
    return json.dumps(["kefu", *parts], ensure_ascii=False)


def normalize_url(url: str) -> str:
    """``postgresql+psycopg://`` (SQLAlchemy style) and ``postgres://`` both mean libpq's ``postgresql://``."""
    url = str(url)
    scheme, sep, rest = url.partition("://")
    if sep and scheme.split("+", 1)[0] in ("postgresql", "postgres"):
        return "postgresql://" + rest
    return url


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = str(url).partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        auth, _, host = rest.partition("@")
        return f"{scheme}://{auth.split(':', 1)[0]}:***@{host}" if ":" in auth else url
    return url


class Pool:
    """A few autocommit connections shared by threads; a thread holds one for one transaction."""

    def __init__(self, url: str, size: int = POOL_SIZE, configure=None) -> None:
        _require_psycopg()
        self.url = normalize_url(url)
        self._size = size
        self._configure = configure
        self._idle: list[Any] = []
        self._open = 0
        self._cond = threading.Condition()
        self._closed = False

    def _connect(self):
        try:
            conn = psycopg.connect(self.url, autocommit=True, application_name="kefu")
            if self._configure:
                self._configure(conn)
            return conn
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {redact_url(self.url)}: {exc}".strip(),
                             hint="is PostgreSQL running and the database_url right?") from exc

    def acquire(self):
        with self._cond:
            while True:
                if self._closed:
                    raise StoreError(f"the store on {redact_url(self.url)} is closed")
                while self._idle:
                    conn = self._idle.pop()
                    if not conn.closed:
                        return conn
                    self._open -= 1
                if self._open < self._size:
                    self._open += 1
                    break
                self._cond.wait(30)
        try:
            return self._connect()
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def release(self, conn) -> None:
        if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
            try:
                conn.execute("ROLLBACK")
            except psycopg.Error:
                conn.close()
        with self._cond:
            if self._closed or conn.closed or conn.broken:
                conn.close()
                self._open -= 1
            else:
                self._idle.append(conn)
            self._cond.notify()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        conn = self.acquire()
        try:
            yield conn
        finally:
            self.release(conn)

    @contextmanager
    def _begun(self, begin: str, what: str) -> Iterator[Any]:
        """A connection on which ``begin`` ran; broken idle connections are dropped and replaced (nothing
        ran on them yet, so trying again is safe), up to one more time than the pool holds."""
        for attempt in range(self._size + 1):
            conn = self.acquire()
            try:
                conn.execute(begin)
                break
            except psycopg.OperationalError as exc:
                lost = conn.broken or conn.closed
                self.release(conn)
                if not lost or attempt == self._size:
                    raise StoreError(f"{what} failed on {redact_url(self.url)}: "
                                     f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
            except BaseException:
                self.release(conn)
                raise
        try:
            yield conn
        finally:
            self.release(conn)

    @contextmanager
    def transaction(self, *, write: bool, what: str = "query") -> Iterator[Any]:
        """A cursor in one transaction: READ COMMITTED to write, a REPEATABLE READ snapshot to read.

        Database errors become ``StoreError``; others (bad input found mid-way) propagate after the rollback.
        An idle connection the server dropped (a database restart) is replaced before anything runs on it.
        """
        with self._begun("BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", what) as conn:
            try:
                with conn.cursor() as cur:
                    yield cur
                conn.execute("COMMIT")
            except BaseException as exc:
                if not conn.closed:
                    try:
                        conn.execute("ROLLBACK")
                    except psycopg.Error:
                        conn.close()
                if isinstance(exc, psycopg.Error):
                    raise StoreError(f"{what} failed on {redact_url(self.url)}: "
                                     f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
                raise

    def reconfigure(self, configure) -> None:
        """Set up every connection opened from now on with ``configure(conn)``; idle ones are closed."""
        with self._cond:
            self._configure = configure
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            conn.close()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            conn.close()


def migrate_schema(pool: Pool, component: str, migrations: tuple[str, ...], *,
                   extensions: tuple[str, ...] = ()) -> int:
    """Run the ``migrations`` of ``component`` not yet recorded in ``schema_version``; returns the version.

    One transaction under an advisory lock, so processes starting together migrate once.
    """
    try:
        with pool.transaction(write=True, what="migration") as cur:
            cur.execute(ADVISORY_LOCK, (_lock_key("schema"),))
            for name in extensions:
                cur.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")
            cur.execute("CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, "
                        "version INTEGER NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            row = cur.execute("SELECT version FROM schema_version WHERE component = %s", (component,)).fetchone()
            version = row[0] if row else 0
            if version > len(migrations):
                raise StoreError(f"the {component} schema in {redact_url(pool.url)} is version {version}, newer "
                                 f"than this kefu knows ({len(migrations)})", hint="upgrade kefu")
            for number, script in enumerate(migrations[version:], start=version + 1):
                cur.execute(script)
                cur.execute("INSERT INTO schema_version (component, version) VALUES (%s, %s) "
                            "ON CONFLICT (component) DO UPDATE SET version = excluded.version, updated_at = now()",
                            (component, number))
            return len(migrations)
    except StoreError as exc:
        if "permission denied" in exc.message and extensions:
            raise StoreError(exc.message, hint=f"a superuser must run CREATE EXTENSION {extensions[0]} "
                                               f"in this database once") from exc
        raise


def _now() -> str:
    # Microseconds: a source edited twice within a second (same counts) must still read as changed
    # (``sources_version``); ISO strings with and without them still order by time.
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _lexeme(token: str) -> str:
    token = token.replace("\x00", "").strip().lower()
    if len(token.encode()) > MAX_LEXEME_BYTES:
        token = token.encode()[:MAX_LEXEME_BYTES].decode(errors="ignore")
    return token


def _quote(lexeme: str) -> str:
    """A lexeme as a quoted tsvector/tsquery literal: no character is an operator inside the quotes."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(tokens: list[str]) -> str:
    """``'word':1,4 '退款':2 ...``: each token one lexeme, with its positions (PostgreSQL keeps <= 256)."""
    positions: dict[str, list[int]] = {}
    for n, token in enumerate(tokens, 1):
        lexeme = _lexeme(token)
        if lexeme:
            spots = positions.setdefault(lexeme, [])
            if len(spots) < 256:
                spots.append(min(n, 16383))
    return " ".join(f"{_quote(lex)}:{','.join(map(str, spots))}" for lex, spots in positions.items())


def _chunk_tokens(chunk: Chunk) -> list[str]:
    from kefu.nlp.text import tokenize

    return tokenize(" ".join(filter(None, (chunk.title, chunk.question, chunk.text))), stopwords=True)


def _configure(conn) -> None:
    from pgvector.psycopg.vector import register_vector_info
    from psycopg.types import TypeInfo

    register_vector_info(conn, TypeInfo.fetch(conn, "vector"))


class PostgresStore:
    """The store on a PostgreSQL database with the pgvector extension. Safe to share between threads."""

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        _require_psycopg()
        self.url = normalize_url(url)
        self._pool = Pool(self.url, pool_size)
        self._indexed_dims: set[int] = set()
        try:
            migrate_schema(self._pool, "store", MIGRATIONS, extensions=("vector",))
            self._pool.reconfigure(_configure)  # the vector type exists now
            with self._pool.transaction(write=False, what="checking pgvector") as cur:
                version = cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
            numbers = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
            if numbers < (0, 5):
                raise StoreError(f"pgvector {version} has no HNSW index; kefu needs 0.5 or later",
                                 hint="ALTER EXTENSION vector UPDATE")
        except BaseException:
            self._pool.close()
            raise
        # Iterative index scans (0.8+) keep reading the index until filters leave k rows; before that,
        # a filtered search that comes back short is redone exactly.
        self._iterative_scan = numbers >= (0, 8)

    # -- documents --------------------------------------------------------------------------
    def get_document(self, tenant: str, uri: str) -> Document | None:
        with self._pool.transaction(write=False, what="get_document") as cur:
            row = cur.execute("SELECT id, tenant, source, uri, title, kind, lang, content_hash, meta, updated_at "
                              "FROM documents WHERE tenant = %s AND uri = %s", (tenant, uri)).fetchone()
        return _document(row) if row else None

    def list_documents(self, tenant: str, source: str | None = None) -> list[Document]:
        sql = ("SELECT id, tenant, source, uri, title, kind, lang, content_hash, meta, updated_at "
               "FROM documents WHERE tenant = %s")
        args: list[Any] = [tenant]
        if source is not None:
            sql += " AND source = %s"
            args.append(source)
        with self._pool.transaction(write=False, what="list_documents") as cur:
            rows = cur.execute(sql + " ORDER BY uri COLLATE \"C\"", args).fetchall()
        return [_document(r) for r in rows]

    def replace_document(self, doc: Document, chunks: list[Chunk]) -> int:
        chunks = list(chunks)
        rows, vector_dims = [], set()
        for chunk in chunks:  # every value is checked before the transaction starts
            vector = None
            if chunk.vector is not None:
                vector = np.ascontiguousarray(np.asarray(chunk.vector, dtype=np.float32).ravel())
                if not np.isfinite(vector).all():
                    raise StoreError(f"chunk {chunk.position} of {doc.uri} has a vector with NaN or infinity")
                vector_dims.add(vector.shape[0])
            tokens = _chunk_tokens(chunk)
            rows.append([doc.tenant, None, doc.source, chunk.position, chunk.title, chunk.text, chunk.lang,
                         chunk.kind, chunk.question, chunk.answer, json.dumps(chunk.tags, ensure_ascii=False),
                         json.dumps(chunk.meta, ensure_ascii=False), chunk.content_hash, tsvector_literal(tokens),
                         len(tokens), vector])
        doc_meta = json.dumps(doc.meta, ensure_ascii=False)
        new_index = 0
        with self._pool.transaction(write=True, what=f"storing {doc.uri}") as cur:
            # Writers of one uri queue up (the second replaces the first's document, not a duplicate);
            # writers with vectors queue on the store's dimension.
            cur.execute(ADVISORY_LOCK, (_lock_key("doc", doc.tenant, doc.uri),))
            if vector_dims:
                cur.execute(ADVISORY_LOCK, (_lock_key("vector-dim"),))
            cur.execute("DELETE FROM documents WHERE tenant = %s AND uri = %s", (doc.tenant, doc.uri))
            doc_id = cur.execute(
                "INSERT INTO documents (tenant, source, uri, title, kind, lang, content_hash, meta, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (doc.tenant, doc.source, doc.uri, doc.title, doc.kind, doc.lang, doc.content_hash, doc_meta,
                 _now())).fetchone()[0]
            if vector_dims:
                dim = self._dim(cur)
                for chunk, row in zip(chunks, rows):
                    size = row[-1].shape[0] if row[-1] is not None else None
                    if size is not None and dim is not None and size != dim:
                        raise StoreError(f"chunk {chunk.position} of {doc.uri} has a {size}-d vector "
                                         f"but the store holds {dim}-d vectors",
                                         hint="re-ingest after changing the embedder")
                    dim = dim or size
                new_index = self._ensure_index(cur, dim)
            for row in rows:
                row[1] = doc_id
            ids: list[int] = []
            if rows:
                cur.executemany(
                    "INSERT INTO chunks (tenant, doc_id, source, position, title, text, lang, kind, question, "
                    "answer, tags, meta, content_hash, tsv, ntokens, embedding) VALUES "
                    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s::tsvector, %s, %s) RETURNING id",
                    rows, returning=True)
                while True:
                    ids.append(cur.fetchone()[0])
                    if not cur.nextset():
                        break
        if new_index:
            self._indexed_dims.add(new_index)
        for chunk, chunk_id in zip(chunks, ids):
            chunk.id, chunk.doc_id = chunk_id, doc_id
        doc.id = doc_id
        return doc_id

    def _dim(self, cur) -> int | None:
        row = cur.execute("SELECT vector_dims(embedding) FROM chunks WHERE embedding IS NOT NULL LIMIT 1").fetchone()
        return row[0] if row else None

    def _ensure_index(self, cur, dim: int) -> int:
        """Create the HNSW index for ``dim``-d vectors unless it exists (under the dimension lock, so once).

        Returns ``dim``, to be remembered once the transaction commits.
        """
        dim = int(dim)
        if dim in self._indexed_dims:
            return dim
        if not 0 < dim <= 2000:  # pgvector's HNSW limit for the vector type
            raise StoreError(f"{dim}-d vectors cannot be indexed by HNSW (at most 2000 dimensions)")
        name = f"chunks_embedding_hnsw_{dim}"
        if cur.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is None:
            cur.execute(f"CREATE INDEX {name} ON chunks USING hnsw ((embedding::vector({dim})) vector_cosine_ops) "
                        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) "
                        f"WHERE vector_dims(embedding) = {dim}")
        return dim

    def delete_source(self, tenant: str, source: str) -> int:
        with self._pool.transaction(write=True, what=f"deleting source {source!r}") as cur:
            cur.execute("DELETE FROM documents WHERE tenant = %s AND source = %s", (tenant, source))
            return cur.rowcount

    def list_sources(self, tenant: str) -> list[dict[str, Any]]:
        with self._pool.transaction(write=False, what="list_sources") as cur:
            rows = cur.execute(
                "SELECT d.source, COUNT(DISTINCT d.id), COUNT(c.id), MAX(d.updated_at) "
                "FROM documents d LEFT JOIN chunks c ON c.doc_id = d.id "
                "WHERE d.tenant = %s GROUP BY d.source ORDER BY d.source COLLATE \"C\"", (tenant,)).fetchall()
        return [{"source": r[0], "documents": r[1], "chunks": r[2], "updated_at": r[3]} for r in rows]

    def existing_chunk_hashes(self, tenant: str, hashes: list[str], exclude_uri: str) -> set[str]:
        if not hashes:
            return set()
        with self._pool.transaction(write=False, what="existing_chunk_hashes") as cur:
            rows = cur.execute(
                "SELECT DISTINCT c.content_hash FROM chunks c JOIN documents d ON d.id = c.doc_id "
                "WHERE c.tenant = %s AND d.uri <> %s AND c.content_hash = ANY(%s::text[])",
                (tenant, exclude_uri, list(hashes))).fetchall()
        return {r[0] for r in rows}

    # -- search -----------------------------------------------------------------------------
    @staticmethod
    def _filter_sql(filters: Filters | None) -> tuple[str, list[Any]]:
        if not filters:
            return "", []
        sql, args = "", []
        for column, values in (("source", filters.sources), ("lang", filters.langs), ("kind", filters.kinds)):
            if values:
                sql += f" AND c.{column} = ANY(%s::text[])"
                args.append(list(values))
        for tag in filters.tags:
            sql += " AND c.tags @> jsonb_build_array(%s::text)"
            args.append(tag)
        return sql, args

    def keyword_search(self, tenant: str, tokens: list[str], k: int,
                       filters: Filters | None = None) -> list[Hit]:
        terms = sorted({lex for lex in (_lexeme(t) for t in tokens) if lex})
        if not terms or k <= 0:
            return []
        queries = [_quote(t) for t in terms]
        where, args = self._filter_sql(filters)
        with self._pool.transaction(write=False, what="keyword search") as cur:
            n, avgdl = cur.execute("SELECT COUNT(*), COALESCE(AVG(ntokens), 0) FROM chunks WHERE tenant = %s",
                                   (tenant,)).fetchone()
            if not n:
                return []
            dfs = dict(cur.execute(
                "SELECT t.term, (SELECT COUNT(*) FROM chunks c WHERE c.tenant = %s AND c.tsv @@ t.q) "
                "FROM unnest(%s::text[], %s::tsquery[]) AS t(term, q)", (tenant, terms, queries)).fetchall())
            idfs = [max(math.log((n - dfs[t] + 0.5) / (dfs[t] + 0.5)), 1e-6) for t in terms]
            # tf = how many positions a query lexeme has in the chunk. setweight + ts_filter (both in C) keep
            # only the query's lexemes before unnest: about half the time of unnesting the whole tsvector.
            rows = cur.execute(
                "WITH q(term, idf) AS (SELECT * FROM unnest(%s::text[], %s::float8[])) "
                "SELECT c.id, SUM(q.idf * cardinality(u.positions) * %s / (cardinality(u.positions) "
                "+ %s * (1 - %s + %s * c.ntokens / %s))) AS score "
                "FROM chunks c CROSS JOIN LATERAL unnest(ts_filter(setweight(c.tsv, 'A', %s::text[]), '{a}')) AS u "
                f"JOIN q ON q.term = u.lexeme WHERE c.tenant = %s AND c.tsv @@ %s::tsquery{where} "
                "GROUP BY c.id ORDER BY score DESC, c.id LIMIT %s",
                [terms, idfs, BM25_K1 + 1, BM25_K1, BM25_B, BM25_B, max(float(avgdl), 1e-9), terms, tenant,
                 " | ".join(queries), *args, int(k)]).fetchall()
            return self._hits(cur, tenant, [(r[0], float(r[1])) for r in rows])

    def vector_search(self, tenant: str, vector: np.ndarray, k: int,
                      filters: Filters | None = None) -> list[Hit]:
        query = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).ravel())
        if k <= 0:
            return []
        where, args = self._filter_sql(filters)
        with self._pool.transaction(write=False, what="vector search") as cur:
            row = cur.execute("SELECT vector_dims(embedding) FROM chunks WHERE tenant = %s AND embedding IS NOT NULL "
                              "LIMIT 1", (tenant,)).fetchone()
            if row is None:
                return []
            dim = int(row[0])
            if query.shape[0] != dim:
                raise StoreError(f"query vector has {query.shape[0]} dimensions but the store holds {dim}",
                                 hint="re-ingest after changing the embedder")
            ef_search = max(HNSW_EF_SEARCH_MIN, min(HNSW_EF_SEARCH_MAX, 2 * int(k)))
            cur.execute(f"SET LOCAL hnsw.ef_search = {ef_search}")
            if self._iterative_scan:
                cur.execute("SET LOCAL hnsw.iterative_scan = strict_order")
            distance = f"(c.embedding::vector({dim}) <=> %s::vector({dim}))"
            sql = (f"SELECT c.id, {distance} AS d FROM chunks c WHERE c.tenant = %s "
                   f"AND vector_dims(c.embedding) = {dim}{where} ORDER BY {{order}} LIMIT %s")
            rows = cur.execute(sql.format(order=distance), [query, tenant, *args, query, int(k)]).fetchall()
            if len(rows) < k:  # the index ran out of candidates (selective filters): scan exactly
                rows = cur.execute(sql.format(order="d, c.id"), [query, tenant, *args, int(k)]).fetchall()
            scored = [(r[0], 0.0 if r[1] is None or math.isnan(r[1]) else 1.0 - float(r[1])) for r in rows]
            return self._hits(cur, tenant, scored)

    def _hits(self, cur, tenant: str, scored: list[tuple[int, float]]) -> list[Hit]:
        chunks = {c.id: c for c in self._get_chunks(cur, tenant, [i for i, _ in scored], vectors=True)}
        return [Hit(chunks[i], s, rank) for rank, (i, s) in enumerate(scored, 1) if i in chunks]

    def _get_chunks(self, cur, tenant: str, ids: list[int], *, vectors: bool) -> list[Chunk]:
        if not ids:
            return []
        rows = cur.execute(
            f"SELECT {_CHUNK_COLS}, {'c.embedding' if vectors else 'NULL'} FROM chunks c "
            "JOIN documents d ON d.id = c.doc_id WHERE c.tenant = %s AND c.id = ANY(%s::bigint[])",
            (tenant, [int(i) for i in ids])).fetchall()
        order = {cid: n for n, cid in enumerate(ids)}
        return sorted((_chunk(r) for r in rows), key=lambda c: order[c.id])

    def get_chunks(self, tenant: str, ids: list[int]) -> list[Chunk]:
        if not ids:
            return []
        with self._pool.transaction(write=False, what="get_chunks") as cur:
            return self._get_chunks(cur, tenant, list(ids), vectors=True)

    def list_chunks(self, tenant: str, kinds: list[str], limit: int = 10_000) -> list[Chunk]:
        if not kinds:
            return []
        with self._pool.transaction(write=False, what="list_chunks") as cur:
            rows = cur.execute(
                f"SELECT {_CHUNK_COLS}, NULL FROM chunks c JOIN documents d ON d.id = c.doc_id "
                "WHERE c.tenant = %s AND c.kind = ANY(%s::text[]) ORDER BY c.id LIMIT %s",
                (tenant, list(kinds), int(limit))).fetchall()
        return [_chunk(r) for r in rows]

    def count_chunks(self, tenant: str) -> int:
        with self._pool.transaction(write=False, what="count_chunks") as cur:
            return cur.execute("SELECT COUNT(*) FROM chunks WHERE tenant = %s", (tenant,)).fetchone()[0]

    def list_tenants(self) -> list[str]:
        """Every tenant holding a document (not in the ``Store`` protocol; used by ``kefu.store.migrate``)."""
        with self._pool.transaction(write=False, what="list_tenants") as cur:
            rows = cur.execute("SELECT tenant FROM documents GROUP BY tenant ORDER BY tenant COLLATE \"C\"").fetchall()
        return [r[0] for r in rows]

    def chunk_kinds(self, tenant: str) -> list[str]:
        """The kinds of the tenant's chunks (not in the protocol; lets a migration list every chunk)."""
        with self._pool.transaction(write=False, what="chunk_kinds") as cur:
            return [r[0] for r in cur.execute("SELECT DISTINCT kind FROM chunks WHERE tenant = %s ORDER BY 1",
                                              (tenant,))]

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._pool.transaction(write=False, what="get_meta") as cur:
            row = cur.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._pool.transaction(write=True, what="set_meta") as cur:
            cur.execute("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) "
                        "DO UPDATE SET value = excluded.value", (key, value))

    def close(self) -> None:
        self._pool.close()


def _document(row: tuple) -> Document:
    return Document(id=row[0], tenant=row[1], source=row[2], uri=row[3], title=row[4], kind=row[5],
                    lang=row[6], content_hash=row[7], meta=json.loads(row[8]), updated_at=row[9])


def _chunk(row: tuple) -> Chunk:
    vector = None
    if row[15] is not None:
        vector = np.array(row[15].to_numpy(), dtype=np.float32)
    return Chunk(id=row[0], doc_id=row[1], tenant=row[2], source=row[3], uri=row[4], position=row[5],
                 title=row[6], text=row[7], lang=row[8], kind=row[9], question=row[10],
                 answer=row[11], tags=row[12], meta=json.loads(row[13]), content_hash=row[14], vector=vector)
