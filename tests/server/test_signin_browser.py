"""Signing in and out of the agent pages (/console, /dashboard) in headless Chromium.

Both pages share ``/agent.js`` (the sign-in form and the API client); each runs the same story here: a
wrong password, a sign-in, a session that ends on the server side (the page goes back to the sign-in form
on the next 401), and the sign-out button.
"""
from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium)", allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = playwright_sync.expect

from kefu.config import Config  # noqa: E402
from kefu.engine import Engine  # noqa: E402
from kefu.server.app import create_app  # noqa: E402
from kefu.server.auth import hash_password  # noqa: E402
from kefu.store.chats import Agent  # noqa: E402
from tests.server.live_server import chromium, free_port, serving  # noqa: E402

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def site(tmp_path_factory, embedder):
    """A kefu server on a loopback port (no knowledge base needed) with one agent, and a browser."""
    config = Config.load(tmp_path_factory.mktemp("signin") / "home", env={})
    engine = Engine(config)
    engine.__dict__["embedder"] = embedder
    engine.chats.add_agent(Agent(config.tenant, "alice", hash_password(PASSWORD), "agent", "Alice"))
    port = free_port()
    with serving(create_app(config, engine), port, "kefu-signin-server"), chromium() as browser:
        yield f"http://127.0.0.1:{port}", config.tenant, browser
    engine.close()


def sign_in(page, tenant: str, password: str) -> None:
    page.locator('[data-kefu="login-tenant"]').fill(tenant)
    page.locator('[data-kefu="login-user"]').fill("alice")
    page.locator('[data-kefu="login-password"]').fill(password)
    page.locator('[data-kefu="login-submit"]').click()


@pytest.mark.parametrize("path", ["/console", "/dashboard"])
def test_sign_in_session_end_and_sign_out(site, path):
    url, tenant, browser = site
    context = browser.new_context(locale="en-US")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        page.goto(url + path)
        submit = page.locator('[data-kefu="login-submit"]')
        expect(submit).to_be_visible()  # /v1/agent/me said 401

        sign_in(page, tenant, "wrong password")
        expect(page.locator("#login-error")).to_have_text("Wrong tenant, username or password.")
        expect(page.locator("#app")).to_be_hidden()
        expect(submit).to_be_enabled()

        sign_in(page, tenant, PASSWORD)
        expect(page.locator("#who")).to_contain_text("Alice")
        expect(submit).to_be_hidden()
        expect(page.locator('[data-kefu="login-password"]')).to_have_value("")

        # The session ends on the server side: the next call gets a 401 and the page asks to sign in again.
        context.clear_cookies()
        if path == "/dashboard":  # the dashboard calls the API when the period changes; the console polls
            page.locator('[data-kefu="days"]').select_option("7")
        expect(submit).to_be_visible(timeout=10_000)
        expect(page.locator("#app")).to_be_hidden()
        expect(page.locator('[data-kefu="login-tenant"]')).to_have_value(tenant)  # remembered

        sign_in(page, tenant, PASSWORD)
        expect(page.locator("#who")).to_contain_text("Alice")
        page.locator('[data-kefu="logout"]').click()
        expect(submit).to_be_visible()
        page.reload()  # the session is gone on the server too
        expect(submit).to_be_visible()
        assert errors == [], errors
    finally:
        context.close()
