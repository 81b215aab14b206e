"""Knowledge graph and customer profiles over HTTP: entity search and neighbours (the ``/graph`` explorer),
``GET /v1/customers/{id}/profile`` and ``DELETE /v1/customers/{id}`` (erasure).

Staff only: an agent session, an admin key or the root key (widget keys are public and the graph holds
customers). Every call is scoped to the caller's tenant; another tenant's ids answer 404.
"""
from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from kefu.errors import NotFoundError
from kefu.kg.base import ENTITY_ID, MAX_PAGE
from kefu.server.auth import ForbiddenError, Principal
from kefu.server.deps import Services, admin, caller, services

router = APIRouter(tags=["knowledge graph"])


class CustomerLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: str = Field(..., min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@+\-]*$")


def staff(who: Principal = Depends(caller)) -> Principal:
    """An agent session, an admin key or the root key."""
    if who.kind not in ("agent", "admin", "root"):
        raise ForbiddenError("the knowledge graph and customer profiles need an agent session or an admin key")
    return who


def supervisor(who: Principal = Depends(staff), svc: Services = Depends(services)) -> Principal:
    """A supervisor's session, an admin key or the root key."""
    if who.kind == "agent":
        account = svc.engine.chats.get_agent(who.tenant, who.name)
        if account is None or account.role != "supervisor":
            raise ForbiddenError("only supervisors (or an admin key) erase customers")
    return who


def _entity_id(value: str) -> str:
    if not ENTITY_ID.fullmatch(value):
        raise NotFoundError(f"entity {value[:64]!r} not found")
    return value


@router.get("/v1/kg/search", summary="Entities whose name or an alias contains q")
async def search(q: str = Query(..., min_length=1, max_length=200), limit: int = Query(20, ge=1, le=100),
                 who: Principal = Depends(staff), svc: Services = Depends(services)) -> dict:
    graph = svc.engine.graph
    found = await run_in_threadpool(graph.search_entities, who.tenant, q, limit)
    return {"query": q, "entities": [e.to_dict() for e in found], "counts": graph.counts(who.tenant)}


@router.get("/v1/kg/entities/{entity_id}", summary="One entity with its aliases")
def entity(entity_id: str = Path(..., max_length=64), who: Principal = Depends(staff),
           svc: Services = Depends(services)) -> dict:
    return {"entity": svc.engine.graph.get_entity(who.tenant, _entity_id(entity_id)).to_dict()}


@router.get("/v1/kg/entities/{entity_id}/neighbours", summary="A page of the entity's edges, both directions")
async def neighbours(entity_id: str = Path(..., max_length=64), limit: int = Query(50, ge=1, le=MAX_PAGE),
                     offset: int = Query(0, ge=0, le=10_000_000), who: Principal = Depends(staff),
                     svc: Services = Depends(services)) -> dict:
    page = await run_in_threadpool(svc.engine.graph.neighbours, who.tenant, _entity_id(entity_id), limit, offset)
    return page.to_dict()


@router.get("/v1/kg/ask", summary="Answer a question from the graph alone (null when it has no confident answer)")
async def ask(q: str = Query(..., min_length=1, max_length=2000), who: Principal = Depends(staff),
              svc: Services = Depends(services)) -> dict:
    found = await run_in_threadpool(svc.engine.graph_qa.ask, who.tenant, q)
    return {"question": q, "answer": found.to_dict() if found else None}


@router.get("/v1/customers/{customer_id}/profile",
            summary="A customer's conversations, orders, products, intents, sentiment history and tickets")
async def profile(customer_id: str = Path(..., max_length=128), who: Principal = Depends(staff),
                  svc: Services = Depends(services)) -> dict:
    from kefu.kg.profiles import customer_profile

    return await run_in_threadpool(customer_profile, svc.engine, who.tenant, customer_id)


@router.get("/v1/agent/conversations/{conversation_id}/customer",
            summary="The profile of the customer of a conversation (for the agent console)")
async def conversation_customer(conversation_id: str, who: Principal = Depends(staff),
                                svc: Services = Depends(services)) -> dict:
    from kefu.kg.profiles import conversation_customer as customer_of
    from kefu.kg.profiles import customer_profile

    conv = svc.chat.get(who.tenant, conversation_id)
    return await run_in_threadpool(customer_profile, svc.engine, who.tenant, customer_of(conv))


@router.delete("/v1/customers/{customer_id}",
               summary="Erase a customer: every linked graph node, conversation and message (supervisors)")
async def erase(customer_id: str = Path(..., max_length=128), who: Principal = Depends(supervisor),
                svc: Services = Depends(services)) -> dict:
    from kefu.kg.profiles import erase_customer

    return {"erased": await run_in_threadpool(erase_customer, svc.engine, who.tenant, customer_id)}


@router.put("/v1/conversations/{conversation_id}/customer",
            summary="Link a conversation to your own customer id (admin key: server-side integrations)")
def link_customer(body: CustomerLink, conversation_id: str,
                  who: Principal = Depends(admin), svc: Services = Depends(services)) -> dict:
    from kefu.kg.profiles import customer_id

    conv = svc.chat.link_customer(who.tenant, conversation_id, body.customer)
    return {"conversation": conv.id, "customer": customer_id(who.tenant, "external", body.customer)}


def pages(app) -> None:
    """``/graph`` (the explorer page) and ``/graph.js`` (its script), both served from the package."""
    def static(name: str) -> str:
        return resources.files("kefu.server").joinpath("static", name).read_text(encoding="utf-8")

    @app.get("/graph", tags=["pages"], summary="The knowledge-graph explorer (agents sign in)",
             response_class=HTMLResponse)
    def graph_page() -> HTMLResponse:
        return HTMLResponse(static("graph.html"))

    @app.get("/graph.js", tags=["pages"], summary="The explorer's script", response_class=Response)
    def graph_js() -> Response:
        return Response(static("graph.js"), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})
