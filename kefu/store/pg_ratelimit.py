"""Rate-limit counters in PostgreSQL, so every server replica counts against one limit.

A fixed-window counter per name: one upsert per hit returns the count of the window; windows older
than the previous one are pruned now and then. The table is ``UNLOGGED`` (a database crash resets the
counters, which only forgives a minute of requests) and lives beside the chat tables.
"""
from __future__ import annotations

import threading
import time

from kefu.store.postgres import Pool, migrate_schema, normalize_url

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE UNLOGGED TABLE rate_limits (
        name TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        hits INTEGER NOT NULL,
        PRIMARY KEY (name, window_start)
    );
    """,
)
PRUNE_SECONDS = 60.0
_HIT = ("INSERT INTO rate_limits (name, window_start, hits) VALUES (%s, %s, 1) "
        "ON CONFLICT (name, window_start) DO UPDATE SET hits = rate_limits.hits + 1 RETURNING hits")


class PostgresRateCounter:
    """``incr(name, window)`` on a shared table; thread-safe (a small pool of its own)."""

    def __init__(self, url: str, *, pool_size: int = 2, prune_seconds: float = PRUNE_SECONDS) -> None:
        self.url = normalize_url(url)
        self.prune_seconds = prune_seconds
        self._pool = Pool(self.url, pool_size)
        self._next_prune = 0.0
        self._lock = threading.Lock()
        try:
            migrate_schema(self._pool, "ratelimit", MIGRATIONS)
        except BaseException:
            self._pool.close()
            raise

    def incr(self, name: str, window: int) -> int:
        """Count one hit of ``name`` in ``window``; returns the hits of that window so far, this one included."""
        with self._lock:
            prune = time.monotonic() >= self._next_prune
            if prune:
                self._next_prune = time.monotonic() + self.prune_seconds
        with self._pool.transaction(write=True, what="rate limit") as cur:
            hits = cur.execute(_HIT, (name[:200], int(window))).fetchone()[0]
            if prune:
                cur.execute("DELETE FROM rate_limits WHERE window_start < %s", (int(window) - 1,))
        return int(hits)

    def close(self) -> None:
        self._pool.close()
