"""SQLite chat store: conversations, messages, queue, agents, keys, in ``$KEFU_HOME/chats.db`` (WAL).

Its own file keeps its own schema version and lets ingestion (long write transactions on
``kefu.db``) never block a customer's message.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from kefu.errors import InputError, NotFoundError, StoreError
from kefu.store.chat_reads import CONV_COLS, ChatReads, conv_row, now_iso
from kefu.store.chats import ROLES, STATUSES, Agent, ApiKey, Conversation, Message
from kefu.store.sqlite_files import open_sqlite

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE conversations (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        status TEXT NOT NULL,
        lang TEXT NOT NULL,
        channel TEXT NOT NULL,
        priority REAL NOT NULL DEFAULT 0,
        agent TEXT,
        state TEXT NOT NULL DEFAULT '{}',
        summary TEXT NOT NULL DEFAULT '{}',
        csat INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        queued_at TEXT,
        PRIMARY KEY (tenant, id)
    );
    CREATE INDEX conversations_status ON conversations (tenant, status, updated_at);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        meta TEXT NOT NULL DEFAULT '{}',
        feedback INTEGER,
        created_at TEXT NOT NULL
    );
    CREATE INDEX messages_conversation ON messages (tenant, conversation_id, id);
    CREATE TABLE agents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant TEXT NOT NULL,
        username TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        display_name TEXT NOT NULL DEFAULT '',
        UNIQUE (tenant, username)
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        username TEXT NOT NULL,
        expires REAL NOT NULL
    );
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant TEXT NOT NULL,
        kind TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL DEFAULT '',
        origins TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE policies (
        tenant TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (tenant, name)
    );
    """,
    """
    ALTER TABLE messages ADD COLUMN idempotency_key TEXT;
    CREATE UNIQUE INDEX messages_idempotency ON messages (tenant, conversation_id, idempotency_key);
    """,
)


