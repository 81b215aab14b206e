"""Agent console API: sign in, the queue, take over, reply, suggestions, resolve, save to knowledge."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from kefu.dialog.service import public_conversation
from kefu.ingest.pipeline import faq_uri
from kefu.server.auth import AuthError, ForbiddenError, Principal, digest, start_session
from kefu.server.deps import SESSION_COOKIE, TENANT_RE, Services, agent, client_ip, services
from kefu.server.schemas import AgentReply, Login, NewFaq, SaveAnswer

router = APIRouter(prefix="/v1/agent", tags=["agent console"])


@router.post("/login", summary="Sign in; sets an HttpOnly session cookie and returns the token")
def login(body: Login, request: Request, response: Response, svc: Services = Depends(services)) -> dict:
    svc.limiter.hit("login:" + client_ip(request), 20, "client address's sign-in attempts")
    if not TENANT_RE.fullmatch(body.tenant):
        raise AuthError("wrong tenant, username or password")
    token = start_session(svc.engine.chats, body.tenant, body.username, body.password, svc.config.session_hours)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        max_age=int(svc.config.session_hours * 3600), path="/")
    return {"token": token, "tenant": body.tenant, "username": body.username}


@router.post("/logout", summary="Sign out")
def logout(request: Request, response: Response, who: Principal = Depends(agent),
           svc: Services = Depends(services)) -> dict:
    token = request.cookies.get(SESSION_COOKIE) or request.headers.get("authorization", "")[7:]
    svc.engine.chats.delete_session(digest(token))
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"signed_out": True}


@router.get("/me", summary="Who is signed in")
def me(who: Principal = Depends(agent), svc: Services = Depends(services)) -> dict:
    found = svc.engine.chats.get_agent(who.tenant, who.name)
    return {"tenant": who.tenant, "username": who.name, "role": found.role if found else "agent",
            "display_name": found.display_name if found else who.name}


@router.get("/queue", summary="Waiting and taken conversations, most urgent first")
def queue(who: Principal = Depends(agent), svc: Services = Depends(services)) -> dict:
    return {"queue": svc.chat.queue(who.tenant)}


@router.get("/conversations/{conversation_id}", summary="A conversation with its summary and messages")
def conversation(conversation_id: str, who: Principal = Depends(agent), svc: Services = Depends(services)) -> dict:
    conv = svc.chat.get(who.tenant, conversation_id)
    return {"conversation": {**public_conversation(conv), "summary": conv.summary,
                             "priority": conv.priority},
            "messages": [m.to_dict() for m in svc.chat.history(who.tenant, conversation_id)]}


@router.post("/conversations/{conversation_id}/take", summary="Take over from the bot")
def take(conversation_id: str, who: Principal = Depends(agent), svc: Services = Depends(services)) -> dict:
    account = svc.engine.chats.get_agent(who.tenant, who.name)
    role = account.role if account else "agent"
    return {"conversation": public_conversation(svc.chat.take(who.tenant, conversation_id, who.name, role=role))}


@router.post("/conversations/{conversation_id}/reply", summary="Reply to the customer (shown at once)")
def reply(conversation_id: str, body: AgentReply, who: Principal = Depends(agent),
          svc: Services = Depends(services)) -> dict:
    return {"message": svc.chat.agent_reply(who.tenant, conversation_id, who.name, body.text).to_dict()}


@router.post("/conversations/{conversation_id}/resolve", summary="Close the conversation (asks for CSAT)")
def resolve(conversation_id: str, who: Principal = Depends(agent), svc: Services = Depends(services)) -> dict:
    return {"conversation": public_conversation(svc.chat.resolve(who.tenant, conversation_id, who.name))}


@router.get("/conversations/{conversation_id}/suggestions", summary="Replies from the knowledge base")
async def suggestions(conversation_id: str, who: Principal = Depends(agent),
                      svc: Services = Depends(services)) -> dict:
    return await run_in_threadpool(svc.chat.suggestions, who.tenant, conversation_id)


@router.get("/dashboard", summary="Volume, containment, handoffs, CSAT, sentiment, intents, knowledge gaps")
async def dashboard(days: int = Query(30, ge=1, le=3650), who: Principal = Depends(agent),
                    svc: Services = Depends(services)) -> dict:
    from kefu.analytics.conversations import conversation_stats

    return await run_in_threadpool(conversation_stats, svc.engine, who.tenant, days=days)


@router.post("/knowledge", status_code=201, summary="Add a question and answer to the knowledge base "
             "(supervisors; e.g. a drafted knowledge-gap entry)")
async def add_knowledge(body: NewFaq, who: Principal = Depends(agent), svc: Services = Depends(services)) -> dict:
    account = svc.engine.chats.get_agent(who.tenant, who.name)
    if account is None or account.role != "supervisor":
        raise ForbiddenError("only supervisors add to the knowledge base")
    uri = faq_uri(body.source, body.question)
    doc_id = await run_in_threadpool(svc.engine.ingestor.add_faq, who.tenant, body.source, uri, body.question,
                                     body.answer)
    return {"document_id": doc_id, "source": body.source, "uri": uri}


@router.post("/conversations/{conversation_id}/save-answer",
             summary="Save an agent's reply into the knowledge base as an FAQ entry")
async def save_answer(conversation_id: str, body: SaveAnswer, who: Principal = Depends(agent),
                      svc: Services = Depends(services)) -> dict:
    return await run_in_threadpool(svc.chat.save_answer, who.tenant, conversation_id, body.message_id,
                                   body.question)
