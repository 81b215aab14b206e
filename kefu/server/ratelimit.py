"""Where rate-limit hits are counted: in this process (one server) or in the shared database (replicas).

Both implement ``Counter``; ``counter_for(chats)`` picks the one that matches the chat store, so N
replicas on one PostgreSQL enforce one limit, and an embedded (SQLite) deployment never pays a query.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Protocol


class Counter(Protocol):
    def incr(self, name: str, window: int) -> int:
        """Count one hit of ``name`` in fixed ``window`` (a number); the hits of that window so far."""
        ...

    def close(self) -> None:
        ...


class MemoryCounter:
    """Counts in this process: the latest window per name, at most ``max_names`` names (oldest dropped)."""

    def __init__(self, max_names: int = 100_000) -> None:
        self._windows: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_names = max_names

    def incr(self, name: str, window: int) -> int:
        with self._lock:
            seen, count = self._windows.pop(name, (window, 0))
            if seen != window:
                count = 0
            count += 1
            self._windows[name] = (window, count)
            while len(self._windows) > self.max_names:
                self._windows.popitem(last=False)
        return count

    def close(self) -> None:
        with self._lock:
            self._windows.clear()


def counter_for(chats) -> Counter:
    """The shared database counter when ``chats`` is on PostgreSQL, else one in this process."""
    from kefu.store.postgres_chats import PostgresChatStore

    if isinstance(chats, PostgresChatStore):
        from kefu.store.pg_ratelimit import PostgresRateCounter

        return PostgresRateCounter(chats.url)
    return MemoryCounter()
