"""The read side of a SQL chat store, written once for SQLite and PostgreSQL.

Both stores keep the same tables, timestamps and JSON as text; a store mixes in :class:`ChatReads` and
provides ``_all(sql, args) -> rows`` with ``?`` as the parameter placeholder (PostgreSQL's ``_all``
turns it into ``%s``). The queries use no other dialect feature.
"""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from kefu.errors import NotFoundError
from kefu.store.chats import Agent, ApiKey, Conversation, Message

CONV_COLS = ("tenant, id, status, lang, channel, priority, agent, state, summary, csat, created_at, "
             "updated_at, queued_at")
MSG_COLS = "id, tenant, conversation_id, role, text, meta, feedback, created_at"
_KEY_COLS = "tenant, kind, key_hash, label, origins, id"
_AGENT_COLS = "tenant, username, password_hash, role, display_name, id"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def conv_row(c: Conversation) -> tuple:
    """A conversation as the row of ``CONV_COLS``."""
    return (c.tenant, c.id, c.status, c.lang, c.channel, float(c.priority), c.agent,
            json.dumps(c.state, ensure_ascii=False), json.dumps(c.summary, ensure_ascii=False), c.csat,
            c.created_at, c.updated_at, c.queued_at)


def conversation(row: tuple) -> Conversation:
    t, cid, status, lang, channel, prio, agent, state, summary, csat, created, updated, queued = row
    return Conversation(t, cid, status, lang, channel, prio, agent, json.loads(state), json.loads(summary),
                        csat, created, updated, queued)


def message(row: tuple) -> Message:
    mid, tenant, conv, role, text, meta, feedback, created = row
    return Message(tenant, conv, role, text, json.loads(meta), mid, created, feedback)


def _key(row: tuple) -> ApiKey:
    t, kind, h, label, origins, kid = row
    return ApiKey(t, kind, h, label, json.loads(origins), kid)


class ChatReads:
    """Every read of the ``ChatStore`` protocol, over ``self._all``."""

    def _all(self, sql: str, args: tuple | list = ()) -> list[tuple]:  # pragma: no cover - stores define it
        raise NotImplementedError

    def get_conversation(self, tenant: str, conv_id: str) -> Conversation:
        rows = self._all(f"SELECT {CONV_COLS} FROM conversations WHERE tenant = ? AND id = ?", (tenant, conv_id))
        if not rows:
            raise NotFoundError(f"conversation {conv_id!r} not found")
        return conversation(rows[0])

    def list_conversations(self, tenant: str, statuses: tuple[str, ...] | None = None,
                           limit: int = 100) -> list[Conversation]:
        sql = f"SELECT {CONV_COLS} FROM conversations WHERE tenant = ?"
        args: list[Any] = [tenant]
        if statuses:
            sql += f" AND status IN ({', '.join('?' * len(statuses))})"
            args += list(statuses)
        rows = self._all(sql + " ORDER BY updated_at DESC LIMIT ?", [*args, int(limit)])
        return [conversation(r) for r in rows]

    def list_messages(self, tenant: str, conv_id: str, after: int = 0, limit: int = 500) -> list[Message]:
        rows = self._all(f"SELECT {MSG_COLS} FROM messages WHERE tenant = ? AND conversation_id = ? "
                         "AND id > ? ORDER BY id LIMIT ?", (tenant, conv_id, int(after), int(limit)))
        return [message(r) for r in rows]

    def get_message(self, tenant: str, message_id: int) -> Message:
        rows = self._all(f"SELECT {MSG_COLS} FROM messages WHERE tenant = ? AND id = ?", (tenant, int(message_id)))
        if not rows:
            raise NotFoundError(f"message {message_id} not found")
        return message(rows[0])

    def _keyed_message(self, tenant: str, conv_id: str, key: str) -> Message:
        """The conversation's message stored under idempotency ``key`` (see ``add_message_once``)."""
        rows = self._all(f"SELECT {MSG_COLS} FROM messages WHERE tenant = ? AND conversation_id = ? "
                         "AND idempotency_key = ?", (tenant, conv_id, key))
        if not rows:
            raise NotFoundError(f"no message with idempotency key {key!r} in conversation {conv_id!r}")
        return message(rows[0])

    def get_agent(self, tenant: str, username: str) -> Agent | None:
        rows = self._all(f"SELECT {_AGENT_COLS} FROM agents WHERE tenant = ? AND username = ?", (tenant, username))
        return Agent(*rows[0]) if rows else None

    def get_session(self, token_hash: str) -> tuple[str, str] | None:
        rows = self._all("SELECT tenant, username FROM sessions WHERE token_hash = ? AND expires > ?",
                         (token_hash, time.time()))
        return (rows[0][0], rows[0][1]) if rows else None

    def find_key(self, key_hash: str) -> ApiKey | None:
        rows = self._all(f"SELECT {_KEY_COLS} FROM api_keys WHERE key_hash = ?", (key_hash,))
        return _key(rows[0]) if rows else None

    def list_keys(self, tenant: str) -> list[ApiKey]:
        return [_key(r) for r in self._all(f"SELECT {_KEY_COLS} FROM api_keys WHERE tenant = ? ORDER BY id",
                                           (tenant,))]

    def all_origins(self) -> list[str]:
        """Every origin bound to any widget key (for CORS preflights, which carry no key)."""
        found: set[str] = set()
        for (origins,) in self._all("SELECT origins FROM api_keys WHERE kind = 'widget'"):
            found.update(json.loads(origins))
        return sorted(found)

    def get_policy(self, tenant: str, name: str) -> dict[str, Any] | None:
        rows = self._all("SELECT value FROM policies WHERE tenant = ? AND name = ?", (tenant, name))
        return json.loads(rows[0][0]) if rows else None

    def list_agents(self, tenant: str) -> list[Agent]:
        """Beyond the protocol (for ``kefu.store.migrate``): every agent of ``tenant``."""
        return [Agent(*r) for r in self._all(f"SELECT {_AGENT_COLS} FROM agents WHERE tenant = ? ORDER BY id",
                                             (tenant,))]

    def list_policies(self, tenant: str) -> dict[str, dict[str, Any]]:
        """Beyond the protocol (for ``kefu.store.migrate``): every policy of ``tenant`` by name."""
        rows = self._all("SELECT name, value FROM policies WHERE tenant = ? ORDER BY name", (tenant,))
        return {name: json.loads(value) for name, value in rows}

    def list_tenants(self) -> list[str]:
        """Beyond the protocol (for ``kefu.store.migrate``): every tenant with any chat data."""
        return [r[0] for r in self._all(
            "SELECT tenant FROM conversations UNION SELECT tenant FROM agents UNION SELECT tenant FROM api_keys "
            "UNION SELECT tenant FROM policies ORDER BY 1")]
