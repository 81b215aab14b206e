"""``POST /v1/chat/completions``: any OpenAI client talks to the bot (stateless; history in the request).

The reply's content is the answer followed by its numbered sources; the ``kefu`` field of the
response (and of the last stream chunk) carries confidence, mode, citations and the explanation.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from kefu.dialog.answer import Answer
from kefu.dialog.service import answer_in_context
from kefu.errors import InputError
from kefu.server.auth import Principal
from kefu.server.deps import Services, customer, services
from kefu.server.schemas import ChatCompletionRequest

router = APIRouter(prefix="/v1", tags=["openai"])
MODEL = "kefu"
SOURCES = {"en": "Sources", "zh": "来源"}


@router.get("/models", summary="The one model this server offers (OpenAI format)")
def models(who: Principal = Depends(customer)) -> dict:
    return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "kefu"}]}


@router.post("/chat/completions", summary="OpenAI-compatible chat completion (streaming and not)",
             responses={200: {"content": {"text/event-stream": {}}}})
async def chat_completions(body: ChatCompletionRequest, who: Principal = Depends(customer),
                           svc: Services = Depends(services)):
    users = [_text(m.content) for m in body.messages if m.role == "user"]
    users = [u for u in users if u.strip()]
    if not users:
        raise InputError("messages must contain at least one user message with text")
    answer = await run_in_threadpool(_answer, svc, who.tenant, users)
    cid, created = "chatcmpl-" + uuid.uuid4().hex, int(time.time())
    content = render(answer)
    extra = {"confidence": answer.confidence, "mode": answer.mode, "language": answer.language,
             "citations": [c.__dict__ for c in answer.citations], "explanation": answer.explanation}
    if not body.stream:
        return {"id": cid, "object": "chat.completion", "created": created, "model": MODEL,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": sum(len(u) for u in users), "completion_tokens": len(content),
                          "total_tokens": sum(len(u) for u in users) + len(content)},
                "kefu": extra}
    return EventSourceResponse(_chunks(cid, created, content, extra), ping=15)


async def _chunks(cid: str, created: int, content: str, extra: dict) -> AsyncIterator[dict]:
    def chunk(delta: dict, finish: str | None = None, **more) -> dict:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **more}
        return {"data": json.dumps(body, ensure_ascii=False)}

    yield chunk({"role": "assistant", "content": ""})
    for i in range(0, len(content), 24):
        yield chunk({"content": content[i:i + 24]})
    yield chunk({}, "stop", kefu=extra)
    yield {"data": "[DONE]"}


def _text(content) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        text = content
    else:
        parts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        text = " ".join(str(p) for p in parts)
    return text.encode("utf-8", "replace").decode("utf-8")  # JSON may carry lone surrogates


def _answer(svc: Services, tenant: str, users: list[str]) -> Answer:
    previous = users[-2] if len(users) > 1 else None
    answer, question = answer_in_context(svc.engine, tenant, users[-1], previous)
    composer = svc.engine.composer(tenant)
    return composer.compose(tenant, question, answer) if composer.enabled else answer


def render(answer: Answer) -> str:
    """The answer text with its numbered sources, as a chat client shows it."""
    if answer.mode == "abstain" or not answer.citations:
        return answer.answer
    label = SOURCES.get(answer.language, SOURCES["en"])
    lines = [f"[{c.n}] {c.title}" + (f" — {c.uri}" if c.uri else "") for c in answer.citations[:3]]
    return f"{answer.answer}\n\n{label}:\n" + "\n".join(lines)
