"""PostgreSQL chat store: the ``ChatStore`` protocol on the same kind of database as ``PostgresStore``.

It behaves like ``SQLiteChatStore`` (``tests/store/chat_conformance.py`` runs on both): timestamps and
JSON are kept as the same text, so values round-trip unchanged. Differences worth knowing:

* Message ids come from an identity column; inserts into one conversation are serialised by an
  advisory lock held to commit, so within a conversation ids become visible in increasing order and a
  poller reading ``list_messages(after=last_id)`` never skips a message (across conversations ids
  still increase but may commit out of order).
* A duplicate conversation id, session token or key hash is an ``InputError`` (SQLite lets its
  ``IntegrityError`` through).

It may share a database with ``PostgresStore`` (``schema_version`` keeps one row per component).
"""
from __future__ import annotations

import json
from typing import Any

from kefu.errors import InputError, NotFoundError, StoreError
from kefu.store.chat_reads import CONV_COLS, MSG_COLS, ChatReads, conv_row, now_iso
from kefu.store.chats import ROLES, STATUSES, Agent, ApiKey, Conversation, Message
from kefu.store.pg_notify import NOTIFY_SQL
from kefu.store.postgres import ADVISORY_LOCK, Pool, _lock_key, migrate_schema, normalize_url

try:
    import psycopg
