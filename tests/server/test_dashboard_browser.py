"""The conversation dashboard page (/dashboard) end to end in headless Chromium.

A real uvicorn server runs in a thread over a small bilingual knowledge base; traffic is made
through the HTTP API (answered questions, unanswered ones that an agent then answers, handoffs
with CSAT); a plain agent and a supervisor then read the dashboard and add a knowledge gap.

Screenshots go to ``$KEFU_SCREENSHOTS`` (default ``/tmp/shots``; set it empty to keep none).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = playwright_sync.expect

import httpx  # noqa: E402

from kefu.analytics.conversations import conversation_stats  # noqa: E402
from kefu.engine import Engine  # noqa: E402
from kefu.server.app import create_app  # noqa: E402
from kefu.server.auth import hash_password, new_key  # noqa: E402
from kefu.store.chats import Agent  # noqa: E402
from tests.server.live_server import chromium, demo_engine, free_port, serving  # noqa: E402

AGENT, AGENT_PW = "alice", "correct horse battery"
SUPERVISOR, SUPERVISOR_PW = "sam", "supervisor staple 42"
GIFT_ANSWER = "Yes, gift cards work at checkout for every order."
SHOTS = os.environ.get("KEFU_SCREENSHOTS", "/tmp/shots")
LOAD_TIMEOUT = 15_000  # ms: the dashboard embeds the questions to group knowledge gaps (busy 2-core machine)
CHARTS = ("per-day", "sentiment", "reasons", "answers", "csat", "intents", "languages")
# Chromium logs every failed fetch as a console error; these are the ones the pages expect
# (signed out at first, a plain agent adding knowledge, the console's favicon).
EXPECTED_HTTP = {(401, "/v1/agent/me"), (403, "/v1/agent/knowledge"), (404, "/favicon.ico")}


@dataclass
class Site:
    url: str
    engine: Engine
    tenant: str
    widget_key: str


@pytest.fixture(scope="module")
def site(tmp_path_factory, embedder):
    """A kefu server on a loopback port with a widget key, a plain agent and a supervisor."""
    engine = demo_engine(tmp_path_factory.mktemp("dashboard"), embedder)
    config = engine.config
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(config, engine)
    assert "/dashboard" in [getattr(r, "path", None) for r in app.routes]
    widget_key, _ = new_key(engine.chats, config.tenant, "widget", label="dashboard test", origins=[url])
    engine.chats.add_agent(Agent(config.tenant, AGENT, hash_password(AGENT_PW), "agent", "Alice"))
    engine.chats.add_agent(Agent(config.tenant, SUPERVISOR, hash_password(SUPERVISOR_PW), "supervisor", "Sam"))

    with serving(app, port, "kefu-dashboard-server"):
        yield Site(url, engine, config.tenant, widget_key)
    engine.close()


class Api:
    """The widget's and an agent's HTTP calls against the running server."""

    def __init__(self, site: Site) -> None:
        self.http = httpx.Client(base_url=site.url, timeout=60)
        self.w = {"X-Kefu-Key": site.widget_key}
        self.tenant = site.tenant

    def conversation(self, lang: str = "") -> str:
        r = self.http.post("/v1/conversations", json={"lang": lang} if lang else {}, headers=self.w)
        assert r.status_code == 201, r.text
        return r.json()["conversation"]["id"]

    def say(self, cid: str, text: str) -> dict:
        r = self.http.post(f"/v1/conversations/{cid}/messages", json={"text": text}, headers=self.w)
        assert r.status_code == 200, r.text
        return r.json()

    def customer(self, method: str, path: str, **kw) -> dict:
        r = self.http.request(method, path, headers=self.w, **kw)
        assert r.status_code < 300, r.text
        return r.json()

    def agent(self, username: str, password: str) -> dict:
        r = self.http.post("/v1/agent/login", json={"tenant": self.tenant, "username": username, "password": password})
        assert r.status_code == 200, r.text
        self.http.cookies.clear()
        return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture(scope="module")
def traffic(site):
    """Two questions the bot answers (one rated up, one down) and two gift-card questions it cannot
    answer: the customer asks for a person, the plain agent takes over, replies and resolves, and the
    customer rates 5 and 4."""
    api = Api(site)
    try:
        a = api.conversation()
        bot = api.say(a, "How do I return an item?")["replies"][0]
        assert bot["meta"]["mode"] == "faq"
        api.customer("POST", f"/v1/conversations/{a}/messages/{bot['id']}/feedback", json={"rating": 1})
        d = api.conversation()
        bot = api.say(d, "配送需要几天？")["replies"][0]
        assert "1-2天" in bot["text"]
        api.customer("POST", f"/v1/conversations/{d}/messages/{bot['id']}/feedback", json={"rating": -1})
        alice = api.agent(AGENT, AGENT_PW)
        for question, score in (("Can I pay with a gift card?", 5), ("Do you accept gift cards as payment?", 4)):
            cid = api.conversation()
            assert api.say(cid, question)["replies"][0]["meta"]["mode"] == "abstain"
            assert api.customer("POST", f"/v1/conversations/{cid}/handoff")["conversation"]["status"] == "queued"
            for step, body in (("take", None), ("reply", {"text": GIFT_ANSWER}), ("resolve", None)):
                r = api.http.post(f"/v1/agent/conversations/{cid}/{step}", json=body, headers=alice)
                assert r.status_code == 200, r.text
            api.customer("POST", f"/v1/conversations/{cid}/csat", json={"score": score})
        yield api
    finally:
        api.http.close()


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")  # the top bar is sticky
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


def _watch(page) -> list[str]:
    """Console errors, uncaught exceptions and unexpected HTTP errors of ``page``."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not m.text.startswith(
        "Failed to load resource: the server responded with a status of") else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on("response", lambda r: errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 and (
        r.status, urlsplit(r.url).path) not in EXPECTED_HTTP else None)
    return errors


