"""The SQLite graph store passes the conformance suite and shares the knowledge store's file."""
from __future__ import annotations

import pytest

from kefu.kg.sqlite_graph import SQLiteGraphStore
from kefu.store.sqlite import SQLiteStore
from tests.kg.graph_conformance import GraphStoreConformance, ent, tri


class TestSQLiteGraphStore(GraphStoreConformance):
    @pytest.fixture
    def graph(self, tmp_path):
        g = SQLiteGraphStore(tmp_path / "kefu.db")
        yield g
        g.close()


def test_lives_beside_the_knowledge_store_in_one_file(tmp_path):
    path = tmp_path / "kefu.db"
    graph = SQLiteGraphStore(path)  # first: the store's own migrations still run afterwards
    store = SQLiteStore(path)
    a = ent("A")
    graph.replace_source("acme", "s", "h", [a], [tri(a, "p", "1")])
    assert store.count_chunks("acme") == 0
    graph.close()
    again = SQLiteGraphStore(path)  # reopening does not migrate twice
    assert again.counts("acme")["triples"] == 1
    again.close()
    store.close()
