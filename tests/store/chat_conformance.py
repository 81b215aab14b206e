"""Conformance suite every ``ChatStore`` implementation must pass.

Subclass ``ChatStoreConformance`` and provide a ``chats`` fixture yielding a fresh, empty store.
Uses only the protocol in ``kefu.store.chats``, so a PostgreSQL chat store can run it unchanged.
"""
from __future__ import annotations

import threading
import time

import pytest

from kefu.errors import InputError, NotFoundError
from kefu.store.chats import Agent, ApiKey, ChatStore, Conversation, Message

HOSTILE_IDS = ["c_' OR '1'='1", "'; DROP TABLE messages; --", "%", "", "c_" + "0" * 24]


def conv(cid="c1", tenant="acme", **kw) -> Conversation:
    return Conversation(tenant=tenant, id=cid, **kw)


class ChatStoreConformance:
    def test_is_a_chat_store(self, chats):
        assert isinstance(chats, ChatStore)

    def test_conversation_round_trip_with_state(self, chats):
        c = chats.create_conversation(conv(lang="zh", state={"entities": {"ORDER_NUMBER": "NT1"}, "x": [1, 2]}))
        got = chats.get_conversation("acme", "c1")
        assert got.state == {"entities": {"ORDER_NUMBER": "NT1"}, "x": [1, 2]}
        assert got.lang == "zh" and got.status == "bot" and got.created_at == c.created_at

    def test_update_persists_every_field(self, chats):
        c = chats.create_conversation(conv())
        c.status, c.agent, c.priority, c.csat, c.queued_at = "agent", "alice", 3.5, 4, "2026-01-01T00:00:00+00:00"
        c.summary = {"reason": "explicit", "文字": "中文"}
        chats.update_conversation(c)
        got = chats.get_conversation("acme", "c1")
        assert (got.status, got.agent, got.priority, got.csat, got.summary["文字"]) == ("agent", "alice", 3.5, 4,
                                                                                      "中文")

    def test_other_tenants_conversation_is_not_found(self, chats):
        chats.create_conversation(conv())
        with pytest.raises(NotFoundError):
            chats.get_conversation("other", "c1")
        c = conv(tenant="other")
        with pytest.raises(NotFoundError):
            chats.update_conversation(c)
        assert chats.get_conversation("acme", "c1").tenant == "acme"

    @pytest.mark.parametrize("cid", HOSTILE_IDS)
    def test_hostile_ids_are_just_not_found(self, chats, cid):
        chats.create_conversation(conv())
        with pytest.raises(NotFoundError):
            chats.get_conversation("acme", cid)
        assert chats.list_messages("acme", cid) == []

    def test_bad_status_and_role_are_refused(self, chats):
        with pytest.raises(InputError):
            chats.create_conversation(conv(status="weird"))
        chats.create_conversation(conv())
        with pytest.raises(InputError):
            chats.add_message(Message("acme", "c1", "robot", "hi"))

    def test_messages_in_order_after_an_id_and_tenant_scoped(self, chats):
        chats.create_conversation(conv())
        ids = [chats.add_message(Message("acme", "c1", role, f"m{i}", {"n": i})).id
               for i, role in enumerate(["customer", "bot", "system", "agent"])]
        assert ids == sorted(ids) and len(set(ids)) == 4
        assert [m.text for m in chats.list_messages("acme", "c1")] == ["m0", "m1", "m2", "m3"]
        assert [m.text for m in chats.list_messages("acme", "c1", after=ids[1])] == ["m2", "m3"]
        assert chats.list_messages("other", "c1") == []
        assert chats.get_message("acme", ids[0]).meta == {"n": 0}
        with pytest.raises(NotFoundError):
            chats.get_message("other", ids[0])

    def test_delete_conversation_removes_its_messages_only(self, chats):
        chats.create_conversation(conv())
        chats.create_conversation(conv("c2"))
        chats.create_conversation(conv(tenant="other"))
        for cid, tenant in (("c1", "acme"), ("c1", "acme"), ("c2", "acme"), ("c1", "other")):
            chats.add_message(Message(tenant, cid, "customer", "hi"))
        with pytest.raises(NotFoundError):
            chats.delete_conversation("other", "c2")
        assert chats.delete_conversation("acme", "c1") == 2
        with pytest.raises(NotFoundError):
            chats.get_conversation("acme", "c1")
        assert chats.list_messages("acme", "c1") == []
        assert len(chats.list_messages("acme", "c2")) == 1 and len(chats.list_messages("other", "c1")) == 1
        with pytest.raises(NotFoundError):
            chats.delete_conversation("acme", "c1")

    def test_feedback(self, chats):
        chats.create_conversation(conv())
        mid = chats.add_message(Message("acme", "c1", "bot", "answer")).id
        chats.set_feedback("acme", mid, -1)
        assert chats.get_message("acme", mid).feedback == -1
        with pytest.raises(NotFoundError):
            chats.set_feedback("other", mid, 1)
        assert chats.get_message("acme", mid).feedback == -1

    def test_list_conversations_by_status(self, chats):
        for i, status in enumerate(["bot", "queued", "agent", "resolved"]):
            chats.create_conversation(conv(f"c{i}", status=status))
        chats.create_conversation(conv("x", tenant="other", status="queued"))
        assert {c.id for c in chats.list_conversations("acme", ("queued", "agent"))} == {"c1", "c2"}
        assert len(chats.list_conversations("acme")) == 4

    def test_agents_and_sessions(self, chats):
        chats.add_agent(Agent("acme", "alice", "hash", "supervisor", "Alice"))
        with pytest.raises(InputError, match="already exists"):
            chats.add_agent(Agent("acme", "alice", "hash2"))
        chats.add_agent(Agent("other", "alice", "hash3"))  # same name, other tenant: fine
        assert chats.get_agent("acme", "alice").role == "supervisor"
        assert chats.get_agent("acme", "bob") is None
        chats.add_session("t1", "acme", "alice", time.time() + 60)
        chats.add_session("t2", "acme", "alice", time.time() - 1)
        assert chats.get_session("t1") == ("acme", "alice")
        assert chats.get_session("t2") is None
        chats.delete_session("t1")
        assert chats.get_session("t1") is None

    def test_keys(self, chats):
        k = chats.add_key(ApiKey("acme", "widget", "h1", "site", ["https://shop.example"]))
        chats.add_key(ApiKey("other", "admin", "h2"))
        assert chats.find_key("h1").origins == ["https://shop.example"]
        assert chats.find_key("nope") is None
        assert [x.key_hash for x in chats.list_keys("acme")] == ["h1"]
        assert chats.all_origins() == ["https://shop.example"]
        with pytest.raises(NotFoundError):
            chats.delete_key("other", k.id)
        chats.delete_key("acme", k.id)
        assert chats.find_key("h1") is None

    def test_policies(self, chats):
        assert chats.get_policy("acme", "handoff") is None
        chats.set_policy("acme", "handoff", {"a": 1})
        chats.set_policy("acme", "handoff", {"a": 2})
        assert chats.get_policy("acme", "handoff") == {"a": 2}
        assert chats.get_policy("other", "handoff") is None

    def test_concurrent_messages_all_land(self, chats):
        chats.create_conversation(conv())

        def write(n):
            for i in range(20):
                chats.add_message(Message("acme", "c1", "customer", f"{n}-{i}"))

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(chats.list_messages("acme", "c1")) == 80

    def test_add_message_once_stores_each_key_once_per_conversation(self, chats):
        for cid, tenant in [("c1", "acme"), ("c2", "acme"), ("c1", "other")]:
            chats.create_conversation(conv(cid, tenant))
        first, created = chats.add_message_once(Message("acme", "c1", "customer", "where is my parcel?", {"n": 1}),
                                                "w-1")
        assert created and first.id is not None and first.created_at
        again, created = chats.add_message_once(Message("acme", "c1", "customer", "another text", {"n": 2}), "w-1")
        assert not created and (again.id, again.text, again.meta) == (first.id, "where is my parcel?", {"n": 1})
        assert chats.add_message_once(Message("acme", "c1", "customer", "x"), "w-2")[1]
        # The same key in another conversation, or another tenant's conversation with the same id, is new.
        assert chats.add_message_once(Message("acme", "c2", "customer", "x"), "w-1")[1]
        assert chats.add_message_once(Message("other", "c1", "customer", "x"), "w-1")[1]
        # Messages without a key never collide.
        chats.add_message(Message("acme", "c1", "bot", "a"))
        chats.add_message(Message("acme", "c1", "bot", "a"))
        assert [m.text for m in chats.list_messages("acme", "c1")] == ["where is my parcel?", "x", "a", "a"]
        with pytest.raises(InputError):
            chats.add_message_once(Message("acme", "c1", "robot", "hi"), "w-3")

    @pytest.mark.parametrize("key", ["k' OR '1'='1", "'; DROP TABLE messages; --", "%"])
    def test_add_message_once_hostile_keys_are_plain_values(self, chats, key):
        chats.create_conversation(conv())
        assert chats.add_message_once(Message("acme", "c1", "customer", "a"), key)[1]
        assert not chats.add_message_once(Message("acme", "c1", "customer", "a"), key)[1]
        assert chats.add_message_once(Message("acme", "c1", "customer", "b"), "other")[1]
        assert len(chats.list_messages("acme", "c1")) == 2

    def test_concurrent_retries_with_one_key_store_one_message(self, chats):
        chats.create_conversation(conv())
        results: list[tuple[int, bool]] = []
        start = threading.Barrier(6)

        def retry():
            start.wait()
            msg, created = chats.add_message_once(Message("acme", "c1", "customer", "refund please"), "retry-1")
            results.append((msg.id, created))

        threads = [threading.Thread(target=retry) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(created for _, created in results) == [False] * 5 + [True]
        assert len({mid for mid, _ in results}) == 1
        assert len(chats.list_messages("acme", "c1")) == 1
