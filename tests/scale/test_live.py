"""Live events across replicas: a change committed through one replica wakes streams on another (NOTIFY)."""
from __future__ import annotations

import time

import httpx
import pytest

from tests.scale.replicas import PASSWORD, EventStream, seed, thread_replicas

pytestmark = pytest.mark.postgres


def test_customer_and_agent_on_different_replicas(database, tmp_path, embedder):
    widget, _ = seed(database, tmp_path / "seed")
    # The streams' store poll fallback is 30 s: only a notification can deliver within the 3 s asked here.
    with thread_replicas(database, tmp_path, embedder) as (a, b), httpx.Client(timeout=30) as http:
        w = {"X-Kefu-Key": widget}
        conv = http.post(f"{a}/v1/conversations", headers=w, json={"lang": "en"}).json()["conversation"]["id"]
        token = http.post(f"{b}/v1/agent/login", json={"tenant": "acme", "username": "alice",
                                                       "password": PASSWORD}).json()["token"]
        agent = {"Authorization": f"Bearer {token}"}
        agent_stream = EventStream(f"{b}/v1/agent/conversations/{conv}/events", agent)
        customer_stream = EventStream(f"{a}/v1/conversations/{conv}/events", w)
        try:
            agent_stream.next("status", 10)
            customer_stream.next("status", 10)
            time.sleep(0.5)  # both replicas LISTEN by now (the first wait subscribes)

            started = time.monotonic()
            r = http.post(f"{a}/v1/conversations/{conv}/messages", headers=w, json={"text": "Where is my parcel?"})
            assert r.status_code == 200, r.text
            seen = agent_stream.next("message", 3, lambda m: m["text"] == "Where is my parcel?")
            assert seen["role"] == "customer"
            first = time.monotonic() - started

            assert http.post(f"{b}/v1/agent/conversations/{conv}/take", headers=agent).status_code == 200
            started = time.monotonic()
            r = http.post(f"{b}/v1/agent/conversations/{conv}/reply", headers=agent,
                          json={"text": "It left the warehouse today."})
            assert r.status_code == 200, r.text
            got = customer_stream.next("message", 3, lambda m: m["text"] == "It left the warehouse today.")
            assert got["role"] == "agent"
            second = time.monotonic() - started
            assert first < 3 and second < 3
        finally:
            agent_stream.close()
            customer_stream.close()


def test_listener_reconnects_and_resyncs_after_the_database_drops_it(database, pg):
    """Backends terminated (as in a database restart): the listener comes back, LISTENs again, wakes everyone."""
    import threading

    import psycopg

    from kefu.store.chats import Conversation, Message
    from kefu.store.pg_notify import PgListener
    from kefu.store.postgres_chats import PostgresChatStore

    got: list[tuple[str, str]] = []
    resynced = threading.Event()
    listener = PgListener(database, lambda t, c: got.append((t, c)), resynced.set, poll=0.05)
    chats = PostgresChatStore(database)
    try:
        assert listener.subscribe("acme") is False
        deadline = time.monotonic() + 10
        while not listener.subscribe("acme"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        chats.create_conversation(Conversation("acme", "c1"))
        chats.create_conversation(Conversation("other", "c2"))  # another tenant's channel: not heard
        _wait(lambda: ("acme", "c1") in got)
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE application_name = 'kefu-listen' AND datname = current_database()")
        assert resynced.wait(10), "the listener did not reconnect"
        chats.add_message(Message("acme", "c1", "customer", "hello again"))
        _wait(lambda: got.count(("acme", "c1")) >= 2)
        assert ("other", "c2") not in got and listener.reconnects == 1
    finally:
        listener.close()
        chats.close()


def _wait(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
