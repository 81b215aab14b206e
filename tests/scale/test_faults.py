"""Faults under load: replicas killed, PostgreSQL restarted, connections cut — nothing acknowledged is lost."""
from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

import httpx
import psycopg
import pytest

from kefu.store.chats import Conversation
from kefu.store.postgres_chats import PostgresChatStore
from tests.scale.replicas import Replica, seed

pytestmark = pytest.mark.postgres
LOAD_CLIENTS = 3
GIVE_UP_SECONDS = 40.0


def test_pool_replaces_connections_the_server_dropped(database):
    """Every pooled connection cut (as a database restart does): the next calls succeed, no error seen."""
    chats = PostgresChatStore(database, pool_size=4)
    try:
        pool = chats._pool  # open all four pooled connections, then leave them idle
        held = [pool.acquire() for _ in range(4)]
        for conn in held:
            pool.release(conn)
        with psycopg.connect(database, autocommit=True) as conn:
            cut = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE application_name = 'kefu' AND datname = current_database()").fetchone()[0]
        assert cut == 4
        chats.create_conversation(Conversation("acme", "after-cut"))
        assert [c.id for c in chats.list_conversations("acme")] == ["after-cut"]
    finally:
        chats.close()


class LoadClient(threading.Thread):
    """A customer posting messages in a loop, like a browser behind a load balancer: each message goes to
    the next replica; on a connection error or a 5xx it tries again (on the other replica) with a new text,
    so a message that reached the store without its acknowledgement never looks like a duplicate."""

    def __init__(self, number: int, urls: list[str], widget: str, stop: threading.Event) -> None:
        super().__init__(name=f"load-{number}", daemon=True)
        self.number, self.urls, self.stop = number, urls, stop
        self.headers = {"X-Kefu-Key": widget}
        self.acked: list[tuple[float, str]] = []  # (time, text) of every 200-acknowledged message
        self.failures = 0
        self.error: str | None = None
        self._turn = itertools.count(number)

    def _once(self, client: httpx.Client, method: str, path: str, **kwargs) -> httpx.Response | None:
        """One attempt on the next replica; None on a connection error or a 5xx (counted)."""
        url = self.urls[next(self._turn) % len(self.urls)]
        try:
            r = client.request(method, url + path, headers=self.headers, **kwargs)
            if r.status_code < 500:
                return r
        except httpx.TransportError:
            pass
        self.failures += 1
        time.sleep(0.2)
        return None

    def run(self) -> None:
        try:
            with httpx.Client(timeout=15) as client:
                conv = self._retry(lambda: self._once(client, "POST", "/v1/conversations", json={"lang": "en"}))
                conv = conv.json()["conversation"]["id"]
                for n in itertools.count():
                    if self.stop.is_set():
                        return
                    attempt = itertools.count()
                    # Never the same text twice: an attempt that failed may still have been stored.
                    r = self._retry(lambda n=n, attempt=attempt: self._once(
                        client, "POST", f"/v1/conversations/{conv}/messages",
                        json={"text": f"client {self.number} message {n} try {next(attempt)}"}))
                    if r.status_code != 200:
                        raise RuntimeError(f"client {self.number}: {r.status_code} {r.text[:200]}")
                    self.acked.append((time.monotonic(), r.json()["message"]["text"]))
                    time.sleep(0.05)
        except Exception as exc:  # reported by the test
            self.error = f"{type(exc).__name__}: {exc}"

    def _retry(self, attempt) -> httpx.Response:
        started = time.monotonic()
        while (r := attempt()) is None:
            if time.monotonic() - started > GIVE_UP_SECONDS:
                raise RuntimeError(f"client {self.number}: no replica answered for {GIVE_UP_SECONDS} s")
        return r


