"""An in-process app over the shared bilingual knowledge base, with keys and an agent per tenant."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from kefu.config import Config
from kefu.server.app import create_app
from kefu.server.auth import hash_password, new_key
from kefu.store.chats import Agent

ORIGIN = "https://shop.example.com"
PASSWORD = "correct horse battery"


@dataclass
class Tenant:
    name: str
    widget: str
    admin: str

    @property
    def w(self) -> dict:
        return {"X-Kefu-Key": self.widget}

    @property
    def a(self) -> dict:
        return {"Authorization": f"Bearer {self.admin}"}


@pytest.fixture(scope="module")
def app(kb_engine):
    config = Config.load(home=kb_engine.config.home, env={}, overrides={"rate_limit_ip_per_min": 0})
    return create_app(config, kb_engine)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def make_tenant(engine, name: str) -> Tenant:
    chats = engine.chats
    widget, _ = new_key(chats, name, "widget", label="site", origins=[ORIGIN])
    admin, _ = new_key(chats, name, "admin", label="ops")
    if chats.get_agent(name, "alice") is None:
        chats.add_agent(Agent(name, "alice", hash_password(PASSWORD), "agent", "Alice"))
    return Tenant(name, widget, admin)


@pytest.fixture(scope="module")
def acme(kb_engine) -> Tenant:
    return make_tenant(kb_engine, "acme")


@pytest.fixture(scope="module")
def globex(kb_engine) -> Tenant:
    return make_tenant(kb_engine, "globex")


def login(client: TestClient, tenant: str, password: str = PASSWORD) -> dict:
    r = client.post("/v1/agent/login", json={"tenant": tenant, "username": "alice", "password": password})
    assert r.status_code == 200, r.text
    client.cookies.clear()  # use the bearer token, so one client can act for several parties
    return {"Authorization": f"Bearer {r.json()['token']}"}
