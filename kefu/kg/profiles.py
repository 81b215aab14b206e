"""Customer profiles: a customer's conversations, the orders and products they mentioned, their intents,
sentiment history and handoffs (tickets), read from the chat store and kept as a graph source.

Who is a customer: the id an integration set on the conversation (``PUT /v1/conversations/{id}/customer``),
else the e-mail address or phone number the customer gave (remembered per conversation), else the
conversation alone. Profile ids are ``cu_`` + a hash of that key, so no identifier appears in URLs.

    profile = customer_profile(engine, "acme", "cu_…")        # or the integration's own customer id
    erase_customer(engine, "acme", "cu_…")                     # every linked node and message

The graph source ``customer:ID`` holds the customer node, its conversation and order nodes and links to
the products; deleting the customer deletes them all, then the conversations and their messages.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from typing import Any

from kefu.errors import NotFoundError
from kefu.kg.base import Entity, Triple, entity_id
from kefu.kg.resolve import Resolver
from kefu.store.chats import Conversation, Message

MAX_CONVERSATIONS = 5000
CUSTOMER_ID = re.compile(r"cu_[0-9a-f]{16}")
EXTERNAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+\-]{0,127}")


def customer_key(conv: Conversation) -> tuple[str, str]:
    """``(kind, key)`` naming the customer of ``conv``: external id, e-mail, phone, or the conversation."""
    explicit = conv.state.get("customer")
    if isinstance(explicit, str) and explicit:
        return "external", explicit
    remembered = conv.state.get("entities") or {}
    if remembered.get("EMAIL"):
        return "email", str(remembered["EMAIL"]).strip().lower()
    if remembered.get("PHONE"):
        return "phone", re.sub(r"\D", "", str(remembered["PHONE"]))
    return "conversation", conv.id


def customer_id(tenant: str, kind: str, key: str) -> str:
    """The profile id for a customer key (stable, reveals nothing)."""
    return "cu_" + hashlib.sha256(f"{tenant}|{kind}|{key}".encode()).hexdigest()[:16]


def resolve_customer(tenant: str, given: str) -> str:
    """``cu_…`` ids as they are; anything else is an integration's own customer id."""
    if CUSTOMER_ID.fullmatch(given or ""):
        return given
    if not EXTERNAL_ID.fullmatch(given or ""):
        raise NotFoundError(f"customer {str(given)[:64]!r} not found")
    return customer_id(tenant, "external", given)


def conversation_customer(conv: Conversation) -> str:
    kind, key = customer_key(conv)
    return customer_id(conv.tenant, kind, key)


def _conversations(chats, tenant: str, cid: str) -> list[Conversation]:
    convs = chats.list_conversations(tenant, None, limit=MAX_CONVERSATIONS)
    return sorted((c for c in convs if conversation_customer(c) == cid), key=lambda c: c.created_at)


def customer_profile(engine, tenant: str, given: str, *, store_graph: bool = True) -> dict[str, Any]:
    """The profile of customer ``given`` (``NotFoundError`` when no conversation belongs to them)."""
    cid = resolve_customer(tenant, given)
    convs = _conversations(engine.chats, tenant, cid)
    if not convs:
        raise NotFoundError(f"customer {str(given)[:64]!r} not found")
    histories = {c.id: engine.chats.list_messages(tenant, c.id, limit=5000) for c in convs}
    profile = _profile(cid, convs, histories)
    if store_graph:
        profile["graph"] = store_customer(engine.graph, tenant, profile)
    return profile


