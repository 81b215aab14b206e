"""Wakes the event streams of a conversation the moment something happens to it in this process.

Listeners still poll the chat store (slowly), so a message written by another replica reaches them
too, within ``FALLBACK_SECONDS``.
"""
from __future__ import annotations

import asyncio
import threading

FALLBACK_SECONDS = 2.0


class Live:
    def __init__(self, fallback: float = FALLBACK_SECONDS) -> None:
        self.fallback = fallback
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

    async def wait(self, conv_id: str, timeout: float | None = None) -> None:
        """Until ``conv_id`` changes in this process, or ``timeout`` (default ``fallback``) seconds."""
        self._loop = asyncio.get_running_loop()
        event = asyncio.Event()
        with self._lock:
            self._events.setdefault(conv_id, set()).add(event)
        try:
            await asyncio.wait_for(event.wait(), self.fallback if timeout is None else timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                waiting = self._events.get(conv_id)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._events[conv_id]
