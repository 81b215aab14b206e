"""Parallel, resumable ingestion: ``kefu ingest --workers N`` on a PostgreSQL knowledge store.

The parent finds the files and queues one job per file in ``ingest_jobs`` (``kefu.store.pg_jobs``);
N worker processes (each with its own engine and embedder) claim jobs with ``SKIP LOCKED``, ingest
the file exactly as ``Ingestor.ingest`` would, and record the result. A worker that dies leaves its
job ``running`` with a heartbeat that stops; after ``lease_s`` another worker takes it over. Running
the same command again resumes an unfinished run (finished files are kept); a finished run starts over,
and unchanged files are then skipped by their content hash as usual.

Near-duplicate removal across files happens within each worker (exact duplicates, found through the
store, are removed across all of them), so with N workers slightly fewer near-duplicates may be
dropped than in one process.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kefu.config import Config
from kefu.errors import InputError, KefuError
from kefu.ingest.loaders.base import LoadOptions
from kefu.ingest.pipeline import FileResult, Ingestor, IngestReport

LEASE_SECONDS = 60.0


def run_id(tenant: str, files: list[tuple[Path, str, str]], options: LoadOptions) -> str:
    """The same files, tenant and options give the same run (so a second command resumes it)."""
    key = json.dumps([tenant, sorted(uri for _, _, uri in files), options.__dict__], ensure_ascii=False)
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def ingest_parallel(config: Config, paths: list[str | Path], *, tenant: str, workers: int,
                    source: str | None = None, options: LoadOptions | None = None,
                    lease_s: float = LEASE_SECONDS,
                    progress: Callable[[int, int], None] | None = None) -> IngestReport:
    """Ingest ``paths`` with ``workers`` processes sharing a job table; returns the whole run's report."""
    from kefu.engine import _is_postgres
    from kefu.store.pg_jobs import PostgresJobQueue

    if not _is_postgres(config.database_url):
        raise InputError("--workers needs the knowledge store on PostgreSQL (database_url = postgresql://...)",
                         hint="one process ingests into SQLite: leave --workers out")
    options = options or LoadOptions()
    report = IngestReport()
    # Discovery reads only the file system: no store, no model.
    files = Ingestor(None, None).discover(list(paths), source, report)  # type: ignore[arg-type]
    if not files:
        return report
    run = run_id(tenant, files, options)
    queue = PostgresJobQueue(config.database_url)
    try:
        queue.enqueue(run, tenant, [(str(p.resolve()), src, uri) for p, src, uri in files])
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=work, name=f"kefu-ingest-{n}", daemon=True,
                             args=(str(config.home), config.as_dict(), run, lease_s, n, options.__dict__))
                 for n in range(max(1, min(workers, len(files))))]
        for proc in procs:
            proc.start()
        while any(p.is_alive() for p in procs):
            if progress is not None:
                counts = queue.counts(run)
                progress(counts["done"] + counts["failed"], sum(counts.values()))
            for p in procs:
                p.join(0.5 / len(procs))
        for uri, status, _attempts, result in queue.results(run):
            if result is None:
                report.files.append(FileResult(uri, uri, status="failed", error=f"{uri}: not finished ({status}); "
                                               "every worker stopped — run the command again to resume"))
            else:
                report.files.append(FileResult(**result))
        return report
    finally:
        queue.close()


def work(home: str, values: dict[str, Any], run: str, lease_s: float, number: int, options: dict) -> None:
    """One worker process: claim, ingest, record, until the run has no job left that it could take."""
    from kefu.engine import Engine
    from kefu.ingest.dedup import Deduplicator
    from kefu.ingest.pipeline import _Silent
    from kefu.store.pg_jobs import PostgresJobQueue, worker_name

    engine = Engine(Config(Path(home), values))
    queue = PostgresJobQueue(engine.config.database_url)
    name = worker_name(number)
    holding: set[int] = set()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lease_s / 3):
            queue.beat(sorted(holding), name)

    beater = threading.Thread(target=beat, name="kefu-ingest-heartbeat", daemon=True)
    beater.start()
    try:
        ingestor = engine.ingestor
        ingestor._check_embedder()
        dedup = Deduplicator(engine.config.dedup_threshold)
        load_options = LoadOptions(**options)
        while True:
            job = queue.claim(run, name, lease_s)
            if job is None:
                counts = queue.counts(run)
                if not counts["pending"] and not counts["running"]:
                    return
                time.sleep(min(1.0, lease_s / 4))  # others are working, or died: their lease may expire
                continue
            holding.add(job.id)
            try:
                result = ingestor._ingest_file(Path(job.path), job.source, job.uri, job.tenant, load_options, dedup,
                                               _Silent())
                status = "done"
            except KefuError as exc:
                result = FileResult(job.path, job.uri, status="failed", error=str(exc))
                status = "failed"
            finally:
                holding.discard(job.id)
            queue.finish(job, name, status, asdict(result))
    finally:
        stop.set()
        queue.close()
        engine.close()
