"""End to end in headless Chromium: the chat widget on the demo page and the agent console.

A real uvicorn server runs in a thread over a small bilingual knowledge base; a customer browser
context and an agent browser context talk to each other through it.

Set ``KEFU_SCREENSHOTS=/some/dir`` to keep screenshots of the widget and the console.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = playwright_sync.expect


from kefu.engine import Engine  # noqa: E402
from kefu.server.app import create_app  # noqa: E402
from kefu.server.auth import hash_password, new_key  # noqa: E402
from kefu.store.chats import Agent  # noqa: E402
from tests.helpers import loopback_server  # noqa: E402
from tests.server.live_server import chromium, demo_engine, free_port, serving  # noqa: E402

AGENT_USER, AGENT_PASSWORD = "alice", "correct horse battery"
SHOTS = os.environ.get("KEFU_SCREENSHOTS", "")
ANSWER_TIMEOUT = 20_000  # ms: the first answer on a busy 2-core machine
LIVE_TIMEOUT = 10_000    # ms: live events (0.3 s), the console queue poll (2 s)


@dataclass
class Live:
    url: str
    engine: Engine
    tenant: str


@pytest.fixture(scope="module")
def live(tmp_path_factory, embedder):
    """A kefu server on a loopback port with a widget key for its own origin and an agent account."""
    engine = demo_engine(tmp_path_factory.mktemp("browser"), embedder)
    config = engine.config
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(config, engine)
    app.state.demo_widget_key, _ = new_key(engine.chats, config.tenant, "widget", label="browser test",
                                           origins=[url])
    engine.chats.add_agent(Agent(config.tenant, AGENT_USER, hash_password(AGENT_PASSWORD), "agent", "Alice"))

    with serving(app, port):
        yield Live(url, engine, config.tenant)
    engine.close()


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name))


def _messages(page, role: str):
    return page.locator(f'[data-kefu="message"][data-role="{role}"]')


def test_customer_bot_agent_round_trip(live, browser):
    customer = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    agent = browser.new_context(locale="en-US", viewport={"width": 1440, "height": 860})
    try:
        page = customer.new_page()
        page.goto(live.url + "/demo?lang=en")
        page.locator('[data-kefu="bubble"]').click()
        expect(page.locator('[data-kefu="panel"]')).to_be_visible()

        # A cited answer from the knowledge base, streamed into the panel.
        page.locator('[data-kefu="input"]').fill("How do I return an item?")
        page.locator('[data-kefu="send"]').click()
        bot = _messages(page, "bot").first
        expect(bot).to_contain_text("within 30 days", timeout=ANSWER_TIMEOUT)
        expect(_messages(page, "customer").first).to_have_attribute("data-id", re.compile(r"^[0-9]+$"))
        bot.locator('[data-kefu="sources"] summary').click()
        expect(bot.locator('[data-kefu="citation"]').first).to_contain_text("How do I return an item?")
        expect(bot.locator('[data-kefu="citation"]').first).to_contain_text("faq.csv")
        bot.locator('[data-kefu="thumb-up"]').click()
        expect(bot.locator('[data-kefu="thumb-up"]')).to_have_attribute("aria-pressed", "true")
        _shot(page, "widget-answer.png")
        cid = page.evaluate("window.KefuWidget.conversationId()")
        assert cid and cid.startswith("c_")
        bot_id = int(bot.get_attribute("data-id"))
        assert live.engine.chats.get_message(live.tenant, bot_id).feedback == 1

        # The customer asks for a person: a queue notice, and the button goes away.
        page.locator('[data-kefu="handoff"]').click()
        expect(_messages(page, "system").last).to_contain_text("number 1 in the queue")
        expect(page.locator('[data-kefu="handoff"]')).to_be_hidden()

        # The agent signs in and finds the conversation in the queue with its summary.
        console = agent.new_page()
        console.goto(live.url + "/console")
        expect(console.locator('[data-kefu="login-submit"]')).to_be_visible()
        _shot(console, "console-login.png")
        console.locator('[data-kefu="login-tenant"]').fill(live.tenant)
        console.locator('[data-kefu="login-user"]').fill(AGENT_USER)
        console.locator('[data-kefu="login-password"]').fill(AGENT_PASSWORD)
        console.locator('[data-kefu="login-submit"]').click()
        item = console.locator(f'[data-kefu="queue-item"][data-id="{cid}"]')
        expect(item).to_contain_text("talk to a person", timeout=LIVE_TIMEOUT)
        item.click()
        expect(console.locator('[data-kefu="summary"]')).to_contain_text("How do I return an item?")
        explanation = _messages(console, "bot").first.locator('[data-kefu="explanation"]')
        expect(explanation).to_contain_text("faq")
        expect(explanation).to_contain_text("stored question matches")
        suggestion = console.locator('[data-kefu="suggestion"]').first
        expect(suggestion).to_contain_text("within 30 days", timeout=LIVE_TIMEOUT)

        console.locator('[data-kefu="take"]').click()
        reply = console.locator('[data-kefu="reply-input"]')
        expect(reply).to_be_enabled()
        suggestion.click()
        expect(reply).to_have_value("You can return any item within 30 days of delivery. "
                                    "Start the return from My Orders.")
        reply.fill("Hi, this is Alice. Returns are free within 30 days; which order is it?")
        console.locator('[data-kefu="reply-send"]').click()

        # The customer sees the agent arrive and reply, live, without reloading.
        expect(_messages(page, "system").filter(has_text="has joined")).to_have_count(1, timeout=LIVE_TIMEOUT)
        expect(_messages(page, "agent").last).to_contain_text("this is Alice", timeout=LIVE_TIMEOUT)
        expect(page.locator('[data-kefu="status"]')).to_contain_text("alice is helping you")

        # ... answers back, and the agent sees it: pushed by the conversation's event stream (polling
        # then falls back to every 15 s, beyond LIVE_TIMEOUT).
        expect(console.locator("body")).to_have_attribute("data-live", "1", timeout=LIVE_TIMEOUT)
        page.locator('[data-kefu="input"]').fill("It is order 20240611, the headphones arrived broken")
        page.locator('[data-kefu="input"]').press("Enter")
        expect(_messages(console, "customer").last).to_contain_text("20240611", timeout=LIVE_TIMEOUT)
        expect(_messages(page, "bot")).to_have_count(1)  # no bot answer while an agent has the conversation

        # The agent keeps the reply as a knowledge-base answer, then resolves.
        agent_msg = _messages(console, "agent").first
        agent_msg.locator('[data-kefu="save-answer"]').click()
        expect(agent_msg).to_contain_text("Saved to the knowledge base")
        _shot(console, "console-conversation.png")
        console.locator('[data-kefu="resolve"]').click()
        expect(console.locator('[data-kefu="conv-status"]')).to_have_attribute("data-status", "resolved")
        expect(item).to_have_count(0, timeout=LIVE_TIMEOUT)

        # The customer is asked to rate the conversation.
        expect(page.locator('[data-kefu="csat-5"]')).to_be_visible(timeout=LIVE_TIMEOUT)
        _shot(page, "widget-csat.png")
        page.locator('[data-kefu="csat-4"]').click()
        expect(page.locator('[data-kefu="csat-thanks"]')).to_contain_text("4/5")
        assert live.engine.chats.get_conversation(live.tenant, cid).csat == 4
        roles = [m.role for m in live.engine.chats.list_messages(live.tenant, cid)]
        assert roles.count("agent") == 1 and roles.count("customer") == 2
        # Every stored message shows exactly once in the widget (stream and live events de-duplicated).
        ids = page.locator('[data-kefu="message"][data-id]').evaluate_all("els => els.map(e => +e.dataset.id)")
        assert sorted(ids) == [m.id for m in live.engine.chats.list_messages(live.tenant, cid)]
    finally:
        customer.close()
        agent.close()


def test_reload_restores_history_and_offline_messages_are_sent_later(live, browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(live.url + "/demo")
        page.locator('[data-kefu="bubble"]').click()
        expect(page.locator('[data-kefu="handoff"]')).to_contain_text("转人工")
        page.locator('[data-kefu="input"]').fill("配送需要几天？")
        page.locator('[data-kefu="input"]').press("Enter")
        expect(_messages(page, "bot").first).to_contain_text("1-2天送达", timeout=ANSWER_TIMEOUT)
        before = page.locator('[data-kefu="message"][data-id]').evaluate_all("els => els.map(e => e.dataset.id)")
        cid = page.evaluate("window.KefuWidget.conversationId()")

        # Drop the widget's local copy of the messages: after reload they must come from the server.
        page.evaluate("Object.keys(localStorage).filter(k => k.includes(':messages:'))"
                      ".forEach(k => localStorage.removeItem(k))")
        page.reload()
        expect(page.locator('[data-kefu="panel"]')).to_be_visible()  # it was open: it opens again
        expect(_messages(page, "bot").first).to_contain_text("1-2天送达")
        expect(_messages(page, "customer").first).to_contain_text("配送需要几天")
        expect(page.locator('[data-kefu="message"][data-id]')).to_have_count(len(before))
        assert page.evaluate("window.KefuWidget.conversationId()") == cid

        # Offline: the indicator shows and a message waits in the outbox until the network is back.
        context.set_offline(True)
        expect(page.locator('[data-kefu="offline"]')).to_be_visible()
        page.locator('[data-kefu="input"]').fill("如何退货？")
        page.locator('[data-kefu="input"]').press("Enter")
        pending = _messages(page, "customer").last
        expect(pending).to_contain_text("等待发送")
        assert pending.get_attribute("data-id") is None
        _shot(page, "widget-offline-zh.png")
        context.set_offline(False)
        expect(page.locator('[data-kefu="offline"]')).to_be_hidden()
        expect(_messages(page, "bot").last).to_contain_text("7天内", timeout=ANSWER_TIMEOUT)
        expect(_messages(page, "customer").last).to_have_attribute("data-id", re.compile(r"^[0-9]+$"))
        stored = [m.text for m in live.engine.chats.list_messages(live.tenant, cid) if m.role == "customer"]
        assert stored == ["配送需要几天？", "如何退货？"]
        expect(page.locator('[data-kefu="message"][data-role="customer"]:not([data-id])')).to_have_count(0)

        # An agent replies while the customer is offline: the reply arrives once the network is back.
        context.set_offline(True)
        expect(page.locator('[data-kefu="offline"]')).to_be_visible()
        live.engine.service.request_handoff(live.tenant, cid)
        live.engine.service.take(live.tenant, cid, AGENT_USER)
        live.engine.service.agent_reply(live.tenant, cid, AGENT_USER, "您好，我是客服，请问订单号是多少？")
        context.set_offline(False)
        expect(_messages(page, "agent")).to_contain_text(["订单号是多少"], timeout=LIVE_TIMEOUT)
        expect(page.locator('[data-kefu="status"]')).to_contain_text("正在为您服务")
        stored = [str(m.id) for m in live.engine.chats.list_messages(live.tenant, cid)]
        expect(page.locator('[data-kefu="message"][data-id]')).to_have_count(len(stored))
        shown = page.locator('[data-kefu="message"][data-id]').evaluate_all("els => els.map(e => e.dataset.id)")
        assert shown == stored
    finally:
        context.close()


@pytest.fixture
def other_site():
    """A second web server (another origin) whose page embeds the widget from the kefu server."""
    import http.server

    page = {"html": b""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page["html"])

        def log_message(self, *args):
            pass

    with loopback_server(Handler) as url:
        yield url, page


def test_widget_embedded_on_another_origin(live, browser, other_site):
    origin, page_html = other_site
    key, _ = new_key(live.engine.chats, live.tenant, "widget", label="other shop", origins=[origin])
    page_html["html"] = (f'<!doctype html><html><head><meta charset="utf-8"><title>Other shop</title></head>'
                         f'<body><h1>Another shop</h1><script src="{live.url}/widget.js" data-key="{key}" '
                         f'data-lang="en"></script></body></html>').encode()
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(origin + "/")
        page.locator('[data-kefu="bubble"]').click()
        expect(page.locator('[data-kefu="handoff"]')).to_contain_text("Talk to a person")  # data-lang wins
        page.locator('[data-kefu="input"]').fill("How long does shipping take?")
        page.locator('[data-kefu="send"]').click()
        bot = _messages(page, "bot").first
        expect(bot).to_contain_text("7-15 business days", timeout=ANSWER_TIMEOUT)
        page.locator('[data-kefu="handoff"]').click()
        expect(_messages(page, "system").last).to_contain_text("in the queue")

        # An agent (through the service, no console here) replies: it arrives over cross-origin live events.
        cid = page.evaluate("window.KefuWidget.conversationId()")
        live.engine.service.take(live.tenant, cid, AGENT_USER)
        live.engine.service.agent_reply(live.tenant, cid, AGENT_USER, "Hello from the other side")
        expect(_messages(page, "agent").last).to_contain_text("Hello from the other side", timeout=LIVE_TIMEOUT)
        live.engine.service.resolve(live.tenant, cid, AGENT_USER)
        page.locator('[data-kefu="csat-5"]').click()
        expect(page.locator('[data-kefu="csat-thanks"]')).to_contain_text("5/5")
    finally:
        context.close()
