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


def test_a_file_from_before_idempotency_keys_is_migrated_in_place(tmp_path):
    from kefu.store.sqlite_chats import MIGRATIONS
    from kefu.store.sqlite_files import open_sqlite

    path = tmp_path / "chats.db"
    old = open_sqlite(path, MIGRATIONS[:1])  # the schema kefu shipped before add_message_once
    old.execute("INSERT INTO conversations (tenant, id, status, lang, channel, created_at, updated_at) "
                "VALUES ('acme', 'c1', 'bot', 'en', 'web', 'x', 'x')")
    old.execute("INSERT INTO messages (tenant, conversation_id, role, text, meta, created_at) "
                "VALUES ('acme', 'c1', 'customer', 'old message', '{}', 'x')")
    old.close()
    s = SQLiteChatStore(path)
    assert [m.text for m in s.list_messages("acme", "c1")] == ["old message"]
    assert s.add_message_once(Message("acme", "c1", "customer", "new"), "k")[1]
    assert not s.add_message_once(Message("acme", "c1", "customer", "new"), "k")[1]
    s.close()