def _sign_in(page, tenant: str, username: str, password: str) -> None:
    expect(page.locator('[data-kefu="login-submit"]')).to_be_visible()
    page.locator('[data-kefu="login-tenant"]').fill(tenant)
    page.locator('[data-kefu="login-user"]').fill(username)
    page.locator('[data-kefu="login-password"]').fill(password)
    page.locator('[data-kefu="login-submit"]').click()


def _loaded(page, days: int) -> None:
    expect(page.locator("main")).to_have_attribute("data-loaded", str(days), timeout=LOAD_TIMEOUT)
    expect(page.locator("main")).to_have_attribute("aria-busy", "false", timeout=LOAD_TIMEOUT)


def _card(page, name: str):
    return page.locator(f'[data-kefu="card-{name}"]')


def _charts(page) -> dict[str, dict]:
    """Per chart: the svg's size and how many data marks it draws with a non-empty box (None: no svg)."""
    return page.evaluate("""() => {
      const out = {};
      document.querySelectorAll('[data-kefu^="chart-"]').forEach(box => {
        const svg = box.querySelector('svg');
        if (!svg) { out[box.dataset.kefu.slice(6)] = null; return; }
        const r = svg.getBoundingClientRect();
        const marks = [...svg.querySelectorAll('.mark')].filter(m => {
          const b = m.getBBox(); return b.width > 0 && b.height > 0; }).length;
        out[box.dataset.kefu.slice(6)] = {width: r.width, height: r.height, marks};
      });
      return out;
    }""")


def _signed(x: float) -> str:
    return ("+" if x > 0 else "−" if x < 0 else "") + f"{abs(x):.2f}"


