"""Conversation records and the ``ChatStore`` protocol: conversations, messages, feedback,
the handoff queue, agent accounts and sessions, API keys and per-tenant policies.

Every record carries a tenant id and every method takes one: asking for another tenant's
conversation answers ``NotFoundError``, exactly as if it did not exist. Implementations:
``sqlite`` (``kefu.store.sqlite_chats``); ``tests/store/chat_conformance.py`` runs on each.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

STATUSES = ("bot", "queued", "agent", "resolved")
ROLES = ("customer", "bot", "agent", "system")
KEY_KINDS = ("admin", "widget")


@dataclass
class Conversation:
    tenant: str
    id: str
    status: str = "bot"
    lang: str = ""
    channel: str = "web"
    priority: float = 0.0
    agent: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    csat: int | None = None
    created_at: str = ""
    updated_at: str = ""
    queued_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Message:
    tenant: str
    conversation_id: str
    role: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    created_at: str = ""
    feedback: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Agent:
    tenant: str
    username: str
    password_hash: str
    role: str = "agent"
    display_name: str = ""
    id: int | None = None


@dataclass
class ApiKey:
    tenant: str
    kind: str  # admin | widget
    key_hash: str
    label: str = ""
    origins: list[str] = field(default_factory=list)
    id: int | None = None


@runtime_checkable
class ChatStore(Protocol):
    """What the chat service and the HTTP server need to persist."""

    def create_conversation(self, conv: Conversation) -> Conversation: ...

    def get_conversation(self, tenant: str, conv_id: str) -> Conversation:
        """The conversation, or ``NotFoundError`` (also for another tenant's id)."""

    def update_conversation(self, conv: Conversation) -> None: ...

    def list_conversations(self, tenant: str, statuses: tuple[str, ...] | None = None,
                           limit: int = 100) -> list[Conversation]: ...

    def delete_conversation(self, tenant: str, conv_id: str) -> int:
        """Delete a conversation with all its messages (an erasure request); returns the messages deleted.

        ``NotFoundError`` when it does not exist (also for another tenant's id).
        """

    def add_message(self, msg: Message) -> Message:
        """Stores ``msg`` and returns it with ``id`` (increasing within the store) and ``created_at``."""

    def add_message_once(self, msg: Message, key: str) -> tuple[Message, bool]:
        """Stores ``msg`` under the client's idempotency ``key`` unless the conversation already has a
        message with that key: ``(stored message, True)``, or ``(the earlier message, False)``.

        Atomic in the database, so two replicas handling the same retry store it once.
        """

    def list_messages(self, tenant: str, conv_id: str, after: int = 0,
                      limit: int = 500) -> list[Message]: ...

    def get_message(self, tenant: str, message_id: int) -> Message: ...

    def set_feedback(self, tenant: str, message_id: int, rating: int) -> None: ...

    def add_agent(self, agent: Agent) -> Agent: ...

    def get_agent(self, tenant: str, username: str) -> Agent | None: ...

    def add_session(self, token_hash: str, tenant: str, username: str, expires: float) -> None: ...

    def get_session(self, token_hash: str) -> tuple[str, str] | None:
        """``(tenant, username)`` for a live session, else ``None``."""

    def delete_session(self, token_hash: str) -> None: ...

    def add_key(self, key: ApiKey) -> ApiKey: ...

    def find_key(self, key_hash: str) -> ApiKey | None: ...

    def list_keys(self, tenant: str) -> list[ApiKey]: ...

    def delete_key(self, tenant: str, key_id: int) -> None: ...

    def all_origins(self) -> list[str]:
        """Every origin bound to any widget key, across tenants (CORS preflights carry no key)."""

    def set_agent_password(self, tenant: str, username: str, password_hash: str) -> None: ...

    def get_policy(self, tenant: str, name: str) -> dict[str, Any] | None: ...

    def set_policy(self, tenant: str, name: str, value: dict[str, Any]) -> None: ...

    def close(self) -> None: ...
