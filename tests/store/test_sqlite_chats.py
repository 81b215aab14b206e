"""The SQLite chat store passes the chat-store conformance suite, survives reopening, refuses a bad file."""
from __future__ import annotations

import pytest

from kefu.errors import StoreError
from kefu.store.chats import Conversation, Message
from kefu.store.sqlite_chats import SQLiteChatStore
from tests.store.chat_conformance import ChatStoreConformance


class TestSQLiteChatStore(ChatStoreConformance):
    @pytest.fixture
    def chats(self, tmp_path):
        s = SQLiteChatStore(tmp_path / "chats.db")
        yield s
        s.close()


def test_everything_survives_a_restart(tmp_path):
    path = tmp_path / "chats.db"
    s = SQLiteChatStore(path)
    s.create_conversation(Conversation("acme", "c1", status="queued", queued_at="2026-01-01T00:00:00+00:00"))
    s.add_message(Message("acme", "c1", "customer", "转人工"))
    s.close()
    s = SQLiteChatStore(path)
    assert s.get_conversation("acme", "c1").status == "queued"
    assert [m.text for m in s.list_messages("acme", "c1")] == ["转人工"]
    s.close()


def test_not_a_database(tmp_path):
    bad = tmp_path / "chats.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="chats.db"):
        SQLiteChatStore(bad)