def test_agent_reads_the_dashboard_and_a_supervisor_fills_a_knowledge_gap(site, traffic, browser):
    stats = conversation_stats(site.engine, site.tenant, days=30)
    assert stats["volume"]["conversations"] == 4 and stats["containment"] == 0.5
    gap = stats["knowledge_gaps"][0]
    assert gap["count"] == 2 and gap["answer"] == GIFT_ANSWER and "gift card" in gap["question"]

    agent_ctx = browser.new_context(locale="en-US", viewport={"width": 1360, "height": 900})
    try:
        page = agent_ctx.new_page()
        errors = _watch(page)
        page.goto(site.url + "/dashboard")
        _sign_in(page, site.tenant, AGENT, AGENT_PW)
        _loaded(page, 30)
        expect(page.locator("#who")).to_contain_text("Alice · agent")
        expect(page.locator('[data-kefu="days"]')).to_have_value("30")

        # Headline cards: the numbers of the traffic above.
        expect(_card(page, "conversations")).to_have_attribute("data-value", "4")
        expect(_card(page, "conversations")).to_contain_text("4")
        expect(_card(page, "conversations")).to_contain_text(f"{stats['volume']['messages']} messages · 0 open")
        expect(_card(page, "contained")).to_contain_text("50%")
        expect(_card(page, "contained")).to_contain_text("2 answered without a person")
        expect(_card(page, "handoff")).to_contain_text("50%")
        expect(_card(page, "handoff")).to_contain_text("2 conversations")
        expect(_card(page, "csat")).to_contain_text("4.5 / 5")
        expect(_card(page, "csat")).to_contain_text("2 responses")
        expect(_card(page, "feedback")).to_contain_text("▲ 1/▼ 1")
        expect(_card(page, "feedback")).to_contain_text("50% of rated answers helpful")
        expect(_card(page, "sentiment")).to_contain_text(_signed(stats["sentiment"]["mean"]))
        expect(_card(page, "first-response")).to_contain_text("median / p90 · 2 answered")
        assert " s / " in _card(page, "first-response").locator(".v").inner_text().replace("\xa0", " ")

        # Charts: every svg is laid out and draws its data; intents are empty (no intent model here).
        charts = _charts(page)
        assert set(charts) == set(CHARTS)
        for name in ("per-day", "sentiment", "reasons", "answers", "csat", "languages"):
            c = charts[name]
            assert c and c["width"] > 100 and c["height"] > 20 and c["marks"] >= 1, (name, c)
        assert charts["per-day"]["marks"] == 1 and charts["csat"]["marks"] == 2
        assert charts["answers"]["marks"] == 2 and charts["languages"]["marks"] == 2  # faq + abstain; en + zh
        assert charts["intents"] is None
        expect(page.locator('[data-kefu="chart-intents"]')).to_contain_text("No intents recorded")
        today = stats["created"][:10]
        assert page.locator('[data-kefu="chart-per-day"] rect.mark title').text_content() == f"{today}: 4"
        expect(page.locator('[data-kefu="chart-reasons"]')).to_contain_text("Pressed “talk to a person”")
        expect(page.locator('[data-kefu="chart-languages"]')).to_contain_text("English")

        # The period selector reloads (same traffic: all of it is from today).
        page.locator('[data-kefu="days"]').select_option("7")
        _loaded(page, 7)
        expect(page.locator("#title")).to_contain_text("last 7 days")
        expect(_card(page, "conversations")).to_have_attribute("data-value", "4")
        page.locator('[data-kefu="days"]').select_option("30")
        _loaded(page, 30)

        # The knowledge gap: question, count, examples on hover and expanded, the agents' drafted answer.
        row = page.locator('[data-kefu="gap"]')
        expect(row).to_have_count(len(stats["knowledge_gaps"]))
        row = row.first
        expect(row.locator(".q")).to_contain_text(gap["question"])
        expect(row.locator(".q")).to_contain_text("×2")
        assert set(row.locator("td").first.get_attribute("title").split("\n")) == set(gap["examples"])
        row.locator('[data-kefu="gap-examples"] summary').click()
        for example in gap["examples"]:
            expect(row.locator("li", has_text=example)).to_be_visible()
        expect(row.locator('[data-kefu="gap-answer"]')).to_have_value(GIFT_ANSWER)
        expect(row).to_contain_text("drafted from 2 agent replies")
        _shot(page, "dashboard.png")

        # A plain agent may not add to the knowledge base: the server's message shows.
        row.locator('[data-kefu="gap-add"]').click()
        expect(row.locator('[data-kefu="gap-status"]')).to_contain_text("only supervisors add to the knowledge base")
        expect(row.locator('[data-kefu="gap-add"]')).to_be_enabled()
        assert errors == [], errors
    finally:
        agent_ctx.close()

    # The supervisor signs in on the console: the dashboard then needs no second sign-in.
    edited = "Yes: gift cards work at checkout for every order, online and in our stores."
    sup_ctx = browser.new_context(locale="en-US", viewport={"width": 1360, "height": 900})
    try:
        page = sup_ctx.new_page()
        errors = _watch(page)
        page.goto(site.url + "/console")
        _sign_in(page, site.tenant, SUPERVISOR, SUPERVISOR_PW)
        expect(page.locator('[data-kefu="logout"]')).to_be_visible()
        page.goto(site.url + "/dashboard")
        _loaded(page, 30)
        expect(page.locator('[data-kefu="login-submit"]')).to_be_hidden()
        expect(page.locator("#who")).to_contain_text("Sam · supervisor")
        row = page.locator('[data-kefu="gap"]').first
        row.locator('[data-kefu="gap-answer"]').fill(edited)
        row.locator('[data-kefu="gap-add"]').click()
        expect(row.locator('[data-kefu="gap-status"]')).to_contain_text("Added to the knowledge base")
        expect(row.locator('[data-kefu="gap-add"]')).to_be_disabled()

        # The zh interface keeps what was done.
        page.locator("#lang-toggle").click()
        expect(_card(page, "conversations")).to_contain_text("对话数")
        expect(page.locator('[data-kefu="gap-add"]').first).to_have_text("加入知识库")
        expect(page.locator('[data-kefu="gap-status"]').first).to_contain_text("已加入知识库")
        expect(page.locator('[data-kefu="gap-answer"]').first).to_have_value(edited)
        expect(page.locator('[data-kefu="chart-languages"]')).to_contain_text("英文")
        _shot(page, "dashboard-zh.png")
        page.locator("#lang-toggle").click()
        assert errors == [], errors
    finally:
        sup_ctx.close()

    # The widget API now answers the question with the added entry.
    api = traffic
    cid = api.conversation()
    reply = api.say(cid, gap["question"])["replies"][0]
    assert reply["text"] == edited and reply["meta"]["mode"] == "faq"


