"""Change notifications between replicas: NOTIFY on chat writes, one LISTEN connection per replica.

Every write to a conversation or its messages sends ``pg_notify(channel, conversation_id)`` in the
writing transaction (delivered at commit). The channel is per tenant and per schema:
``kefu_`` + the first 24 hex digits of ``md5(schema || chr(31) || tenant)`` (tenants may hold any
character; channel names may not), computed in SQL on both sides so they always agree.

``PgListener`` holds one dedicated connection, LISTENs on the channels of the tenants someone
waits for, and calls ``on_notify(tenant, conversation_id)``. When the connection breaks (database
restart, network) it reconnects with backoff, LISTENs again and calls ``on_reconnect()``, since
notifications sent meanwhile are lost: waiters re-read the store.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kefu.store.postgres import _require_psycopg, normalize_url, redact_url

try:
    import psycopg
except ImportError:  # pragma: no cover - _require_psycopg names the extra
    psycopg = None  # type: ignore[assignment]

log = logging.getLogger("kefu.store.notify")
CHANNEL_SQL = "'kefu_' || left(md5(coalesce(current_schema(), '') || chr(31) || %s), 24)"
NOTIFY_SQL = f"SELECT pg_notify({CHANNEL_SQL}, %s)"  # args: tenant, conversation id
POLL_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 2.0


class PgListener:
    """LISTENs for chat changes on one connection in a daemon thread, started by the first ``subscribe``."""

    def __init__(self, url: str, on_notify: Callable[[str, str], None],
                 on_reconnect: Callable[[], None] | None = None, *, poll: float = POLL_SECONDS) -> None:
        _require_psycopg()
        self.url = normalize_url(url)
        self.on_notify = on_notify
        self.on_reconnect = on_reconnect
        self.poll = poll
        self.reconnects = 0
        self._wanted: set[str] = set()
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, tenant: str) -> bool:
        """Listen for ``tenant``'s changes from now on; True once its LISTEN is in effect."""
        with self._lock:
            if tenant in self._active:
                return True
            self._wanted.add(tenant)
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(target=self._run, name="kefu-pg-listen", daemon=True)
                self._thread.start()
        return False

    def active(self) -> set[str]:
        with self._lock:
            return set(self._active)

    def close(self) -> None:
        self._closed.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5)

    # -- the listening thread -----------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.1
        connected_before = False
        while not self._closed.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, application_name="kefu-listen") as conn:
                    resync, connected_before, backoff = connected_before, True, 0.1
                    self._listen_loop(conn, resync=resync)
            except psycopg.Error as exc:
                if self._closed.is_set():
                    break
                log.warning("listening for chat changes on %s failed (%s); reconnecting in %.1f s",
                            redact_url(self.url), str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                            backoff)
            finally:
                with self._lock:
                    self._active.clear()
            self._closed.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _listen_loop(self, conn, *, resync: bool) -> None:
        channels: dict[str, str] = {}
        first = True
        while not self._closed.is_set():
            with self._lock:
                pending = self._wanted - self._active
            for tenant in pending:
                channel = conn.execute(f"SELECT {CHANNEL_SQL}", (tenant,)).fetchone()[0]
                conn.execute(f'LISTEN "{channel}"')
                channels[channel] = tenant
                with self._lock:
                    self._active.add(tenant)
            if first:
                first = False
                if resync:
                    self.reconnects += 1
                    if self.on_reconnect is not None:
                        self.on_reconnect()  # notifications sent while disconnected are gone: re-read
            for note in conn.notifies(timeout=self.poll):
                tenant = channels.get(note.channel)
                if tenant is not None:
                    self.on_notify(tenant, note.payload)
