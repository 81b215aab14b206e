"""The agent side of live events: a conversation's new messages and status changes as SSE.

The same stream a widget follows (``routes_chat._follow``), for a signed-in agent of the tenant; on
PostgreSQL it is woken by changes any replica commits (LISTEN/NOTIFY), so an agent's console may be
served by another replica than the customer's widget.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from kefu.server.auth import Principal
from kefu.server.deps import Services, agent, services
from kefu.server.routes_chat import HEARTBEAT_SECONDS, _follow

router = APIRouter(prefix="/v1/agent", tags=["agent console"])


@router.get("/conversations/{conversation_id}/events",
            summary="Live messages and status of a conversation (SSE); resumes after Last-Event-ID",
            responses={200: {"content": {"text/event-stream": {}}}})
async def agent_events(conversation_id: str, request: Request, after: int = Query(0, ge=0, le=2**62),
                       who: Principal = Depends(agent), svc: Services = Depends(services)):
    conv = await run_in_threadpool(svc.chat.get, who.tenant, conversation_id)
    last = request.headers.get("last-event-id", "")
    start = int(last) if last.isdigit() and len(last) < 19 else after
    return EventSourceResponse(_follow(svc, who.tenant, conv.id, start, request), ping=HEARTBEAT_SECONDS)