def _fake_stats(today: datetime, days: int) -> dict:
    """A full dashboard payload with markup in every text that comes from the data."""
    bad = '<img src=x onerror="window.__pwned=1">'
    dates = [(today - timedelta(days=i)).date().isoformat() for i in range(days)]
    per_day = {d: (i * 7) % 11 for i, d in enumerate(dates) if (i * 7) % 11}
    return {
        "tenant": "default", "days": days, "created": today.isoformat(timespec="seconds"),
        "volume": {"conversations": sum(per_day.values()), "messages": 900, "customer_messages": 400,
                   "per_day": per_day, "by_language": {"zh": 120, "en": 80, bad: 3}, "open": 2},
        "containment": 0.6667, "handoff": {"rate": 0.2, "count": 40,
                                           "reasons": {"explicit": 20, "anger": 9, "low_confidence": 8, bad: 3}},
        "csat": {"responses": 31, "mean": 3.87, "distribution": {"1": 2, "2": 3, "3": 5, "4": 9, "5": 12}},
        "feedback": {"up": 40, "down": 7},
        "answers": {"faq": 150, "extractive": 30, "generated": 12, "abstain": 25},
        "sentiment": {"mean": -0.1234, "labels": {"negative": 90, "neutral": 250, "positive": 60},
                      "per_day": {d: round(((i * 37) % 19 - 9) / 10, 2) for i, d in enumerate(dates) if i % 3},
                      "emotions": {}},
        "intents": {"退货": 50, "shipping_time": 33, "<script>window.__pwned=2</script>": 4,
                    "a very long intent name that does not fit in the label column at all": 2},
        "agent_first_response_s": {"answered": 35, "median": 74.5, "p90": 4000.0},
        "knowledge_gaps": [
            {"question": f"Do you ship to Mars? {bad}", "count": 3, "answer": None, "agent_answers": 0,
             "examples": ["Do you ship to Mars?", f"<b>mars</b> {bad}", "火星能送吗？"]},
            {"question": "可以开发票吗？", "count": 2, "answer": "可以，下单时选择“开发票”。", "agent_answers": 2,
             "examples": ["可以开发票吗？", "发票怎么开"]},
        ],
    }


