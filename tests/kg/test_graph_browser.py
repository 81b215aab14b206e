"""The graph explorer (/graph) and the console's customer panel in headless Chromium, on a real server."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = playwright_sync.expect

import httpx  # noqa: E402

from kefu.config import Config  # noqa: E402
from kefu.engine import Engine  # noqa: E402
from kefu.kg.build import GraphBuilder  # noqa: E402
from kefu.server.app import create_app  # noqa: E402
from kefu.server.auth import hash_password, new_key  # noqa: E402
from kefu.store.chats import Agent  # noqa: E402
from tests.server.live_server import chromium, free_port, serving  # noqa: E402

CATALOGUE = Path(__file__).resolve().parents[2] / "examples" / "demo-kb" / "catalogue" / "products.csv"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def site(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("kg_browser")
    (root / "kb").mkdir()
    shutil.copy(CATALOGUE, root / "kb" / "products.csv")
    engine = Engine(Config.load(home=root / "home", env={}))
    engine.__dict__["embedder"] = embedder
    engine.ingestor.ingest([root / "kb"], tenant="default")
    GraphBuilder(engine.store, engine.graph, ner=False).build("default")
    engine.chats.add_agent(Agent("default", "alice", hash_password(PASSWORD), "agent", "Alice"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    widget, _ = new_key(engine.chats, "default", "widget", origins=[url])
    with serving(create_app(engine.config, engine), port, "kefu-graph-server"):
        yield url, widget
    engine.close()


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _sign_in(page) -> None:
    expect(page.locator('[data-kefu="login-submit"]')).to_be_visible()
    page.locator('[data-kefu="login-tenant"]').fill("default")
    page.locator('[data-kefu="login-user"]').fill("alice")
    page.locator('[data-kefu="login-password"]').fill(PASSWORD)
    page.locator('[data-kefu="login-submit"]').click()


def test_search_an_entity_and_walk_its_neighbours(site, browser):
    url, _ = site
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith((url, "data:")) else None)
    page.goto(url + "/graph")
    _sign_in(page)
    page.locator('[data-kefu="search"]').fill("X1 Pro")
    page.locator('[data-kefu="search-submit"]').click()
    first = page.locator('[data-kefu="result"]').first
    expect(first).to_contain_text("Nova X1 Pro")
    first.click()
    expect(page.locator('[data-kefu="entity-name"]')).to_have_text("Nova X1 Pro Noise-Cancelling Headphones")
    edges = page.locator('[data-kefu="edge"]')
    expect(edges.filter(has_text="warranty_months")).to_contain_text("24")
    expect(edges.filter(has_text="price_cny")).to_contain_text("1499")
    expect(page.locator('[data-kefu="page"]')).to_contain_text("of ")
    # Chinese search finds the same node
    page.locator('[data-kefu="search"]').fill("诺瓦Buds Lite")
    page.locator('[data-kefu="search-submit"]').click()
    expect(page.locator('[data-kefu="entity-name"]')).to_have_text("Nova Buds Lite True Wireless Earbuds")
    expect(page.locator('[data-kefu="edges"]')).to_contain_text("199")
    assert not errors and not external
    page.close()


def test_console_shows_the_customers_profile_beside_the_conversation(site, browser):
    url, widget = site
    with httpx.Client(base_url=url, timeout=60, headers={"X-Kefu-Key": widget}) as http:
        cid = http.post("/v1/conversations", json={"lang": "zh"}).json()["conversation"]["id"]
        http.post(f"/v1/conversations/{cid}/messages",
                  json={"text": "订单NT2026030112345的诺瓦X1 Pro还没到，我的邮箱 wang@example.com"})
        http.post(f"/v1/conversations/{cid}/handoff")
    page = browser.new_page()
    page.goto(url + "/console")
    _sign_in(page)
    page.locator('[data-kefu="queue-item"]').first.click()
    card = page.locator('[data-kefu="profile-card"]')
    expect(card).to_contain_text("NT2026030112345", timeout=15_000)
    expect(card).to_contain_text("Nova X1 Pro")
    expect(card).to_contain_text("email")
    page.close()
