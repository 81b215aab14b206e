"""Customer-facing API: conversations, messages (JSON or streamed), live events, feedback, CSAT."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from kefu.dialog.service import Turn, public_conversation
from kefu.errors import KefuError
from kefu.server.auth import Principal
from kefu.server.deps import Services, customer, services
from kefu.server.schemas import Csat, Feedback, NewConversation, NewMessage

router = APIRouter(prefix="/v1", tags=["conversations"])
HEARTBEAT_SECONDS = 15
DELTA_CHARS = 24


@router.post("/conversations", status_code=201, summary="Start a conversation")
def create_conversation(body: NewConversation | None = None, who: Principal = Depends(customer),
                        svc: Services = Depends(services)) -> dict:
    body = body or NewConversation()
    conv = svc.chat.start(who.tenant, lang=body.lang, channel=body.channel)
    return {"conversation": public_conversation(conv)}


@router.get("/conversations/{conversation_id}", summary="A conversation's status and queue position")
def get_conversation(conversation_id: str, who: Principal = Depends(customer),
                     svc: Services = Depends(services)) -> dict:
    conv = svc.chat.get(who.tenant, conversation_id)
    position = svc.chat.position(conv) if conv.status == "queued" else None
    return {"conversation": public_conversation(conv, position)}


@router.get("/conversations/{conversation_id}/messages", summary="History (messages after an id)")
def list_messages(conversation_id: str, after: int = Query(0, ge=0, le=2**62),
                  who: Principal = Depends(customer), svc: Services = Depends(services)) -> dict:
    return {"messages": [m.to_dict() for m in svc.chat.history(who.tenant, conversation_id, after)]}


@router.post("/conversations/{conversation_id}/messages",
             summary="Send a customer message; the answer comes back as JSON or, with stream, as SSE",
             responses={200: {"content": {"text/event-stream": {}}}})
async def post_message(conversation_id: str, body: NewMessage, request: Request,
                       who: Principal = Depends(customer), svc: Services = Depends(services)):
    wants_stream = body.stream or "text/event-stream" in request.headers.get("accept", "")
    key = request.headers.get("idempotency-key")
    # Errors (unknown conversation, empty text) surface as plain JSON before any stream opens.
    turn = await run_in_threadpool(svc.chat.post, who.tenant, conversation_id, body.text, key)
    if not wants_stream:
        return turn.to_dict()
    return EventSourceResponse(_stream_turn(turn), ping=HEARTBEAT_SECONDS)


async def _stream_turn(turn: Turn) -> AsyncIterator[dict]:
    yield {"event": "turn", "data": json.dumps({"conversation": public_conversation(turn.conversation),
                                                "message": turn.customer.to_dict()}, ensure_ascii=False)}
    for reply in turn.replies:
        if reply.role == "bot":
            for i in range(0, len(reply.text), DELTA_CHARS):
                yield {"event": "delta", "data": json.dumps({"message_id": reply.id,
                                                             "text": reply.text[i:i + DELTA_CHARS]},
                                                            ensure_ascii=False)}
        yield {"event": "message", "id": str(reply.id), "data": json.dumps(reply.to_dict(), ensure_ascii=False)}
    yield {"event": "done", "data": json.dumps({"handoff": turn.handoff.to_dict() if turn.handoff else None,
                                                "conversation": public_conversation(turn.conversation)})}


@router.get("/conversations/{conversation_id}/events", summary="Live messages (SSE); resumes after Last-Event-ID",
            responses={200: {"content": {"text/event-stream": {}}}})
async def events(conversation_id: str, request: Request, after: int = Query(0, ge=0, le=2**62),
                 who: Principal = Depends(customer), svc: Services = Depends(services)):
    return await follow_response(svc, who.tenant, conversation_id, request, after)


async def follow_response(svc: Services, tenant: str, conversation_id: str, request: Request,
                          after: int) -> EventSourceResponse:
    """The conversation's live events (404 first if it is not the tenant's), resuming after Last-Event-ID."""
    conv = await run_in_threadpool(svc.chat.get, tenant, conversation_id)
    last = request.headers.get("last-event-id", "")
    start = int(last) if last.isdigit() and len(last) < 19 else after
    return EventSourceResponse(_follow(svc, tenant, conv.id, start, request), ping=HEARTBEAT_SECONDS)


async def _follow(svc: Services, tenant: str, conv_id: str, after: int, request: Request) -> AsyncIterator[dict]:
    """New messages and status changes: woken at once by changes in this process (``Live``), and
    re-reading the chat store at least every ``FALLBACK_SECONDS`` for changes made by other replicas."""
    seen: tuple | None = None
    polls = 0
    while not await request.is_disconnected():
        try:
            msgs = await run_in_threadpool(svc.chat.chats.list_messages, tenant, conv_id, after)
            conv = await run_in_threadpool(svc.chat.chats.get_conversation, tenant, conv_id)
        except KefuError as exc:
            yield {"event": "error", "data": json.dumps(exc.to_dict())}
            return
        for msg in msgs:
            after = msg.id
            yield {"event": "message", "id": str(msg.id), "data": json.dumps(msg.to_dict(), ensure_ascii=False)}
        # The queue position moves as others are served: recompute it every few polls while queued.
        position = svc.chat.position(conv) if conv.status == "queued" and (polls % 3 == 0 or seen is None
                                                                           or seen[0] != "queued") else None
        state = (conv.status, position if position is not None else (seen[1] if seen else None))
        if state != seen:
            seen = state
            yield {"event": "status", "data": json.dumps(public_conversation(conv, state[1]))}
        polls += 1
        await svc.live.wait(conv_id, tenant=tenant)


@router.post("/conversations/{conversation_id}/handoff", summary="Ask for a human agent")
def handoff(conversation_id: str, who: Principal = Depends(customer), svc: Services = Depends(services)):
    turn = svc.chat.request_handoff(who.tenant, conversation_id)
    conv = svc.chat.get(who.tenant, conversation_id)
    position = svc.chat.position(conv) if conv.status == "queued" else None
    return {"conversation": public_conversation(conv, position),
            "message": turn.customer.to_dict() if turn else None}


@router.post("/conversations/{conversation_id}/csat", summary="Rate the conversation 1–5")
def csat(conversation_id: str, body: Csat, who: Principal = Depends(customer),
         svc: Services = Depends(services)) -> dict:
    return {"conversation": public_conversation(svc.chat.csat(who.tenant, conversation_id, body.score))}


@router.post("/conversations/{conversation_id}/messages/{message_id}/feedback",
             summary="Thumbs up (1) or down (-1) on an answer of this conversation")
def feedback(conversation_id: str, body: Feedback, message_id: int = Path(..., ge=1, le=2**62),
             who: Principal = Depends(customer), svc: Services = Depends(services)) -> JSONResponse:
    msg = svc.chat.feedback(who.tenant, message_id, body.rating, conversation_id)
    return JSONResponse({"message_id": msg.id, "feedback": msg.feedback})
