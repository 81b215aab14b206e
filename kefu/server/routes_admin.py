"""Admin API (admin key of a tenant, or the root key with ``X-Kefu-Tenant``): keys, agents, policy,
knowledge."""
from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Path
from starlette.concurrency import run_in_threadpool

from kefu.errors import InputError, NotFoundError
from kefu.ingest.pipeline import faq_uri
from kefu.server.auth import ForbiddenError, Principal, hash_password, new_key
from kefu.server.deps import Services, admin, services
from kefu.server.schemas import NewAgent, NewFaq, NewKey
from kefu.store.chats import Agent

router = APIRouter(prefix="/v1/admin", tags=["admin"])
SOURCE = Path(..., min_length=1, max_length=200)


@router.post("/keys", status_code=201, summary="Create an API key (shown once)")
def create_key(body: NewKey, who: Principal = Depends(admin), svc: Services = Depends(services)) -> dict:
    tenant = who.tenant
    if body.tenant and body.tenant != who.tenant:
        if who.kind != "root":
            raise ForbiddenError("only the root key creates keys for other tenants")
        tenant = body.tenant
    raw, key = new_key(svc.engine.chats, tenant, body.kind, label=body.label, origins=body.origins)
    return {"key": raw, "id": key.id, "tenant": tenant, "kind": key.kind, "label": key.label,
            "origins": key.origins}


@router.get("/keys", summary="The tenant's keys (never the keys themselves)")
def list_keys(who: Principal = Depends(admin), svc: Services = Depends(services)) -> dict:
    return {"keys": [{"id": k.id, "kind": k.kind, "label": k.label, "origins": k.origins}
                     for k in svc.engine.chats.list_keys(who.tenant)]}


@router.delete("/keys/{key_id}", summary="Revoke a key")
def delete_key(key_id: int = Path(..., ge=1, le=2**62), who: Principal = Depends(admin),
               svc: Services = Depends(services)) -> dict:
    svc.engine.chats.delete_key(who.tenant, key_id)
    return {"deleted": key_id}


@router.post("/agents", status_code=201, summary="Create an agent account")
def create_agent(body: NewAgent, who: Principal = Depends(admin), svc: Services = Depends(services)) -> dict:
    agent = svc.engine.chats.add_agent(Agent(who.tenant, body.username, hash_password(body.password),
                                             body.role, body.display_name or body.username))
    return {"username": agent.username, "role": agent.role, "display_name": agent.display_name}


@router.get("/policy/handoff", summary="The tenant's handoff policy")
def get_policy(who: Principal = Depends(admin), svc: Services = Depends(services)) -> dict:
    return svc.chat.policy(who.tenant).to_dict()


@router.put("/policy/handoff", summary="Replace the tenant's handoff policy (unknown fields rejected)")
def put_policy(body: dict, who: Principal = Depends(admin), svc: Services = Depends(services)) -> dict:
    return svc.chat.set_policy(who.tenant, _unicode(body)).to_dict()


@router.get("/policy/generator", summary="The tenant's generator settings (overrides of the server's)")
def get_generator(who: Principal = Depends(admin), svc: Services = Depends(services)) -> dict:
    return svc.engine.chats.get_policy(who.tenant, "generator") or {}


@router.put("/policy/generator", summary="Set the tenant's generator chain and model server")
def put_generator(body: dict, who: Principal = Depends(admin), svc: Services = Depends(services)) -> dict:
    return svc.engine.set_generator_policy(who.tenant, _unicode(body))


@router.get("/sources", summary="The tenant's knowledge sources")
def sources(who: Principal = Depends(admin), svc: Services = Depends(services)) -> dict:
    return {"sources": svc.engine.store.list_sources(who.tenant)}


@router.delete("/sources/{source}", summary="Delete a knowledge source")
def delete_source(source: str = SOURCE, who: Principal = Depends(admin), svc: Services = Depends(services)) -> dict:
    if not svc.engine.store.delete_source(who.tenant, source):
        raise NotFoundError(f"source {source!r} not found")
    return {"deleted": source}


@router.post("/faq", status_code=201, summary="Add one question and answer to the knowledge base")
async def add_faq(body: NewFaq, who: Principal = Depends(admin), svc: Services = Depends(services)) -> dict:
    uri = faq_uri(body.source, body.question)
    doc_id = await run_in_threadpool(svc.engine.ingestor.add_faq, who.tenant, body.source, uri,
                                     body.question, body.answer)
    return {"document_id": doc_id, "source": body.source, "uri": uri}


def _unicode(body: dict) -> dict:
    """JSON may carry lone surrogates (\\ud800), which no UTF-8 store can keep."""
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InputError("the policy holds text that is not valid Unicode (a lone surrogate)") from None
    return body