except ImportError:  # pragma: no cover - the PostgresStore import above already names the extra
    psycopg = None  # type: ignore[assignment]

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE conversations (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        status TEXT NOT NULL,
        lang TEXT NOT NULL,
        channel TEXT NOT NULL,
        priority DOUBLE PRECISION NOT NULL DEFAULT 0,
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
    CREATE INDEX conversations_updated ON conversations (tenant, updated_at);
    CREATE TABLE messages (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
        expires DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE api_keys (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant TEXT NOT NULL,
        kind TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL DEFAULT '',
        origins TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX api_keys_tenant ON api_keys (tenant, id);
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


class PostgresChatStore(ChatReads):
    """Thread-safe: a small connection pool, one short transaction per call."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = normalize_url(url)
        self._pool = Pool(self.url, pool_size)
        try:
            migrate_schema(self._pool, "chats", MIGRATIONS)
        except BaseException:
            self._pool.close()
            raise

    def _run(self, sql: str, args: tuple | list = (), *, what: str = "chat store",
             duplicate: str | None = None, lock: str | None = None,
             notify: tuple[str, str] | None = None) -> tuple[list[tuple], int]:
        """Rows (if any) and the row count of one statement in its own transaction.

        ``duplicate``: the ``InputError`` message for a unique violation. ``lock``: an advisory lock key
        held to commit. ``notify``: (tenant, conversation id) announced to other replicas at commit
        (``kefu.store.pg_notify``).
        """
        try:
            with self._pool.transaction(write=True, what=what) as cur:
                if lock is not None:
                    cur.execute(ADVISORY_LOCK, (lock,))
                cur.execute(sql, args)
                rows = cur.fetchall() if cur.description else []
                count = cur.rowcount
                if notify is not None and count:
                    cur.execute(NOTIFY_SQL, notify)
                return rows, count
        except StoreError as exc:
            if duplicate and isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
                raise InputError(duplicate) from None
            raise

    def _all(self, sql: str, args: tuple | list = (), what: str = "chat store") -> list[tuple]:
        with self._pool.transaction(write=False, what=what) as cur:
            return cur.execute(sql.replace("?", "%s"), args).fetchall()  # ChatReads writes ? placeholders

    # -- conversations ----------------------------------------------------------------------
    def create_conversation(self, conv: Conversation) -> Conversation:
        if conv.status not in STATUSES:
            raise InputError(f"conversation status {conv.status!r} is not one of {', '.join(STATUSES)}")
        conv.created_at = conv.updated_at = now_iso()
        self._run(f"INSERT INTO conversations ({CONV_COLS}) VALUES ({', '.join(['%s'] * 13)})", conv_row(conv),
                  what="create_conversation", notify=(conv.tenant, conv.id),
                  duplicate=f"conversation {conv.id!r} already exists in tenant {conv.tenant!r}")
        return conv

    def update_conversation(self, conv: Conversation) -> None:
        if conv.status not in STATUSES:
            raise InputError(f"conversation status {conv.status!r} is not one of {', '.join(STATUSES)}")
        conv.updated_at = now_iso()
        row = conv_row(conv)
        _, count = self._run(
            "UPDATE conversations SET status = %s, lang = %s, channel = %s, priority = %s, agent = %s, "
            "state = %s, summary = %s, csat = %s, updated_at = %s, queued_at = %s WHERE tenant = %s AND id = %s",
            (*row[2:10], row[11], row[12], conv.tenant, conv.id), what="update_conversation",
            notify=(conv.tenant, conv.id))
        if count == 0:
            raise NotFoundError(f"conversation {conv.id!r} not found")

    # -- messages ---------------------------------------------------------------------------
    def delete_conversation(self, tenant: str, conv_id: str) -> int:
        with self._pool.transaction(write=True, what="delete_conversation") as cur:
            cur.execute("DELETE FROM conversations WHERE tenant = %s AND id = %s", (tenant, conv_id))
            gone = cur.rowcount
            cur.execute("DELETE FROM messages WHERE tenant = %s AND conversation_id = %s", (tenant, conv_id))
            n = cur.rowcount
        if not gone:
            raise NotFoundError(f"conversation {str(conv_id)[:64]!r} not found")
        return n

    def add_message(self, msg: Message) -> Message:
        self._insert_message(msg, None)
        return msg

    def add_message_once(self, msg: Message, key: str) -> tuple[Message, bool]:
        if self._insert_message(msg, key):
            return msg, True
        return self._keyed_message(msg.tenant, msg.conversation_id, key), False  # committed before we tried

    def _insert_message(self, msg: Message, key: str | None) -> bool:
        """Insert ``msg`` (setting ``id``/``created_at``); False when ``key`` is already taken."""
        if msg.role not in ROLES:
            raise InputError(f"message role {msg.role!r} is not one of {', '.join(ROLES)}")
        msg.created_at = now_iso()
        rows, _ = self._run(
            "INSERT INTO messages (tenant, conversation_id, role, text, meta, created_at, idempotency_key) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (tenant, conversation_id, idempotency_key) "
            "DO NOTHING RETURNING id",
            (msg.tenant, msg.conversation_id, msg.role, msg.text, json.dumps(msg.meta, ensure_ascii=False),
             msg.created_at, key), what="add_message", lock=_lock_key("conversation", msg.tenant, msg.conversation_id),
            notify=(msg.tenant, msg.conversation_id))
        if not rows:
            return False
        msg.id = rows[0][0]
        return True

    def set_feedback(self, tenant: str, message_id: int, rating: int) -> None:
        _, count = self._run("UPDATE messages SET feedback = %s WHERE tenant = %s AND id = %s",
                             (int(rating), tenant, int(message_id)), what="set_feedback")
        if count == 0:
            raise NotFoundError(f"message {message_id} not found")

    # -- agents and sessions ----------------------------------------------------------------
    def add_agent(self, agent: Agent) -> Agent:
        rows, _ = self._run("INSERT INTO agents (tenant, username, password_hash, role, display_name) "
                            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                            (agent.tenant, agent.username, agent.password_hash, agent.role, agent.display_name),
                            what="add_agent",
                            duplicate=f"agent {agent.username!r} already exists in tenant {agent.tenant!r}")
        agent.id = rows[0][0]
        return agent

    def set_agent_password(self, tenant: str, username: str, password_hash: str) -> None:
        _, count = self._run("UPDATE agents SET password_hash = %s WHERE tenant = %s AND username = %s",
                             (password_hash, tenant, username), what="set_agent_password")
        if count == 0:
            raise NotFoundError(f"agent {username!r} not found")

    def add_session(self, token_hash: str, tenant: str, username: str, expires: float) -> None:
        self._run("INSERT INTO sessions (token_hash, tenant, username, expires) VALUES (%s, %s, %s, %s)",
                  (token_hash, tenant, username, float(expires)), what="add_session",
                  duplicate="this session token is already in use")

    def delete_session(self, token_hash: str) -> None:
        self._run("DELETE FROM sessions WHERE token_hash = %s", (token_hash,), what="delete_session")

    # -- API keys ---------------------------------------------------------------------------
    def add_key(self, key: ApiKey) -> ApiKey:
        rows, _ = self._run("INSERT INTO api_keys (tenant, kind, key_hash, label, origins) VALUES (%s, %s, %s, %s, %s) "
                            "RETURNING id", (key.tenant, key.kind, key.key_hash, key.label, json.dumps(key.origins)),
                            what="add_key", duplicate="an API key with this hash already exists")
        key.id = rows[0][0]
        return key

    def delete_key(self, tenant: str, key_id: int) -> None:
        _, count = self._run("DELETE FROM api_keys WHERE tenant = %s AND id = %s", (tenant, int(key_id)),
                             what="delete_key")
        if count == 0:
            raise NotFoundError(f"key {key_id} not found")

    # -- per-tenant policies ----------------------------------------------------------------
    def set_policy(self, tenant: str, name: str, value: dict[str, Any]) -> None:
        self._run("INSERT INTO policies (tenant, name, value) VALUES (%s, %s, %s) ON CONFLICT (tenant, name) "
                  "DO UPDATE SET value = excluded.value", (tenant, name, json.dumps(value, ensure_ascii=False)),
                  what="set_policy")

    # -- beyond the protocol: listing and bulk import, for ``kefu.store.migrate`` -----------------
    def import_conversations(self, conversations: list[Conversation]) -> None:
        """Insert or overwrite conversations as they are, timestamps included."""
        for conv in conversations:
            if conv.status not in STATUSES:
                raise InputError(f"conversation status {conv.status!r} is not one of {', '.join(STATUSES)}")
        if not conversations:
            return
        cols = CONV_COLS.split(", ")
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols[2:])
        with self._pool.transaction(write=True, what="import_conversations") as cur:
            cur.executemany(f"INSERT INTO conversations ({CONV_COLS}) VALUES ({', '.join(['%s'] * 13)}) "
                            f"ON CONFLICT (tenant, id) DO UPDATE SET {updates}",
                            [conv_row(c) for c in conversations])

    def import_messages(self, messages: list[Message]) -> None:
        """Insert messages keeping their ids, timestamps and feedback; later ids continue after the largest.

        A message already there under the same id (an earlier import) only gets its feedback refreshed.
        """
        for msg in messages:
            if msg.role not in ROLES:
                raise InputError(f"message role {msg.role!r} is not one of {', '.join(ROLES)}")
            if msg.id is None or not msg.created_at:
                raise InputError("imported messages need their id and created_at")
        if not messages:
            return
        with self._pool.transaction(write=True, what="import_messages") as cur:
            cur.execute("LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE")  # no new ids until the sequence moves
            cur.executemany(
                f"INSERT INTO messages ({MSG_COLS}) OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET feedback = excluded.feedback WHERE messages.tenant = excluded.tenant "
                "AND messages.conversation_id = excluded.conversation_id AND messages.text = excluded.text",
                [(int(m.id), m.tenant, m.conversation_id, m.role, m.text, json.dumps(m.meta, ensure_ascii=False),
                  m.feedback, m.created_at) for m in messages])
            cur.execute("SELECT setval(pg_get_serial_sequence('messages', 'id'), "
                        "GREATEST((SELECT MAX(id) FROM messages), 1))")

    def close(self) -> None:
        self._pool.close()
