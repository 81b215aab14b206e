"""The graph and customer-profile endpoints over HTTP: search, neighbours (paged), profiles, erasure;
tenant isolation and who may call what."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kefu.config import Config
from kefu.engine import Engine
from kefu.kg.build import GraphBuilder
from kefu.kg.importers import import_file
from kefu.server.app import create_app
from kefu.server.auth import hash_password, new_key
from kefu.store.chats import Agent

CATALOGUE = Path(__file__).resolve().parents[2] / "examples" / "demo-kb" / "catalogue" / "products.csv"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def site(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("kg_api")
    (root / "kb").mkdir()
    shutil.copy(CATALOGUE, root / "kb" / "products.csv")
    config = Config.load(home=root / "home", env={}, overrides={"rate_limit_ip_per_min": 0})
    engine = Engine(config)
    engine.__dict__["embedder"] = embedder
    engine.ingestor.ingest([root / "kb"], tenant="acme")
    GraphBuilder(engine.store, engine.graph, ner=False).build("acme")
    hub = root / "hub.jsonl"
    hub.write_text("".join(json.dumps({"subject": "Hub", "relation": "links", "object": f"spoke {i}",
                                       "object_type": "thing"}) + "\n" for i in range(2500)), encoding="utf-8")
    import_file(engine.graph, "acme", hub)
    keys = {}
    for tenant in ("acme", "globex"):
        keys[tenant] = {"widget": new_key(engine.chats, tenant, "widget")[0],
                        "admin": new_key(engine.chats, tenant, "admin")[0]}
        engine.chats.add_agent(Agent(tenant, "alice", hash_password(PASSWORD), "agent"))
        engine.chats.add_agent(Agent(tenant, "sam", hash_password(PASSWORD), "supervisor"))
    with TestClient(create_app(config, engine)) as client:
        yield client, engine, keys
    engine.close()


def agent(client, tenant="acme", user="alice") -> dict:
    r = client.post("/v1/agent/login", json={"tenant": tenant, "username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_search_and_neighbours(site):
    client, _, keys = site
    h = agent(client)
    r = client.get("/v1/kg/search", params={"q": "X1 Pro"}, headers=h)
    assert r.status_code == 200
    first = r.json()["entities"][0]
    assert first["name"].startswith("Nova X1 Pro") and "诺瓦X1 Pro降噪耳机" in first["aliases"]
    page = client.get(f"/v1/kg/entities/{first['id']}/neighbours", headers=h).json()
    assert {"price_cny", "warranty_months"} <= {e["relation"] for e in page["edges"]}
    assert page["edges"][0]["provenance"]["uri"].endswith("products.csv")
    admin = client.get("/v1/kg/search", params={"q": "x1"}, headers={"X-Kefu-Key": keys["acme"]["admin"]})
    assert admin.status_code == 200 and admin.json()["entities"]


def test_an_entity_with_thousands_of_edges_is_paged(site):
    client, _, _ = site
    h = agent(client)
    (hub,) = [e for e in client.get("/v1/kg/search", params={"q": "hub"}, headers=h).json()["entities"]]
    page = client.get(f"/v1/kg/entities/{hub['id']}/neighbours", params={"limit": 500, "offset": 2400},
                      headers=h).json()
    assert page["total"] == 2500 and len(page["edges"]) == 100
    assert client.get(f"/v1/kg/entities/{hub['id']}/neighbours", params={"limit": 501}, headers=h).status_code == 422


@pytest.mark.parametrize("q", ["'; DROP TABLE kg_entities; --", "%", "_", "\\", "x1' OR '1'='1"])
def test_sql_ish_queries_find_nothing_and_break_nothing(site, q):
    client, engine, _ = site
    r = client.get("/v1/kg/search", params={"q": q}, headers=agent(client))
    assert r.status_code == 200 and r.json()["entities"] == []
    assert engine.graph.counts("acme")["triples"] > 2500


def test_other_tenants_ids_are_404_and_nothing_leaks(site):
    client, engine, keys = site
    (x1,) = [e for e in engine.graph.search_entities("acme", "NT-X1P")]
    g = agent(client, "globex")
    assert client.get(f"/v1/kg/entities/{x1.id}/neighbours", headers=g).status_code == 404
    assert client.get(f"/v1/kg/entities/{x1.id}", headers=g).status_code == 404
    assert client.get("/v1/kg/search", params={"q": "x1"}, headers=g).json()["entities"] == []
    for bad in ("../../etc/passwd", "e_zzz", "'; --"):
        assert client.get(f"/v1/kg/entities/{bad}/neighbours", headers=agent(client)).status_code == 404


def test_widget_keys_and_anonymous_callers_cannot_read_the_graph(site):
    client, _, keys = site
    assert client.get("/v1/kg/search", params={"q": "x1"}).status_code == 401
    r = client.get("/v1/kg/search", params={"q": "x1"}, headers={"X-Kefu-Key": keys["acme"]["widget"]})
    assert r.status_code == 403


def test_graph_ask_endpoint(site):
    client, _, _ = site
    r = client.get("/v1/kg/ask", params={"q": "X1 Pro 保修多久?"}, headers=agent(client)).json()
    assert "24" in r["answer"]["answer"] and r["answer"]["triples"][0]["relation"] == "warranty_months"
    assert client.get("/v1/kg/ask", params={"q": "hello"}, headers=agent(client)).json()["answer"] is None


def test_explorer_page_and_script_are_served_from_the_package(site):
    client, _, _ = site
    page = client.get("/graph")
    assert page.status_code == 200 and '<script src="/graph.js">' in page.text and "http" not in page.text.split(
        "<script")[1].split(">")[0].replace('src="/graph.js"', "")
    js = client.get("/graph.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "/v1/kg/entities/" in js.text


def _chat(client, keys, tenant, texts) -> str:
    w = {"X-Kefu-Key": keys[tenant]["widget"]}
    conv = client.post("/v1/conversations", json={"lang": "zh"}, headers=w).json()["conversation"]["id"]
    for text in texts:
        assert client.post(f"/v1/conversations/{conv}/messages", json={"text": text}, headers=w).status_code == 200
    return conv


def test_customer_profile_and_erasure(site):
    client, engine, keys = site
    first = _chat(client, keys, "acme", ["我的邮箱是 li.lei@example.com，订单NT2026030112345的诺瓦X1 Pro什么时候到？",
                                         "转人工"])
    second = _chat(client, keys, "acme", ["Hi, li.lei@example.com here. The X1 Pro is broken, I'm really angry!"])
    other = _chat(client, keys, "acme", ["诺瓦Buds Lite多少钱"])
    h = agent(client)
    by_conv = client.get(f"/v1/agent/conversations/{first}/customer", headers=h)
    assert by_conv.status_code == 200, by_conv.text
    profile = by_conv.json()
    cid = profile["id"]
    assert profile["identified_by"] == "email" and "@" not in json.dumps(profile["id"])
    assert {c["id"] for c in profile["conversations"]} == {first, second}
    assert profile["orders"][0]["order"] == "NT2026030112345"
    assert profile["products"][0]["product"].startswith("Nova X1 Pro")
    assert len(profile["sentiment"]["history"]) == 3 and isinstance(profile["intents"], dict)  # no intent model here
    assert profile["tickets"] and profile["tickets"][0]["conversation"] == first
    assert client.get(f"/v1/customers/{cid}/profile", headers=h).json()["conversations"] == profile["conversations"]
    # the customer is in the graph, linked to the catalogue's product node
    edges = engine.graph.neighbours("acme", cid).edges
    assert {"has_conversation", "mentioned_order", "mentioned_product"} <= {e.relation for e in edges}
    product = next(e for e in edges if e.relation == "mentioned_product")
    assert product.object_id and engine.graph.get_entity("acme", product.object_id).type == "product"
    # another tenant cannot see or erase this customer
    g = agent(client, "globex", "sam")
    assert client.get(f"/v1/customers/{cid}/profile", headers=g).status_code == 404
    assert client.delete(f"/v1/customers/{cid}", headers=g).status_code == 404
    # plain agents may not erase; supervisors may
    assert client.delete(f"/v1/customers/{cid}", headers=h).status_code == 403
    r = client.delete(f"/v1/customers/{cid}", headers=agent(client, "acme", "sam"))
    assert r.status_code == 200, r.text
    erased = r.json()["erased"]
    assert erased["conversations"] == 2 and erased["messages"] >= 5 and erased["graph_nodes"] >= 4
    for conv in (first, second):
        assert engine.chats.list_messages("acme", conv) == []
        assert client.get(f"/v1/agent/conversations/{conv}", headers=h).status_code == 404
    assert engine.graph.search_entities("acme", "NT2026030112345") == []
    assert all(not s["source"].startswith(f"customer:{cid}") for s in engine.graph.list_sources("acme"))
    assert engine.graph.search_entities("acme", "NT-X1P")  # the product itself stays
    assert engine.chats.list_messages("acme", other)  # other customers keep theirs
    assert client.get(f"/v1/customers/{cid}/profile", headers=h).status_code == 404
    assert client.delete(f"/v1/customers/{cid}", headers=agent(client, "acme", "sam")).status_code == 404


def test_integrations_link_their_own_customer_ids(site):
    client, _, keys = site
    conv = _chat(client, keys, "acme", ["你好"])
    a = {"X-Kefu-Key": keys["acme"]["admin"]}
    r = client.put(f"/v1/conversations/{conv}/customer", json={"customer": "crm-42"}, headers=a)
    assert r.status_code == 200 and r.json()["customer"].startswith("cu_")
    w = {"X-Kefu-Key": keys["acme"]["widget"]}
    assert client.put(f"/v1/conversations/{conv}/customer", json={"customer": "crm-43"}, headers=w).status_code == 403
    profile = client.get("/v1/customers/crm-42/profile", headers=a).json()
    assert profile["identified_by"] == "external" and [c["id"] for c in profile["conversations"]] == [conv]
    globex = {"X-Kefu-Key": keys["globex"]["admin"]}
    assert client.get("/v1/customers/crm-42/profile", headers=globex).status_code == 404
    bad = client.put(f"/v1/conversations/{conv}/customer", json={"customer": "x'; DROP"}, headers=a)
    assert bad.status_code == 422
    assert client.delete("/v1/customers/crm-42", headers=a).json()["erased"]["conversations"] == 1
