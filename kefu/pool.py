"""A thread pool made on first use and closable, shared by the parts that overlap work on threads."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor


class LazyPool:
    """``ThreadPoolExecutor`` created on first use; after :meth:`close` the next use makes a new one.

    Objects that own one stay cheap to construct (no threads until needed) and importing a module
    starts nothing.
    """

    def __init__(self, workers: int, prefix: str) -> None:
        self.workers = workers
        self.prefix = prefix
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def get(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=self.prefix)
            return self._pool

    def close(self) -> None:
        """Wait for running work and stop the threads."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
