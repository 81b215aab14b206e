"""The live event stream a widget follows: new messages after an id, status changes, resumption."""
from __future__ import annotations

import asyncio
import json

from kefu.server.routes_chat import _follow
from tests.server.conftest import login


class _Request:
    """Disconnects after ``polls`` checks, like a browser closing the page."""

    def __init__(self, polls: int) -> None:
        self.polls = polls

    async def is_disconnected(self) -> bool:
        self.polls -= 1
        return self.polls < 0


def follow(app, tenant, cid, after=0, polls=1) -> list[tuple[str, dict]]:
    app.state.services.live.fallback = 0.05

    async def run():
        return [(e["event"], json.loads(e["data"]))
                async for e in _follow(app.state.services, tenant, cid, after, _Request(polls))]

    return asyncio.run(run())


def test_events_carry_messages_after_an_id_and_status(client, app, acme):
    cid = client.post("/v1/conversations", json={}, headers=acme.w).json()["conversation"]["id"]
    client.post(f"/v1/conversations/{cid}/messages", json={"text": "转人工"}, headers=acme.w)
    events = follow(app, "acme", cid)
    assert [e for e, _ in events] == ["message", "message", "status"]
    assert events[-1][1]["status"] == "queued" and events[-1][1]["queue_position"] >= 1
    agent = login(client, "acme")
    client.post(f"/v1/agent/conversations/{cid}/take", headers=agent)
    client.post(f"/v1/agent/conversations/{cid}/reply", json={"text": "Hello from Alice"}, headers=agent)
    last_seen = events[1][1]["id"]
    resumed = follow(app, "acme", cid, after=last_seen)
    texts = [d["text"] for e, d in resumed if e == "message"]
    assert texts[-1] == "Hello from Alice" and all(d["id"] > last_seen for e, d in resumed if e == "message")
    assert resumed[-1][1]["status"] == "agent"


def test_events_for_another_tenant_end_with_an_error(client, app, acme):
    cid = client.post("/v1/conversations", json={}, headers=acme.w).json()["conversation"]["id"]
    events = follow(app, "globex", cid)
    assert events == [("error", {"error": {"code": "not_found", "message": f"conversation {cid!r} not found"}})]


def test_events_endpoint_checks_the_conversation_first(client, globex, acme):
    cid = client.post("/v1/conversations", json={}, headers=acme.w).json()["conversation"]["id"]
    assert client.get(f"/v1/conversations/{cid}/events", headers=globex.w).status_code == 404
    assert client.get(f"/v1/conversations/{cid}/events?key=kw_bad").status_code == 401


def test_live_wakes_a_waiting_stream_at_once():
    import threading
    import time

    from kefu.server.live import Live

    live = Live(fallback=5.0)

    async def run():
        start = time.perf_counter()
        waiter = asyncio.create_task(live.wait("c1"))
        await asyncio.sleep(0.05)
        threading.Thread(target=live.notify, args=("c1",)).start()  # from a worker thread, as the service does
        await waiter
        return time.perf_counter() - start

    assert asyncio.run(run()) < 1.0
    assert live._events == {}  # nothing left behind
