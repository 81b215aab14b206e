"""Request bodies of the HTTP API (responses are plain JSON built from the store records)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewConversation(_Body):
    lang: Literal["", "zh", "en"] = ""
    channel: str = Field("web", min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_-]*$")


class NewMessage(_Body):
    text: str = Field(..., min_length=1, max_length=20000)
    stream: bool = False


class Feedback(_Body):
    rating: Literal[1, -1]


class Csat(_Body):
    score: int = Field(..., ge=1, le=5)


class Login(_Body):
    tenant: str = Field(..., min_length=1, max_length=64)
    username: str = Field(..., min_length=1, max_length=64)
    password: str = Field(..., min_length=1, max_length=256)


class AgentReply(_Body):
    text: str = Field(..., min_length=1, max_length=20000)


class SaveAnswer(_Body):
    message_id: int = Field(..., ge=1, le=2**62)
    question: str | None = Field(None, max_length=2000)


class NewKey(_Body):
    kind: Literal["admin", "widget"]
    label: str = Field("", max_length=100)
    origins: list[str] = Field(default_factory=list, max_length=50)
    tenant: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                               description="only with the root key: the tenant the key belongs to")


class NewAgent(_Body):
    username: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
    password: str = Field(..., min_length=8, max_length=256)
    role: Literal["agent", "supervisor"] = "agent"
    display_name: str = Field("", max_length=100)


class NewFaq(_Body):
    question: str = Field(..., min_length=1, max_length=2000)
    answer: str = Field(..., min_length=1, max_length=20000)
    source: str = Field("admin-faq", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list | None = None


class ChatCompletionRequest(BaseModel):
    """The OpenAI chat-completions body; fields kefu does not use are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field("kefu", max_length=200)
    messages: list[ChatMessage] = Field(..., min_length=1, max_length=200)
    stream: bool = False
