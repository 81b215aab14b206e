"""Triple files: KdConv JSON, JSONL and CSV; line-numbered errors, idempotent re-import, self-loops, cycles."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kefu.errors import IngestError, NotFoundError
from kefu.kg.importers import import_file
from kefu.kg.sqlite_graph import SQLiteGraphStore

KB_TRAVEL = Path(__file__).resolve().parents[3] / "shared" / "data" / "dialogue" / "kb_travel.json"


@pytest.fixture
def graph(tmp_path):
    g = SQLiteGraphStore(tmp_path / "kefu.db")
    yield g
    g.close()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


KDCONV = {"故宫": [["故宫", "周边景点", "天坛"], ["故宫", "周边景点", "天坛"], ["故宫", "门票", "旺季60元"],
                   ["故宫", "周边景点", "故宫"]],
          "天坛": [["天坛", "周边景点", "故宫"], ["天坛", "地址", "北京市东城区天坛路"]]}


def test_kdconv_json_links_objects_to_entities_and_skips_self_loops(graph, tmp_path):
    report = import_file(graph, "acme", write(tmp_path, "kb.json", json.dumps(KDCONV, ensure_ascii=False)),
                         entity_type="place")
    assert (report.status, report.triples, report.entities) == ("imported", 4, 2)
    assert report.skipped == 2  # one duplicate, one self-loop
    assert any("self-loop" in w and "故宫" in w for w in report.warnings)
    (gugong,) = graph.search_entities("acme", "故宫")
    near = [t for t in graph.triples("acme", subject=gugong.id) if t.relation == "周边景点"]
    assert near[0].object_id is not None and near[0].object_name == "天坛"
    # the cycle 故宫 → 天坛 → 故宫 is two plain edges; neighbours see both directions once
    page = graph.neighbours("acme", gugong.id)
    assert page.total == 3 and {t.provenance["file"] for t in page.edges} == {"kb.json"}


def test_reimport_is_idempotent_and_a_changed_file_replaces_its_triples(graph, tmp_path):
    path = write(tmp_path, "kb.json", json.dumps(KDCONV, ensure_ascii=False))
    import_file(graph, "acme", path)
    before = graph.counts("acme")
    again = import_file(graph, "acme", path)
    assert again.status == "unchanged" and graph.counts("acme") == before
    changed = {"故宫": [["故宫", "门票", "旺季80元"]]}
    path.write_text(json.dumps(changed, ensure_ascii=False), encoding="utf-8")
    assert import_file(graph, "acme", path).triples == 1
    assert [t.object for t in graph.triples("acme")] == ["旺季80元"]
    assert graph.search_entities("acme", "天坛") == []  # only the old file named it


def test_jsonl_and_csv_with_types_and_aliases(graph, tmp_path):
    jsonl = write(tmp_path, "t.jsonl", "\n".join([
        json.dumps({"subject": "Gold membership", "relation": "includes", "object": "free shipping",
                    "aliases": ["金卡会员"], "subject_type": "policy"}),
        "",
        json.dumps(["Gold membership", "price", 99]),
    ]))
    assert import_file(graph, "acme", jsonl).triples == 2
    csv_path = write(tmp_path, "t.csv", "subject,relation,object,object_type\nX1,made_by,Nova,organisation\n"
                     "Nova,based_in,Shenzhen,\n")
    assert import_file(graph, "acme", csv_path).triples == 2
    (gold,) = graph.search_entities("acme", "金卡")
    assert gold.type == "policy" and "金卡会员" in gold.aliases
    (nova,) = graph.search_entities("acme", "nova")
    assert nova.type == "organisation"  # defined as an object in one row, a subject in the next: one node
    assert graph.neighbours("acme", nova.id).total == 2


@pytest.mark.parametrize("name, text, line, needle", [
    ("bad.jsonl", '{"subject": "a", "relation": "r", "object": "o"}\n{"subject": "a", "relation": "r"\n', 2,
     "not valid JSON"),
    ("bad.jsonl", '{"subject": "a", "relation": "r", "object": "o"}\n\n{"subject": "a", "relation": "r"}\n', 3,
     "missing object"),
    ("bad.jsonl", '["a", "r"]\n', 1, "got 2 value"),
    ("bad.jsonl", '{"subject": "", "relation": "r", "object": "o"}\n', 1, "subject must be"),
    ("bad.jsonl", '"just a string"\n', 1, "expected a JSON object"),
    ("bad.csv", "subject,relation,object\na,r,o\na,r\n", 3, "row has 2 fields"),
    ("bad.csv", "subj,rel,obj\na,r,o\n", 1, "no subject"),
    ("bad.json", '{"a": [["a", "r", "o"]],\n "b": [["b", "r"\n', 3, "not valid JSON"),
])
def test_malformed_files_name_the_file_and_line_and_write_nothing(graph, tmp_path, name, text, line, needle):
    path = write(tmp_path, name, text)
    with pytest.raises(IngestError) as info:
        import_file(graph, "acme", path)
    assert f"{path}:{line}:" in str(info.value) and needle in str(info.value)
    assert info.value.status == 422
    assert graph.counts("acme") == {"entities": 0, "triples": 0, "sources": 0}


def test_whole_file_json_errors_name_the_entity_and_item(graph, tmp_path):
    path = write(tmp_path, "kb.json", json.dumps({"故宫": [["故宫", "门票", "60元"], ["故宫", "门票"]]},
                                                 ensure_ascii=False))
    with pytest.raises(IngestError, match=r"kb.json: .*got 2 value.*entity '故宫' triple 2"):
        import_file(graph, "acme", path)


def test_missing_unsupported_and_non_utf8_files(graph, tmp_path):
    with pytest.raises(NotFoundError):
        import_file(graph, "acme", tmp_path / "nope.json")
    with pytest.raises(IngestError, match="unsupported"):
        import_file(graph, "acme", write(tmp_path, "t.xml", "<a/>"))
    bad = tmp_path / "gbk.csv"
    bad.write_bytes("subject,relation,object\n故宫,门票,六十元\n".encode("gbk"))
    with pytest.raises(IngestError, match="not UTF-8"):
        import_file(graph, "acme", bad)


def test_sql_ish_values_are_stored_verbatim(graph, tmp_path):
    evil = "'; DROP TABLE kg_triples; --"
    path = write(tmp_path, "t.jsonl", json.dumps({"subject": evil, "relation": evil, "object": evil + "2"}) + "\n")
    import_file(graph, "acme", path)
    (t,) = graph.triples("acme")
    assert (t.subject_name, t.relation, t.object) == (evil, evil, evil + "2")
    assert graph.search_entities("acme", evil)[0].name == evil


@pytest.mark.skipif(not KB_TRAVEL.exists(), reason=f"{KB_TRAVEL} is not present (../shared/data)")
def test_kdconv_kb_travel(graph):
    report = import_file(graph, "acme", KB_TRAVEL, entity_type="place")
    assert report.entities == 1154 and report.triples > 10_000
    assert import_file(graph, "acme", KB_TRAVEL).status == "unchanged"
    (gugong,) = [e for e in graph.search_entities("acme", "故宫") if e.name == "故宫"]
    assert any(t.relation == "地址" for t in graph.neighbours("acme", gugong.id, limit=100).edges)
