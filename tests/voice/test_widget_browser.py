"""The widget's microphone in headless Chromium: shown only when voice is available, and a recording
(Chromium's fake microphone playing a synthesised question) round-trips through /v1/voice/turn."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kefu.config import Config
from kefu.server.app import create_app
from kefu.server.auth import new_key
from tests.server.live_server import chromium, demo_engine, free_port, serving
from tests.voice.conftest import needs_voice, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.voice, pytest.mark.slow, needs_voice]

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
playwright_sync = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = playwright_sync.expect


@pytest.fixture(scope="module")
def live(tmp_path_factory, embedder, asr, speaker):
    from kefu.voice.turn import VoiceRuntime

    engine = demo_engine(tmp_path_factory.mktemp("voice-browser"), embedder)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    apps = {}
    for name, enabled in (("on", True), ("off", False)):
        config = Config.load(engine.config.home, env={}, overrides={"voice_enabled": enabled})
        app = create_app(config, engine)
        app.state.voice = VoiceRuntime(config, asr=asr, speaker=speaker)
        app.state.demo_widget_key, _ = new_key(engine.chats, config.tenant, "widget", label="voice", origins=[url])
        apps[name] = app
    yield url, apps, engine
    engine.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory, say):
    question = say("How do I return an item?", "en").resampled(48000).samples
    fake = tmp_path_factory.mktemp("mic") / "question.wav"
    pad = np.zeros(int(0.3 * 48000), np.float32)
    fake.write_bytes(wav_bytes(np.concatenate([pad, question, np.zeros(6 * 48000, np.float32)]), 48000))
    with chromium("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                  f"--use-file-for-fake-audio-capture={fake}", "--autoplay-policy=no-user-gesture-required") as b:
        yield b


def test_microphone_round_trip(live, browser):
    url, apps, engine = live
    context = browser.new_context(locale="en-US", permissions=["microphone"])
    try:
        with serving(apps["on"], int(url.rsplit(":", 1)[1])):
            page = context.new_page()
            page.goto(url + "/demo?lang=en")
            page.locator('[data-kefu="bubble"]').click()
            mic = page.locator('[data-kefu="mic"]')
            expect(mic).to_be_visible(timeout=10_000)
            expect(mic).to_have_attribute("data-state", "idle")
            mic.click()
            expect(mic).to_have_attribute("data-state", "recording")
            page.wait_for_timeout(3500)
            mic.click()
            expect(mic).to_have_attribute("data-state", "playing", timeout=60_000)
            bot = page.locator('[data-kefu="message"][data-role="bot"]').first
            expect(bot).to_contain_text("within 30 days")
            customer = page.locator('[data-kefu="message"][data-role="customer"]').first
            expect(customer).to_contain_text("return")
            last = page.evaluate("window.KefuWidget.voice().last")
            assert last["audio"]["seconds"] > 2 and "return" in last["transcript"]["text"].lower()
            cid = page.evaluate("window.KefuWidget.conversationId()")
            assert last["conversation"]["id"] == cid
            assert [m.role for m in engine.chats.list_messages(engine.config.tenant, cid)] == ["customer", "bot"]
    finally:
        context.close()


def test_no_microphone_when_voice_is_off(live, browser):
    url, apps, _ = live
    context = browser.new_context(locale="en-US")
    try:
        with serving(apps["off"], int(url.rsplit(":", 1)[1])):
            page = context.new_page()
            page.goto(url + "/demo?lang=en")
            page.locator('[data-kefu="bubble"]').click()
            expect(page.locator('[data-kefu="input"]')).to_be_visible()
            page.wait_for_function("window.KefuWidget && window.KefuWidget.voice().available === false")
            page.wait_for_timeout(500)
            expect(page.locator('[data-kefu="mic"]')).to_be_hidden()
    finally:
        context.close()
