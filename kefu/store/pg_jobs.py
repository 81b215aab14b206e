"""A job table in PostgreSQL for parallel ingestion: workers claim files with ``FOR UPDATE SKIP LOCKED``.

A run is a set of jobs (one per file) under a run id. A worker claims the next ``pending`` job, or a
``running`` one whose heartbeat is older than the lease (its worker died), and keeps its heartbeat
fresh while it works; ``finish`` records the result. Claims never block each other: ``SKIP LOCKED``
lets every worker take a different row at once.
"""
from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from typing import Any

from kefu.store.postgres import Pool, migrate_schema, normalize_url

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE ingest_jobs (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run TEXT NOT NULL,
        tenant TEXT NOT NULL,
        path TEXT NOT NULL,
        source TEXT NOT NULL,
        uri TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        worker TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        heartbeat TIMESTAMPTZ,
        result TEXT,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        UNIQUE (run, uri)
    );
    CREATE INDEX ingest_jobs_claim ON ingest_jobs (run, status, id);
    """,
)
STATUSES = ("pending", "running", "done", "failed")


@dataclass
class Job:
    id: int
    run: str
    tenant: str
    path: str
    source: str
    uri: str
    attempts: int


def worker_name(number: int | str = "") -> str:
    """``host:pid[:number]``: who holds a job."""
    return f"{socket.gethostname()}:{os.getpid()}" + (f":{number}" if number != "" else "")


class PostgresJobQueue:
    """The ``ingest_jobs`` table of one database; thread- and process-safe."""

    def __init__(self, url: str, *, pool_size: int = 2) -> None:
        self.url = normalize_url(url)
        self._pool = Pool(self.url, pool_size)
        try:
            migrate_schema(self._pool, "jobs", MIGRATIONS)
        except BaseException:
            self._pool.close()
            raise

    def enqueue(self, run: str, tenant: str, files: list[tuple[str, str, str]]) -> bool:
        """Jobs for ``(path, source, uri)`` files under ``run``; True when an unfinished run is resumed.

        A run whose jobs are all finished starts over (every job pending again); an unfinished one keeps
        its finished jobs and gets any new files added.
        """
        with self._pool.transaction(write=True, what="queueing ingest jobs") as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"kefu-ingest-run:{run}",))
            open_jobs, total = cur.execute(
                "SELECT count(*) FILTER (WHERE status IN ('pending', 'running')), count(*) FROM ingest_jobs "
                "WHERE run = %s", (run,)).fetchone()
            resumed = bool(open_jobs)
            if total and not resumed:
                cur.execute("UPDATE ingest_jobs SET status = 'pending', worker = NULL, attempts = 0, heartbeat = NULL, "
                            "result = NULL WHERE run = %s", (run,))
            cur.executemany("INSERT INTO ingest_jobs (run, tenant, path, source, uri) VALUES (%s, %s, %s, %s, %s) "
                            "ON CONFLICT (run, uri) DO UPDATE SET path = excluded.path, source = excluded.source",
                            [(run, tenant, path, source, uri) for path, source, uri in files])
        return resumed

    def claim(self, run: str, worker: str, lease_s: float) -> Job | None:
        """The next pending job of ``run``, or one whose worker stopped beating for ``lease_s`` seconds."""
        with self._pool.transaction(write=True, what="claiming an ingest job") as cur:
            row = cur.execute(
                "UPDATE ingest_jobs SET status = 'running', worker = %s, attempts = attempts + 1, heartbeat = now() "
                "WHERE id = (SELECT id FROM ingest_jobs WHERE run = %s AND (status = 'pending' OR "
                "(status = 'running' AND heartbeat < now() - make_interval(secs => %s))) "
                "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                "RETURNING id, run, tenant, path, source, uri, attempts", (worker, run, float(lease_s))).fetchone()
        return Job(*row) if row else None

    def beat(self, job_ids: list[int], worker: str) -> None:
        """Keep the leases of ``worker``'s running jobs."""
        if job_ids:
            with self._pool.transaction(write=True, what="ingest heartbeat") as cur:
                cur.execute("UPDATE ingest_jobs SET heartbeat = now() WHERE id = ANY(%s) AND worker = %s "
                            "AND status = 'running'", (job_ids, worker))

    def finish(self, job: Job, worker: str, status: str, result: dict[str, Any]) -> bool:
        """Record ``status`` (done or failed); False if the job was taken over meanwhile (result dropped)."""
        with self._pool.transaction(write=True, what="finishing an ingest job") as cur:
            cur.execute("UPDATE ingest_jobs SET status = %s, result = %s, heartbeat = now() "
                        "WHERE id = %s AND worker = %s AND status = 'running'",
                        (status, json.dumps(result, ensure_ascii=False), job.id, worker))
            return cur.rowcount == 1

    def counts(self, run: str) -> dict[str, int]:
        with self._pool.transaction(write=False, what="ingest progress") as cur:
            rows = cur.execute("SELECT status, count(*) FROM ingest_jobs WHERE run = %s GROUP BY status",
                               (run,)).fetchall()
        return {s: 0 for s in STATUSES} | {s: int(n) for s, n in rows}

    def results(self, run: str) -> list[tuple[str, str, int, dict[str, Any] | None]]:
        """``(uri, status, attempts, result)`` of every job of ``run``, in queue order."""
        with self._pool.transaction(write=False, what="ingest results") as cur:
            rows = cur.execute("SELECT uri, status, attempts, result FROM ingest_jobs WHERE run = %s ORDER BY id",
                               (run,)).fetchall()
        return [(uri, status, attempts, json.loads(result) if result else None)
                for uri, status, attempts, result in rows]

    def close(self) -> None:
        self._pool.close()