@pytest.mark.slow
def test_replica_kill_and_database_restart_lose_no_acknowledged_message(pg, tmp_path):
    database = pg.create_database()
    widget, _ = seed(database, tmp_path / "seed")
    replicas = [Replica(database, tmp_path / f"replica{i}") for i in range(2)]
    stop = threading.Event()
    clients: list[LoadClient] = []
    try:
        for replica in replicas:
            replica.start()
        urls = [r.url for r in replicas]
        clients = [LoadClient(i, urls, widget, stop) for i in range(LOAD_CLIENTS)]
        for client in clients:
            client.start()

        def acked() -> int:
            return sum(len(c.acked) for c in clients)

        _wait_for(lambda: acked() >= 10, 60, "load to start")
        replicas[0].kill()  # SIGKILL mid-run: in-flight requests die with it
        killed_at = acked()
        _wait_for(lambda: acked() >= killed_at + 10, 60, "clients to fail over to the other replica")
        replicas[0].start()  # back on the same port

        before_restart = acked()
        pg.restart()  # every session cut, the same data folder started again
        restarted = time.monotonic()
        _wait_for(lambda: all(any(t > restarted for t, _ in c.acked) for c in clients), 60,
                  "every client to be served after the database restart")
        _wait_for(lambda: acked() >= before_restart + 15, 60, "load to continue")
        stop.set()
        for client in clients:
            client.join(GIVE_UP_SECONDS + 20)
        assert [c.error for c in clients] == [None] * LOAD_CLIENTS

        # Both replicas answer again: the one that lived through the restart has reconnected its pools.
        with httpx.Client(timeout=10) as http:
            for url in urls:
                r = http.post(f"{url}/v1/conversations", headers={"X-Kefu-Key": widget}, json={})
                assert r.status_code == 201, r.text
        _same_key_retries_on_both_replicas_store_once(urls, widget)
    finally:
        stop.set()
        for replica in replicas:
            replica.stop()

    with psycopg.connect(database) as conn:
        stored = Counter(text for (text,) in conn.execute("SELECT text FROM messages WHERE role = 'customer'"))
    acknowledged = [text for c in clients for _, text in c.acked]
    assert len(acknowledged) == len(set(acknowledged)) >= 40
    missing = [t for t in acknowledged if stored[t] == 0]
    doubled = [t for t in acknowledged if stored[t] > 1]
    assert missing == [] and doubled == []
    assert sum(c.failures for c in clients) > 0  # the faults were felt (and recovered from)
    print(f"\n{len(acknowledged)} messages acknowledged, {sum(stored.values())} stored, "
          f"{sum(c.failures for c in clients)} failed attempts retried")


def _same_key_retries_on_both_replicas_store_once(urls: list[str], widget: str) -> None:
    """A client retrying one message with one Idempotency-Key on both replicas at once: stored once."""
    headers = {"X-Kefu-Key": widget}
    with httpx.Client(timeout=60) as http:
        conv = http.post(f"{urls[0]}/v1/conversations", headers=headers, json={"lang": "en"}).json()
    conv_id = conv["conversation"]["id"]
    start = threading.Barrier(6)
    answers: list[httpx.Response] = []

    def retry(url: str) -> None:
        with httpx.Client(timeout=60) as http:
            start.wait()
            answers.append(http.post(f"{url}/v1/conversations/{conv_id}/messages", json={"text": "refund status"},
                                     headers={**headers, "Idempotency-Key": "same-key-both-replicas"}))

    threads = [threading.Thread(target=retry, args=(urls[i % 2],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert [r.status_code for r in answers] == [200] * 6, [r.text[:200] for r in answers]
    assert len({r.json()["message"]["id"] for r in answers}) == 1
    assert len({tuple(m["id"] for m in r.json()["replies"]) for r in answers}) == 1
    with httpx.Client(timeout=10) as http:
        history = http.get(f"{urls[1]}/v1/conversations/{conv_id}/messages", headers=headers).json()["messages"]
    assert [m["role"] for m in history].count("customer") == 1


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