def _profile(cid: str, convs: list[Conversation], histories: dict[str, list[Message]]) -> dict[str, Any]:
    orders: dict[str, dict[str, Any]] = {}
    products: dict[str, dict[str, Any]] = {}
    intents: Counter = Counter()
    sentiment = []
    for conv in convs:
        for m in histories[conv.id]:
            if m.role != "customer":
                continue
            if m.meta.get("intent"):
                intents[m.meta["intent"]] += 1
            s = m.meta.get("sentiment")
            if isinstance(s, dict) and "score" in s:
                sentiment.append({"at": m.created_at, "conversation": conv.id, "label": s.get("label"),
                                  "score": s["score"], "emotion": m.meta.get("emotion")})
            for ent in m.meta.get("entities") or []:
                if ent.get("type") == "ORDER_NUMBER":
                    value = str(ent.get("value") or ent.get("text"))
                    orders.setdefault(value, {"order": value, "conversations": []})["conversations"].append(conv.id)
                elif ent.get("type") == "PRODUCT":
                    value = str(ent.get("value") or ent.get("text"))
                    products.setdefault(value, {"product": value, "mentions": 0, "conversations": []})
                    products[value]["mentions"] += 1
                    products[value]["conversations"].append(conv.id)
    tickets = [{"conversation": c.id, "reason": c.summary.get("reason"), "detail": c.summary.get("detail"),
                "status": c.status, "agent": c.agent, "queued_at": c.queued_at, "csat": c.csat}
               for c in convs if c.summary.get("reason") or c.agent]
    for item in (*orders.values(), *products.values()):
        item["conversations"] = list(dict.fromkeys(item["conversations"]))
    kind, _ = customer_key(convs[0])
    scores = [s["score"] for s in sentiment]
    return {
        "id": cid, "identified_by": kind,
        "conversations": [{"id": c.id, "status": c.status, "lang": c.lang, "channel": c.channel,
                           "created_at": c.created_at, "updated_at": c.updated_at, "csat": c.csat,
                           "messages": len(histories[c.id])} for c in convs],
        "orders": list(orders.values()), "products": list(products.values()),
        "intents": dict(intents.most_common()), "sentiment": {"history": sentiment[-100:],
                                                               "mean": round(sum(scores) / len(scores), 4)
                                                               if scores else None},
        "tickets": tickets,
        "csat": [c.csat for c in convs if c.csat],
    }


def store_customer(graph, tenant: str, profile: dict[str, Any]) -> dict[str, Any]:
    """Keep the profile as graph source ``customer:ID``: customer, conversation and order nodes, product links."""
    cid = profile["id"]
    source = f"customer:{cid}"
    body = {k: profile[k] for k in ("conversations", "orders", "products", "tickets")}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    if graph.source_hash(tenant, source) != digest:
        resolver = Resolver(graph, tenant)
        customer = Entity(tenant, cid, f"customer {cid[3:11]}", "customer")
        entities, triples = [customer], []
        for c in profile["conversations"]:
            node = Entity(tenant, entity_id("conversation", c["id"]), c["id"], "conversation")
            entities.append(node)
            triples.append(Triple(tenant, cid, "has_conversation", c["id"], node.id, source, {"conversation": c["id"]}))
        for o in profile["orders"]:
            node = Entity(tenant, entity_id("order", o["order"]), o["order"], "order")
            entities.append(node)
            triples.append(Triple(tenant, cid, "mentioned_order", o["order"], node.id, source,
                                  {"conversation": o["conversations"][0]}))
        for p in profile["products"]:
            pid = resolver.lookup(p["product"])
            triples.append(Triple(tenant, cid, "mentioned_product", p["product"], pid, source,
                                  {"conversation": p["conversations"][0]}))
        for t in profile["tickets"]:
            triples.append(Triple(tenant, entity_id("conversation", t["conversation"]), "handed_off",
                                  str(t["reason"] or "agent"), None, source, {"conversation": t["conversation"]}))
        graph.replace_source(tenant, source, digest, entities, triples)
    return {"source": source, "node": cid}


def store_all_customers(engine, tenant: str) -> int:
    """Keep every customer of the tenant's recent conversations in the graph; returns how many."""
    convs = engine.chats.list_conversations(tenant, None, limit=MAX_CONVERSATIONS)
    ids = list(dict.fromkeys(conversation_customer(c) for c in convs))
    for cid in ids:
        customer_profile(engine, tenant, cid)
    return len(ids)


def erase_customer(engine, tenant: str, given: str) -> dict[str, int]:
    """Delete the customer: their graph nodes (customer, conversations, orders), conversations and messages."""
    cid = resolve_customer(tenant, given)
    convs = _conversations(engine.chats, tenant, cid)
    source = f"customer:{cid}"
    owned = [cid] + [t.object_id for t in engine.graph.triples(tenant, subject=cid, limit=500)
                     if t.object_id and t.relation in ("has_conversation", "mentioned_order")]
    owned += [entity_id("conversation", c.id) for c in convs]
    if not convs and engine.graph.source_hash(tenant, source) is None:
        raise NotFoundError(f"customer {str(given)[:64]!r} not found")
    nodes = engine.graph.delete_entities(tenant, list(dict.fromkeys(owned)))  # with every edge touching them
    triples = engine.graph.delete_source(tenant, source)
    messages = sum(engine.chats.delete_conversation(tenant, c.id) for c in convs)
    return {"conversations": len(convs), "messages": messages, "graph_nodes": nodes, "graph_triples_left": triples}