class SQLiteChatStore(ChatReads):
    """Thread-safe: one connection, one lock, short transactions."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = open_sqlite(self.path, MIGRATIONS)
        self._lock = threading.RLock()

    def _run(self, sql: str, args: tuple | list = ()) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self._db.execute(sql, args)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path}: {exc}") from exc

    def _all(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        with self._lock:
            return self._run(sql, args).fetchall()

    # -- conversations ----------------------------------------------------------------------
    def create_conversation(self, conv: Conversation) -> Conversation:
        if conv.status not in STATUSES:
            raise InputError(f"conversation status {conv.status!r} is not one of {', '.join(STATUSES)}")
        conv.created_at = conv.updated_at = now_iso()
        self._run(f"INSERT INTO conversations ({CONV_COLS}) VALUES ({', '.join('?' * 13)})",
                  conv_row(conv))
        return conv

    def update_conversation(self, conv: Conversation) -> None:
        if conv.status not in STATUSES:
            raise InputError(f"conversation status {conv.status!r} is not one of {', '.join(STATUSES)}")
        conv.updated_at = now_iso()
        row = conv_row(conv)
        cur = self._run(
            "UPDATE conversations SET status = ?, lang = ?, channel = ?, priority = ?, agent = ?, "
            "state = ?, summary = ?, csat = ?, updated_at = ?, queued_at = ? WHERE tenant = ? AND id = ?",
            (*row[2:10], row[11], row[12], conv.tenant, conv.id))
        if cur.rowcount == 0:
            raise NotFoundError(f"conversation {conv.id!r} not found")

    def delete_conversation(self, tenant: str, conv_id: str) -> int:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                gone = self._db.execute("DELETE FROM conversations WHERE tenant = ? AND id = ?",
                                        (tenant, conv_id)).rowcount
                n = self._db.execute("DELETE FROM messages WHERE tenant = ? AND conversation_id = ?",
                                     (tenant, conv_id)).rowcount
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                self._db.execute("ROLLBACK")
                raise StoreError(f"{self.path}: could not delete conversation {conv_id!r}: {exc}") from exc
        if not gone:
            raise NotFoundError(f"conversation {str(conv_id)[:64]!r} not found")
        return n

    # -- messages ---------------------------------------------------------------------------
    def add_message(self, msg: Message) -> Message:
        self._insert_message(msg, None)
        return msg

    def add_message_once(self, msg: Message, key: str) -> tuple[Message, bool]:
        with self._lock:  # the insert and the read of an earlier message see the same state
            if self._insert_message(msg, key):
                return msg, True
            return self._keyed_message(msg.tenant, msg.conversation_id, key), False

    def _insert_message(self, msg: Message, key: str | None) -> bool:
        """Insert ``msg`` (setting ``id``/``created_at``); False when ``key`` is already taken."""
        if msg.role not in ROLES:
            raise InputError(f"message role {msg.role!r} is not one of {', '.join(ROLES)}")
        msg.created_at = now_iso()
        cur = self._run(
            "INSERT INTO messages (tenant, conversation_id, role, text, meta, created_at, idempotency_key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, conversation_id, idempotency_key) DO NOTHING",
            (msg.tenant, msg.conversation_id, msg.role, msg.text,
             json.dumps(msg.meta, ensure_ascii=False), msg.created_at, key))
        if cur.rowcount == 0:
            return False
        msg.id = cur.lastrowid
        return True

    def set_feedback(self, tenant: str, message_id: int, rating: int) -> None:
        cur = self._run("UPDATE messages SET feedback = ? WHERE tenant = ? AND id = ?",
                        (int(rating), tenant, int(message_id)))
        if cur.rowcount == 0:
            raise NotFoundError(f"message {message_id} not found")

    # -- agents and sessions ----------------------------------------------------------------
    def add_agent(self, agent: Agent) -> Agent:
        try:
            cur = self._run("INSERT INTO agents (tenant, username, password_hash, role, display_name) "
                            "VALUES (?, ?, ?, ?, ?)", (agent.tenant, agent.username, agent.password_hash,
                                                       agent.role, agent.display_name))
        except sqlite3.IntegrityError:
            raise InputError(f"agent {agent.username!r} already exists in tenant {agent.tenant!r}") from None
        agent.id = cur.lastrowid
        return agent

    def set_agent_password(self, tenant: str, username: str, password_hash: str) -> None:
        cur = self._run("UPDATE agents SET password_hash = ? WHERE tenant = ? AND username = ?",
                        (password_hash, tenant, username))
        if cur.rowcount == 0:
            raise NotFoundError(f"agent {username!r} not found")

    def add_session(self, token_hash: str, tenant: str, username: str, expires: float) -> None:
        self._run("INSERT INTO sessions (token_hash, tenant, username, expires) VALUES (?, ?, ?, ?)",
                  (token_hash, tenant, username, float(expires)))

    def delete_session(self, token_hash: str) -> None:
        self._run("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    # -- API keys ---------------------------------------------------------------------------
    def add_key(self, key: ApiKey) -> ApiKey:
        cur = self._run("INSERT INTO api_keys (tenant, kind, key_hash, label, origins) VALUES (?, ?, ?, ?, ?)",
                        (key.tenant, key.kind, key.key_hash, key.label, json.dumps(key.origins)))
        key.id = cur.lastrowid
        return key

    def delete_key(self, tenant: str, key_id: int) -> None:
        cur = self._run("DELETE FROM api_keys WHERE tenant = ? AND id = ?", (tenant, int(key_id)))
        if cur.rowcount == 0:
            raise NotFoundError(f"key {key_id} not found")

    # -- per-tenant policies ----------------------------------------------------------------
    def set_policy(self, tenant: str, name: str, value: dict[str, Any]) -> None:
        self._run("INSERT INTO policies (tenant, name, value) VALUES (?, ?, ?) ON CONFLICT (tenant, name) "
                  "DO UPDATE SET value = excluded.value", (tenant, name, json.dumps(value, ensure_ascii=False)))

    def close(self) -> None:
        with self._lock:
            self._db.close()

