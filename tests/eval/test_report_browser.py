"""The HTML report in a real browser (headless Debian chromium): the charts render, offline, without errors.

Writes a screenshot of the replay report to /tmp/shots/report.png for a look by eye.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from kefu.eval.report import render_html
from tests.eval.test_report import replay_result, retrieval_result
from tests.server.live_server import chromium

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path("/tmp/shots")

pytestmark = [
    pytest.mark.browser, pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian chromium at {CHROMIUM} (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("playwright.sync_api", reason="needs the playwright package (dev extra)")
    with chromium() as browser:
        yield browser


def _open(browser, tmp_path: Path, html: str):
    """The report loaded from a file:// URL; the console errors and every URL the page asked for."""
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    page.on("request", lambda req: requests.append(req.url))
    page.goto(path.as_uri(), wait_until="load")
    return page, errors, requests


def _colours(png: bytes) -> int:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        return len(img.convert("RGB").getcolors(maxcolors=1 << 24) or [])


def _check_chart(page, chart_id: str) -> None:
    svg = page.locator(f"#{chart_id} > svg")
    assert svg.count() == 1, chart_id
    box = svg.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 80, (chart_id, box)
    drawn = page.locator(f"#{chart_id} svg path, #{chart_id} svg rect, #{chart_id} svg use").count()
    assert drawn >= 5, (chart_id, drawn)
    texts = page.locator(f"#{chart_id} svg text").count()
    assert texts >= 3, (chart_id, texts)
    shot = svg.screenshot()
    assert _colours(shot) > 20, f"{chart_id} looks blank"


def test_replay_report_renders_in_chromium(browser, tmp_path):
    page, errors, requests = _open(browser, tmp_path, render_html(replay_result(120)))
    try:
        for chart_id in ("chart-outcomes", "chart-similarity", "chart-languages", "chart-intents", "chart-latency"):
            _check_chart(page, chart_id)
        assert page.locator(".worst-example").count() == 10
        assert page.locator("#regressions li").count() == 1
        assert page.locator("#regressions").evaluate("e => getComputedStyle(e).color") == "rgb(198, 40, 40)"
        assert page.locator("details.turns tbody tr").count() == 120
        assert page.locator("details.turns tbody tr").first.is_visible() is False  # collapsed until opened
        page.locator("details.turns summary").click()
        assert page.locator("details.turns tbody tr").first.is_visible()
        page.locator("details.turns summary").click()
        SHOTS.mkdir(parents=True, exist_ok=True)
        png = page.screenshot(path=str(SHOTS / "report.png"), full_page=True)
        assert _colours(png) > 200
        assert not errors, errors
        assert all(url.startswith(("file:", "data:", "about:")) for url in requests), requests
    finally:
        page.close()


def test_hostile_text_does_not_run(browser, tmp_path):
    result = replay_result(12)
    hostile = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    for t in result["worst"]:
        t.update(question=hostile, bot=hostile, human=hostile, context=[hostile])
    page, errors, requests = _open(browser, tmp_path, render_html(result, title=hostile))
    try:
        assert page.evaluate("() => window.__pwned === undefined")
        assert page.locator("script").count() == 0 and page.locator("img").count() == 0
        assert hostile in page.locator(".worst-example .msg").first.inner_text()
        assert page.title() == hostile
        assert not errors, errors
    finally:
        page.close()


def test_retrieval_report_renders_in_chromium(browser, tmp_path):
    page, errors, requests = _open(browser, tmp_path, render_html(retrieval_result()))
    try:
        for chart_id in ("chart-ranks", "chart-languages", "chart-latency"):
            _check_chart(page, chart_id)
        assert page.locator(".worst-example").count() > 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "report-retrieval.png"), full_page=True)
        assert not errors, errors
    finally:
        page.close()


def test_review_report_renders_in_chromium(browser, tmp_path):
    """`kefu analyze reviews --out` writes report.html: its four charts draw offline (no request leaves)."""
    from kefu.analytics.report import render_reviews_html
    from kefu.analytics.reviews import analyze_reviews

    rows = ["text,date,product"]
    good = ["质量很好，物流也快", "价格实惠，包装精美", "Great quality and fast delivery", "服务态度好，推荐购买"]
    bad = ["物流太慢了，包装破损", "质量很差，客服不理人", "Too expensive and the size is wrong", "味道不新鲜，差评"]
    for i in range(60):
        text = (good if i % 3 else bad)[i % 4]
        rows.append(f"{text} {i},2026-{1 + i % 6:02d}-{1 + i % 27:02d},{'耳机' if i % 2 else '手表'}")
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    summary = analyze_reviews(path, time_col="date", product_col="product", topics=3)
    page, errors, requests = _open(browser, tmp_path, render_reviews_html(summary))
    try:
        for chart_id in ("chart-aspects", "chart-topics", "chart-trend", "chart-products"):
            _check_chart(page, chart_id)
        assert not errors, errors
        assert all(url.startswith("file://") for url in requests), requests
    finally:
        page.close()
