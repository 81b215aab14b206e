"""Wakes the event streams of a conversation the moment something happens to it.

In this process the chat service calls ``notify``; across replicas on PostgreSQL a ``PgListener``
(``kefu.store.pg_notify``) calls it for changes other replicas commit, once ``subscribe`` has a
tenant's channel listened to. Listeners still re-read the chat store at least every
``FALLBACK_SECONDS``, so nothing is missed while a LISTEN starts or the database restarts.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

FALLBACK_SECONDS = 2.0
SUBSCRIBING_SECONDS = 0.3  # re-read this soon while a tenant's LISTEN is not yet in effect


class Live:
    def __init__(self, fallback: float = FALLBACK_SECONDS,
                 subscribe: Callable[[str], bool] | None = None) -> None:
        self.fallback = fallback
        self.subscribe = subscribe  # tenant -> True once changes made elsewhere are announced here
        self._events: dict[str, set[asyncio.Event]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def notify(self, conv_id: str) -> None:
        """Called from any thread after a conversation changed."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with self._lock:
            events = list(self._events.get(conv_id, ()))
        for event in events:
            loop.call_soon_threadsafe(event.set)

    def notify_all(self) -> None:
        """Wake every waiting stream (after notifications may have been lost, e.g. a reconnect)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with self._lock:
            events = [e for waiting in self._events.values() for e in waiting]
        for event in events:
            loop.call_soon_threadsafe(event.set)

    async def wait(self, conv_id: str, timeout: float | None = None, tenant: str | None = None) -> None:
        """Until ``conv_id`` changes, or ``timeout`` (default ``fallback``) seconds.

        With ``tenant``, changes other replicas make to its conversations wake the wait too.
        """
        self._loop = asyncio.get_running_loop()
        timeout = self.fallback if timeout is None else timeout
        if tenant is not None and self.subscribe is not None and not self.subscribe(tenant):
            timeout = min(timeout, SUBSCRIBING_SECONDS)
        event = asyncio.Event()
        with self._lock:
            self._events.setdefault(conv_id, set()).add(event)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                waiting = self._events.get(conv_id)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._events[conv_id]


def listen_across_replicas(chats, live: Live):
    """On PostgreSQL: a ``PgListener`` whose notifications wake ``live`` (returned, to close); else None."""
    from kefu.store.postgres_chats import PostgresChatStore

    if not isinstance(chats, PostgresChatStore):
        return None
    from kefu.store.pg_notify import PgListener

    listener = PgListener(chats.url, lambda tenant, conv_id: live.notify(conv_id), live.notify_all)
    live.subscribe = listener.subscribe
    return listener