def test_charts_and_escaping_over_a_full_payload(site, browser):
    """Every chart over a long period, markup in the data shown as text, an empty period."""
    today = datetime.now(UTC)
    asked: list[str] = []
    empty = {"value": False}

    def fulfil(route):
        days = int(route.request.url.rsplit("days=", 1)[1])
        asked.append(route.request.url)
        payload = _fake_stats(today, days)
        if empty["value"]:
            payload.update(volume={"conversations": 0, "messages": 0, "customer_messages": 0, "per_day": {},
                                   "by_language": {}, "open": 0}, containment=None, answers={}, intents={},
                           handoff={"rate": None, "count": 0, "reasons": {}}, knowledge_gaps=[],
                           csat={"responses": 0, "mean": None, "distribution": {str(k): 0 for k in range(1, 6)}},
                           feedback={"up": 0, "down": 0}, sentiment={"mean": None, "labels": {}, "per_day": {}},
                           agent_first_response_s={"answered": 0, "median": None, "p90": None})
        route.fulfill(status=200, content_type="application/json", body=json.dumps(payload, ensure_ascii=False))

    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 860})
    try:
        page = ctx.new_page()
        errors = _watch(page)
        page.route("**/v1/agent/dashboard?*", fulfil)
        page.goto(site.url + "/dashboard")
        expect(page.locator('[data-kefu="login-submit"]')).to_have_text("登录")  # zh from the browser's language
        _sign_in(page, site.tenant, AGENT, AGENT_PW)
        _loaded(page, 30)
        page.locator('[data-kefu="days"]').select_option("90")
        _loaded(page, 90)
        assert asked[-1].endswith("/v1/agent/dashboard?days=90")
        expect(page.locator("#title")).to_contain_text("最近 90 天")

        charts = _charts(page)
        for name in CHARTS:
            c = charts[name]
            assert c and c["width"] > 100 and c["height"] > 20 and c["marks"] >= 1, (name, c)
        payload = _fake_stats(today, 90)
        assert charts["per-day"]["marks"] == len(payload["volume"]["per_day"])
        assert charts["sentiment"]["marks"] == len(payload["sentiment"]["per_day"]) + 1  # the dots and the line
        assert charts["csat"]["marks"] == 5 and charts["answers"]["marks"] == 4 and charts["intents"]["marks"] == 4
        expect(_card(page, "contained")).to_contain_text("66.7%")
        expect(_card(page, "csat")).to_contain_text("3.87 / 5")
        expect(_card(page, "sentiment")).to_contain_text("−0.12")
        expect(_card(page, "first-response")).to_contain_text("1m 15s / 1h 06m")
        expect(_card(page, "feedback")).to_contain_text("▲ 40/▼ 7")

        # Markup from the data is text: nothing ran, no element was made from it.
        assert page.evaluate("window.__pwned") is None
        assert page.locator("main img, main script, main b").count() == 0
        expect(page.locator('[data-kefu="chart-intents"]')).to_contain_text("<script>window.__pwn")
        gap = page.locator('[data-kefu="gap"]').first
        expect(gap.locator(".q")).to_contain_text('Do you ship to Mars? <img src=x onerror="window.__pwned=1">')
        gap.locator('[data-kefu="gap-examples"] summary').click()
        expect(gap.locator("li").nth(1)).to_have_text('<b>mars</b> <img src=x onerror="window.__pwned=1">')
        expect(gap).to_contain_text("暂无客服回复")
        gap.locator('[data-kefu="gap-add"]').click()  # no answer yet: nothing is sent
        expect(gap.locator('[data-kefu="gap-status"]')).to_have_text("请先填写答案。")
        expect(page.locator('[data-kefu="gap-answer"]').nth(1)).to_have_value("可以，下单时选择“开发票”。")
        assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
        _shot(page, "dashboard-90-zh.png")

        # A narrow window: charts are drawn again to fit, nothing overflows sideways.
        page.set_viewport_size({"width": 420, "height": 900})
        page.wait_for_timeout(400)
        charts = _charts(page)
        assert all(c and c["marks"] >= 1 and c["width"] <= 420 for c in charts.values()), charts
        assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
        _shot(page, "dashboard-narrow.png")

        # An empty period: no charts, a note in each place instead.
        empty["value"] = True
        page.set_viewport_size({"width": 1280, "height": 860})
        page.locator('[data-kefu="refresh"]').click()
        expect(page.locator('[data-kefu="chart-per-day"]')).to_contain_text("没有数据")
        assert all(c is None for c in _charts(page).values())
        expect(_card(page, "conversations")).to_have_attribute("data-value", "0")
        expect(_card(page, "csat")).to_contain_text("—")
        expect(page.locator('[data-kefu="gaps"]')).to_contain_text("没有知识缺口")
        assert errors == [], errors
    finally:
        ctx.close()
