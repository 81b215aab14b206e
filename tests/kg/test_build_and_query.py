"""``kg build`` from a real knowledge base (the demo catalogue + a policy), incremental; graph QA in zh and en;
the dialog uses the graph answer when it is better supported than the text answer."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kefu.config import Config
from kefu.engine import Engine
from kefu.kg.build import GraphBuilder

CATALOGUE = Path(__file__).resolve().parents[2] / "examples" / "demo-kb" / "catalogue" / "products.csv"
POLICY = """# Warranty policy

All products sold by Nova Store come with a free warranty. The Nova Watch S2 has a 18-month warranty.
Repairs are handled by the Shenzhen service centre of Nova Technology.

诺瓦Watch S2的保修期是18个月。
"""


@pytest.fixture(scope="module")
def kb(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("kg_kb")
    (root / "kb").mkdir()
    shutil.copy(CATALOGUE, root / "kb" / "products.csv")
    (root / "kb" / "warranty.md").write_text(POLICY, encoding="utf-8")
    engine = Engine(Config.load(home=root / "home", env={}))
    engine.__dict__["embedder"] = embedder
    assert engine.ingestor.ingest([root / "kb"], tenant="acme").totals()["failed"] == 0
    report = GraphBuilder(engine.store, engine.graph, ner=True).build("acme")
    assert report.built == 2 and not report.failed
    yield engine, root / "kb"
    engine.close()


@pytest.mark.parametrize("question, expected", [
    ("X1 Pro 保修多久?", "24"),
    ("诺瓦X1 Pro的保修期是多少？", "24"),
    ("How long is the warranty of the Nova X1 Pro?", "24 months"),
    ("诺瓦Buds Lite多少钱", "199"),
    ("How much is the Nova Buds Pro?", "$89"),
    ("What colours does the Watch S2 come in?", "Rose Gold"),
    ("NT-PAD11 的价格", "2299"),
    ("Pad 11 是什么类别", "平板电脑"),
])
def test_graph_answers_catalogue_attributes_in_zh_and_en(kb, question, expected):
    engine, _ = kb
    found = engine.graph_qa.ask("acme", question)
    assert found is not None and expected in found.answer, found
    assert found.confidence >= 0.5 and found.triples[0].provenance["uri"].endswith("products.csv")
    assert found.triples[0].provenance["row"] >= 2


def test_zh_answers_name_the_product_in_chinese(kb):
    found = kb[0].graph_qa.ask("acme", "诺瓦X1 Pro的价格是多少")
    assert found.answer.startswith("诺瓦X1 Pro降噪耳机的价格：1499 元")


@pytest.mark.parametrize("question", ["How do I return the X1 Pro?", "你们卖汽车吗", "X1 Pro", "价格",
                                      "Does the X1 Pro warranty cover water damage from swimming?",
                                      "'; DROP TABLE kg_triples; --", "%_%"])
def test_no_graph_answer_without_entity_and_relation_or_with_more_asked(kb, question):
    assert kb[0].graph_qa.ask("acme", question) is None


def test_documents_yield_mentions_ner_and_pattern_triples(kb):
    engine, _ = kb
    graph = engine.graph
    (watch,) = [e for e in graph.search_entities("acme", "Watch S2") if e.type == "product"]
    edges = graph.neighbours("acme", watch.id, limit=100).edges
    warranty = [t for t in edges if t.relation == "warranty"]
    assert {t.object for t in warranty} >= {"18-month"} and warranty[0].provenance["uri"].endswith("warranty.md")
    assert any(t.relation == "保修期" and t.object == "18个月" for t in edges)
    assert any(t.relation == "mentions" and t.subject_name == "Warranty policy" for t in edges)
    # NER: the organisation and the place named in the policy are nodes it mentions
    (policy,) = graph.search_entities("acme", "Warranty policy")
    mentioned = {t.object_name for t in graph.neighbours("acme", policy.id, limit=100).edges}
    assert "Shenzhen" in mentioned and watch.name in mentioned
    # zh and en names of a product are one node
    assert {e.id for e in graph.search_entities("acme", "诺瓦Watch S2")} == {watch.id}


def test_build_is_incremental(kb, embedder):
    engine, folder = kb
    graph = engine.graph
    again = GraphBuilder(engine.store, graph, ner=False).build("acme")
    assert (again.built, again.unchanged, again.removed) == (0, 2, 0)
    before = {t.id for t in graph.triples("acme", source="doc:kb/products.csv", limit=500)}
    (folder / "warranty.md").write_text(POLICY.replace("18", "20"), encoding="utf-8")
    engine.ingestor.ingest([folder], tenant="acme")
    changed = GraphBuilder(engine.store, graph, ner=False).build("acme")
    assert (changed.built, changed.unchanged) == (1, 1)
    assert {t.id for t in graph.triples("acme", source="doc:kb/products.csv", limit=500)} == before
    objects = {t.object for t in graph.triples("acme", source="doc:kb/warranty.md", limit=500)}
    assert "20个月" in objects and "18个月" not in objects
    assert engine.store.delete_source("acme", "kb")  # the whole source goes: both documents
    gone = GraphBuilder(engine.store, graph, ner=False).build("acme")
    assert gone.removed == 2 and graph.counts("acme") == {"entities": 0, "triples": 0, "sources": 0}
    engine.ingestor.ingest([folder], tenant="acme")  # restore for other tests
    GraphBuilder(engine.store, graph, ner=True).build("acme")


def test_dialog_prefers_the_better_supported_answer(kb):
    engine, _ = kb
    answer = engine.answerer.ask("acme", "诺瓦Buds Lite多少钱")
    assert answer.mode == "graph" and "199" in answer.answer
    assert answer.citations[0].source == "kg" and answer.citations[0].kind == "triple"
    assert "price_cny" in answer.citations[0].snippet and answer.citations[0].uri.endswith("products.csv:4")
    assert answer.explanation["graph"]["entity"]["type"] == "product"
    text = engine.answerer.ask("acme", "How do I get a repair?")
    assert text.mode != "graph"
    filtered = engine.answerer.ask("acme", "诺瓦Buds Lite多少钱", filters=None)
    assert filtered.mode == "graph"


def test_other_tenants_get_no_graph_answer(kb):
    assert kb[0].graph_qa.ask("other", "X1 Pro 保修多久?") is None


def test_graph_expands_keyword_search_with_the_entitys_other_names(kb, tmp_path):
    """An English question names "Watch S2"; only a Chinese passage says "诺瓦Watch S2智能手表" … with expansion
    the keyword search finds it (the entity's Chinese name), without it the question's words do not."""
    from kefu.retrieve.retriever import Retriever

    engine, _ = kb
    words = engine.graph_qa.expansion("acme", "Is the Watch S2 waterproof?")
    assert any("诺瓦" in w for w in words) and "watch s2" not in [w.lower() for w in words]
    assert engine.graph_qa.expansion("acme", "How do refunds work?") == []
    assert engine.graph_qa.expansion("other-tenant", "Is the Watch S2 waterproof?") == []
    plain = Retriever(engine.store, engine.embedder)
    expanded = Retriever(engine.store, engine.embedder, expand=engine.graph_qa.expansion)
    question = "Watch S2 保修"
    before = {h.chunk.id for h in plain.search("acme", question, 50, mode="keyword").hits}
    after = {h.chunk.id for h in expanded.search("acme", question, 50, mode="keyword").hits}
    assert before < after  # the same hits and more: rows and passages naming the product in Chinese
    assert engine.retriever.expand is not None  # on by default (setting kg_expand_queries)
