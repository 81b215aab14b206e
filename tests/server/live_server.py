"""A real kefu server on a loopback port and Debian's chromium, for the browser tests."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from kefu.config import Config
from kefu.engine import Engine
from tests import helpers

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@contextmanager
def chromium(*extra_args: str):
    """Headless Debian chromium driven by Playwright (never Playwright's own download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_engine(root: Path, embedder) -> Engine:
    """An engine over ``helpers.bilingual_kb`` in ``root``, its NLU loaded (first requests stay fast)."""
    config = Config.load(root / "home", env={})
    engine = Engine(config)
    engine.__dict__["embedder"] = embedder
    report = engine.ingestor.ingest([helpers.bilingual_kb(root / "kb")], tenant=config.tenant)
    assert report.totals()["failed"] == 0
    engine.service.nlu(config.tenant).warm_up()
    return engine


@contextmanager
def serving(app, port: int, name: str = "kefu-test-server") -> Iterator[None]:
    """Run ``app`` with uvicorn in a thread on ``port`` until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="off", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)
