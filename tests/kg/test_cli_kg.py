"""``kefu kg build | import | export | ask | search | sources`` end to end through the CLI."""
from __future__ import annotations

import csv
import io
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.test_cli import kefu

CATALOGUE = Path(__file__).resolve().parents[2] / "examples" / "demo-kb" / "catalogue" / "products.csv"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kg_cli")
    (root / "kb").mkdir()
    shutil.copy(CATALOGUE, root / "kb" / "products.csv")
    assert kefu(root / "home", "ingest", str(root / "kb")).exit_code == 0
    result = kefu(root / "home", "kg", "build", "--no-ner", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["built"] == 1 and report["graph"]["entities"] == 12
    return root / "home"


def test_build_again_is_a_no_op(home):
    report = json.loads(kefu(home, "kg", "build", "--no-ner", "--json").output)
    assert (report["built"], report["unchanged"]) == (0, 1)
    table = kefu(home, "kg", "build", "--no-ner").output
    assert "unchanged" in table


def test_ask_prints_the_answer_with_its_triple(home):
    result = kefu(home, "kg", "ask", "X1 Pro 保修多久?")
    assert result.exit_code == 0
    assert "24 个月" in result.output and "warranty_months" in result.output and "products.csv:3" in result.output
    data = json.loads(kefu(home, "kg", "ask", "--json", "How much is the Nova Buds Pro?").output)
    assert "$89" in data["answer"] and data["triples"][0]["provenance"]["row"] == 5
    assert kefu(home, "kg", "ask", "hello there").exit_code == 1


def test_kefu_ask_uses_the_graph_when_it_is_better_supported(home):
    data = json.loads(kefu(home, "ask", "--json", "诺瓦Buds Lite多少钱").output)
    assert data["mode"] == "graph" and "199" in data["answer"] and data["citations"][0]["source"] == "kg"


def test_import_bad_file_names_the_line_and_exits_2(home, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"subject": "a", "relation": "r", "object": "o"}\n{"subject": "a"\n', encoding="utf-8")
    result = kefu(home, "kg", "import", str(bad))
    assert result.exit_code == 2 and f"{bad}:2" in result.output


def test_import_is_idempotent_and_export_round_trips(home, tmp_path):
    triples = tmp_path / "membership.csv"
    triples.write_text("subject,relation,object\nGold membership,includes,free shipping\n"
                       "Gold membership,price,99 元/年\nGold membership,same_as,Gold membership\n", encoding="utf-8")
    first = json.loads(kefu(home, "kg", "import", "--json", str(triples)).output)
    assert (first["status"], first["triples"], first["skipped"]) == ("imported", 2, 1)
    assert "self-loop" in kefu(home, "kg", "import", str(tmp_path / "membership.csv"), "--source", "other").output
    again = json.loads(kefu(home, "kg", "import", "--json", str(triples)).output)
    assert again["status"] == "unchanged"
    exported = json.loads(kefu(home, "kg", "export", "--format", "json").output)
    assert len(exported["entities"]) == 13 and any(t["object"] == "99 元/年" for t in exported["triples"])
    rows = list(csv.DictReader(io.StringIO(kefu(home, "kg", "export", "--format", "csv").output)))
    assert {"subject", "relation", "object", "source"} <= set(rows[0]) and len(rows) == len(exported["triples"])
    out = tmp_path / "g.graphml"
    assert kefu(home, "kg", "export", "--format", "graphml", "--out", str(out)).exit_code == 0
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    tree = ET.parse(out).getroot()
    assert len(tree.findall(".//g:edge", ns)) == len(exported["triples"])
    answer = kefu(home, "kg", "ask", "Gold membership的价格是多少").output
    assert answer.startswith("Gold membership的价格：99 元/年") and answer.count("membership.csv:3") == 1


def test_search_and_sources(home):
    out = kefu(home, "kg", "search", "诺瓦").output
    assert "Nova X1 Pro" in out and "product" in out
    sources = kefu(home, "kg", "sources").output
    assert "doc:kb/products.csv" in sources and "import:membership.csv" in sources


def test_build_with_customers_adds_them_from_the_chat_store(home):
    from kefu.config import Config
    from kefu.engine import Engine

    engine = Engine(Config.load(home=home, env={}))
    conv = engine.service.start("default", lang="zh")
    engine.service.post("default", conv.id, "订单NT2026030112345的诺瓦X1 Pro什么时候到？")
    engine.close()
    report = json.loads(kefu(home, "kg", "build", "--no-ner", "--customers", "--json").output)
    assert report["customers"] == 1
    assert "customer:cu_" in kefu(home, "kg", "sources").output
    assert "NT2026030112345" in kefu(home, "kg", "search", "NT2026030112345").output


def test_other_tenants_are_empty(home):
    result = kefu(home, "kg", "ask", "--tenant", "other", "X1 Pro 保修多久?")
    assert result.exit_code == 1
    assert json.loads(kefu(home, "--tenant", "other", "kg", "export").output)["triples"] == []
