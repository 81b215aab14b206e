"""The bundled demo knowledge base, ingested end to end through the CLI, then asked in zh and en."""
from __future__ import annotations

import json
import re
import sqlite3

import pytest
from click.testing import CliRunner

from kefu.cli import main
from kefu.ingest import loaders
from tests.helpers import DEMO_KB
from tests.test_cli import cli_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DEMO_KB.is_dir(), reason=f"demo knowledge base not found at {DEMO_KB}"),
]

RAW_PII = {
    "mainland mobile": r"(?<![\d\w])1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)",
    "email": r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}",
    "international phone": r"\+\d{1,3}[ -]?\(?\d{1,4}\)?(?:[ -]?\d{3,6}){2}",
    "bank card (grouped)": r"(?<!\d)\d{4}(?:[ -]\d{4}){3}(?:[ -]?\d{1,3})?(?!\d)",
}


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo") / "home"
    result = CliRunner().invoke(main, ["--home", str(home), "ingest", str(DEMO_KB), "--source", "demo-kb",
                                       "--json"], env=cli_env())
    return home, result


def ask(home, question: str) -> dict:
    result = CliRunner().invoke(main, ["--home", str(home), "ask", "--json", question], env=cli_env())
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_demo_file_ingests(demo_home):
    home, result = demo_home
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    expected = sorted(p for p in DEMO_KB.rglob("*") if p.is_file() and loaders.supported(p))
    assert report["totals"]["files"] == len(expected)
    assert report["totals"]["failed"] == 0, [f["error"] for f in report["files"] if f["error"]]
    kinds = {f["uri"].rsplit("/", 1)[-1]: f["kind"] for f in report["files"]}
    assert kinds.get("faq.csv") == "faq" and kinds.get("chats.jsonl") == "chatlog"
    assert kinds.get("products.csv") == "table"
    assert report["totals"]["pii_redactions"] > 0 and report["totals"]["noise_removed"] > 0


def test_no_raw_pii_is_stored_but_order_numbers_are(demo_home):
    home, _ = demo_home
    db = sqlite3.connect(home / "kefu.db")
    try:
        queries = ("SELECT title, meta FROM documents",
                   "SELECT title, text, question, answer, meta FROM chunks")
        values = [v for sql in queries for row in db.execute(sql) for v in row if isinstance(v, str)]
    finally:
        db.close()
    stored = "\n".join(values)
    assert stored, "nothing was stored"
    for kind, pattern in RAW_PII.items():
        found = re.findall(pattern, stored)
        assert not found, f"raw {kind} stored: {found[:5]}"
    assert re.search(r"NT20\d{11}", stored), "order numbers must not be redacted"


@pytest.mark.parametrize("question, keywords, lang", [
    ("退货要多久到账？", ["1-3"], "zh"),
    ("How long is the warranty on the X1 Pro?", ["24"], "en"),
    ("Can I pay in installments?", ["3", "6"], "en"),
    ("退回去的钱微信多久能收到", ["1-3"], "zh"),
])
def test_demo_questions_are_answered(demo_home, question, keywords, lang):
    """The questions the README suggests trying, answered with the fact and a citation."""
    home, _ = demo_home
    body = ask(home, question)
    assert body["mode"] != "abstain", body["answer"]
    assert body["language"] == lang
    for keyword in keywords:
        assert keyword in body["answer"], body["answer"]
    assert body["citations"] and body["citations"][0]["source"] == "demo-kb"


@pytest.mark.parametrize("question, lang", [
    ("What's the weather like tomorrow?", "en"),
    pytest.param("你们卖汽车吗", "zh", marks=pytest.mark.xfail(
        strict=True, reason="known: matches the FAQ '你们会把我的个人信息卖给别人吗' at 0.58 confidence; "
                            "the uncovered-word feature (1 of 3 words) is not yet strong enough")),
    ("Do you sell refrigerators?", "en"),
])
def test_demo_out_of_scope_questions_abstain(demo_home, question, lang):
    home, _ = demo_home
    body = ask(home, question)
    assert body["mode"] == "abstain", body["answer"]
    assert body["handoff_offered"] is True and body["language"] == lang
