"""The agent side of live events: a conversation's new messages and status changes as SSE.

The same stream a widget follows (``routes_chat._follow``), for a signed-in agent of the tenant; on
PostgreSQL it is woken by changes any replica commits (LISTEN/NOTIFY), so an agent's console may be
served by another replica than the customer's widget.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from kefu.server.auth import Principal
from kefu.server.deps import Services, agent, services
from kefu.server.routes_chat import follow_response

router = APIRouter(prefix="/v1/agent", tags=["agent console"])


@router.get("/conversations/{conversation_id}/events",
            summary="Live messages and status of a conversation (SSE); resumes after Last-Event-ID",
            responses={200: {"content": {"text/event-stream": {}}}})
async def agent_events(conversation_id: str, request: Request, after: int = Query(0, ge=0, le=2**62),
                       who: Principal = Depends(agent), svc: Services = Depends(services)):
    return await follow_response(svc, who.tenant, conversation_id, request, after)
