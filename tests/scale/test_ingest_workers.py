"""Parallel ingestion on PostgreSQL: N worker processes, a job table with SKIP LOCKED, takeover and resume."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kefu.config import Config
from kefu.engine import Engine
from kefu.errors import InputError
from kefu.ingest.loaders.base import LoadOptions
from kefu.ingest.pipeline import Ingestor, IngestReport
from kefu.ingest.workers import ingest_parallel, run_id
from kefu.store.pg_jobs import PostgresJobQueue
from tests import helpers

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    root = helpers.bilingual_kb(tmp_path_factory.mktemp("kb") / "kb")
    for n in range(6):  # a few more files, so two workers share the work
        helpers.write(root / f"notes/note{n}.md", f"# Note {n}\n\nWarehouse {n} ships parcels on day {n + 1} of "
                                                  f"the week; returns to warehouse {n} take {n + 3} days.\n")
    return root


def config(home, database: str) -> Config:
    return Config.load(home, env={}, overrides={"database_url": database, "embedder": "hash"})


def snapshot(database: str, home) -> tuple[int, list[tuple[str, str]]]:
    engine = Engine(config(home, database))
    try:
        docs = engine.store.list_documents("acme")
        return engine.store.count_chunks("acme"), sorted((d.uri, d.content_hash) for d in docs)
    finally:
        engine.close()


def test_two_workers_ingest_what_one_process_does(pg, kb, tmp_path):
    one, two = pg.create_database(), pg.create_database()
    engine = Engine(config(tmp_path / "one", one))
    try:
        expected = engine.ingestor.ingest([kb], tenant="acme").totals()
    finally:
        engine.close()
    report = ingest_parallel(config(tmp_path / "two", two), [kb], tenant="acme", workers=2)
    assert report.totals() == expected and expected["failed"] == 0 and expected["files"] >= 8
    assert snapshot(two, tmp_path / "s2") == snapshot(one, tmp_path / "s1")
    queue = PostgresJobQueue(two)
    try:
        results = queue.results(run_id("acme", _files(kb), LoadOptions()))
        assert {status for _, status, _, _ in results} == {"done"} and len(results) == expected["files"]
    finally:
        queue.close()
    # The same command again: a finished run starts over and every file is unchanged.
    again = ingest_parallel(config(tmp_path / "two", two), [kb], tenant="acme", workers=2)
    assert again.totals()["unchanged"] == expected["files"]


def test_a_dead_workers_job_is_taken_over_and_the_run_resumed(pg, kb, tmp_path):
    database = pg.create_database()
    files = _files(kb)
    run = run_id("acme", files, LoadOptions())
    queue = PostgresJobQueue(database)
    try:
        queue.enqueue(run, "acme", [(str(p.resolve()), s, u) for p, s, u in files])
        dead = queue.claim(run, "host:1:dead", lease_s=1.0)  # claimed, then its worker "died": no heartbeat
        assert dead is not None
        assert queue.enqueue(run, "acme", []) is True  # an unfinished run is resumed, not restarted
        report = ingest_parallel(config(tmp_path / "home", database), [kb], tenant="acme", workers=2, lease_s=1.0)
        assert report.totals()["failed"] == 0 and report.totals()["ingested"] == len(files)
        attempts = {uri: n for uri, _, n, _ in queue.results(run)}
        assert attempts[dead.uri] == 2 and set(attempts.values()) <= {1, 2}
        assert queue.counts(run) == {"pending": 0, "running": 0, "done": len(files), "failed": 0}
    finally:
        queue.close()
    engine = Engine(config(tmp_path / "ref", pg.create_database()))
    try:
        expected = engine.ingestor.ingest([kb], tenant="acme").totals()["chunks"]
    finally:
        engine.close()
    assert snapshot(database, tmp_path / "s")[0] == expected


def test_cli_workers_option(pg, kb, tmp_path, monkeypatch):
    from kefu.cli import main

    database = pg.create_database()
    monkeypatch.setenv("KEFU_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KEFU_DATABASE_URL", database)
    monkeypatch.setenv("KEFU_EMBEDDER", "hash")
    result = CliRunner().invoke(main, ["ingest", "--workers", "2", "--json", str(kb)])
    assert result.exit_code == 0, result.output
    totals = json.loads(result.output)["totals"]
    assert totals["failed"] == 0 and totals["ingested"] == len(_files(kb))


def test_workers_need_postgres(tmp_path, kb):
    with pytest.raises(InputError, match="PostgreSQL"):
        ingest_parallel(Config.load(tmp_path, env={}), [kb], tenant="acme", workers=2)


def _files(kb):
    return Ingestor(None, None).discover([kb], None, IngestReport())


@pytest.mark.slow
def test_a_killed_worker_process_loses_nothing(pg, kb, tmp_path):
    """SIGKILL a worker while it ingests a big file: another run takes the job over; the counts are right."""
    import multiprocessing
    import time

    from kefu.ingest.workers import work

    folder = tmp_path / "kb"
    helpers.write(folder / "big.md", "# Big\n\n" + "\n\n".join(
        f"Paragraph {n}: parcel {n} left warehouse {n % 97} on route {n % 13} with tracking code TR{n:06d}."
        for n in range(6000)))
    helpers.write(folder / "small.md", "# Small\n\nReturns take five days.\n")
    database = pg.create_database()
    cfg = config(tmp_path / "home", database)
    files = Ingestor(None, None).discover([folder], None, IngestReport())
    run = run_id("acme", files, LoadOptions())
    queue = PostgresJobQueue(database)
    try:
        queue.enqueue(run, "acme", [(str(p.resolve()), s, u) for p, s, u in files])
        proc = multiprocessing.get_context("spawn").Process(
            target=work, args=(str(cfg.home), cfg.as_dict(), run, 2.0, 0, LoadOptions().__dict__), daemon=True)
        proc.start()
        deadline = time.monotonic() + 60
        while not any(uri.endswith("big.md") and status == "running" for uri, status, _, _ in queue.results(run)):
            assert time.monotonic() < deadline and proc.is_alive(), "the worker never started the big file"
            time.sleep(0.05)
        proc.kill()
        proc.join(10)
        report = ingest_parallel(cfg, [folder], tenant="acme", workers=2, lease_s=2.0)
        assert report.totals()["failed"] == 0 and report.totals()["files"] == 2
        attempts = {uri.rsplit("/", 1)[-1]: n for uri, _, n, _ in queue.results(run)}
        assert attempts["big.md"] == 2
    finally:
        queue.close()
    reference = pg.create_database()
    engine = Engine(config(tmp_path / "ref", reference))
    try:
        expected = engine.ingestor.ingest([folder], tenant="acme").totals()
    finally:
        engine.close()
    assert snapshot(database, tmp_path / "s") == snapshot(reference, tmp_path / "s2")
    assert report.totals()["chunks"] == expected["chunks"]
