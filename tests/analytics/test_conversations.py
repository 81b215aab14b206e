"""The conversation dashboard's figures over real conversations through the chat service."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kefu.analytics.conversations import conversation_stats
from kefu.cli import main
from kefu.dialog.service import ChatService
from kefu.store.sqlite_chats import SQLiteChatStore
from tests.test_cli import cli_env

TENANT = "acme"


@pytest.fixture
def traffic(kb_engine, tmp_path):
    """Four conversations: answered by the bot, two unanswered gift-card questions an agent answered
    (one rated 4), one angry handoff; the engine's chat store is swapped for a fresh file."""
    chats = SQLiteChatStore(tmp_path / "chats.db")
    saved = kb_engine.__dict__.get("chats"), kb_engine.__dict__.get("service")
    kb_engine.__dict__["chats"] = chats
    svc = ChatService(kb_engine, chats)
    kb_engine.__dict__["service"] = svc
    a = svc.start(TENANT)
    bot = svc.post(TENANT, a.id, "How do I return an item?").replies[0]
    svc.feedback(TENANT, bot.id, 1)
    for question in ("Can I pay with a gift card?", "Do you accept gift cards as payment?"):
        c = svc.start(TENANT)
        svc.post(TENANT, c.id, question)
        svc.post(TENANT, c.id, "转人工")
        svc.take(TENANT, c.id, "alice")
        svc.agent_reply(TENANT, c.id, "alice", "Yes, gift cards work at checkout for every order.")
        svc.resolve(TENANT, c.id, "alice")
    svc.csat(TENANT, c.id, 4)
    d = svc.start(TENANT)
    svc.post(TENANT, d.id, "我要投诉你们的快递，太慢了")
    yield kb_engine
    chats.close()
    for name, value in zip(("chats", "service"), saved):
        if value is None:
            kb_engine.__dict__.pop(name, None)
        else:
            kb_engine.__dict__[name] = value


def test_dashboard_figures(traffic):
    s = conversation_stats(traffic, TENANT)
    assert s["volume"]["conversations"] == 4 and s["volume"]["open"] == 1
    assert s["containment"] == 0.25 and s["handoff"]["count"] == 3
    assert s["handoff"]["reasons"] == {"explicit": 2, "sensitive": 1}
    assert s["csat"] == {"responses": 1, "mean": 4.0, "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0}}
    assert s["feedback"] == {"up": 1, "down": 0}
    assert s["agent_first_response_s"]["answered"] == 2 and s["agent_first_response_s"]["median"] >= 0
    assert sum(s["sentiment"]["labels"].values()) == s["volume"]["customer_messages"]
    gap = s["knowledge_gaps"][0]
    assert gap["count"] == 2 and "gift card" in gap["question"]
    assert gap["answer"] == "Yes, gift cards work at checkout for every order."
    assert all("转人工" not in g["question"] for g in s["knowledge_gaps"])
    json.dumps(s, ensure_ascii=False)


def test_other_tenants_and_empty_tenants(traffic):
    s = conversation_stats(traffic, "nobody")
    assert s["volume"]["conversations"] == 0 and s["containment"] is None and s["knowledge_gaps"] == []


def test_cli_json_to_stdout(tmp_path):
    r = CliRunner().invoke(main, ["--home", str(tmp_path / "h"), "analyze", "conversations", "--json", "-"],
                           env=cli_env())
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["volume"]["conversations"] == 0
