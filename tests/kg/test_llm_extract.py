"""Facts extracted through a configured generator: kept only when the text supports them, PII never sent,
failures counted, incremental like every other graph source. The generator is the deterministic fake
(prompt logic); the real backends are tested against llama.cpp in tests/llm."""
from __future__ import annotations

import json

import pytest

from kefu.kg.build import GraphBuilder
from kefu.kg.llm_extract import parse_facts
from kefu.kg.sqlite_graph import SQLiteGraphStore
from kefu.llm.base import GeneratorError
from kefu.store.base import Chunk, Document
from kefu.store.sqlite import SQLiteStore
from tests.llm.fakes import FakeGenerator

TEXT = ("The Nova Lamp L2 costs $39 and ships from the Hangzhou warehouse. "
        "Questions: call 13812345678 or write to help@nova.example.")
REPLY = "\n".join([
    "Here are the facts:",
    json.dumps(["Nova Lamp L2", "price", "$39"]),
    json.dumps(["Nova Lamp L2", "ships from", "Hangzhou warehouse"]),
    json.dumps(["Nova Lamp L2", "warranty", "5 years"]),          # not in the text: invented
    json.dumps(["Nova Lamp L2", "support phone", "[PHONE_1]"]),   # a placeholder, never a fact
    '["broken", "json"',
    json.dumps(["only", "two"]),
])


@pytest.fixture
def kb(tmp_path):
    store = SQLiteStore(tmp_path / "kefu.db")
    graph = SQLiteGraphStore(tmp_path / "kefu.db")
    store.replace_document(Document("acme", "kb", "lamp.md", "Lamp", "document", "h1"),
                           [Chunk(text=TEXT, title="Lamp", content_hash="c1")])
    yield store, graph
    graph.close()
    store.close()


def test_parse_facts_skips_prose_and_malformed_arrays():
    assert parse_facts(REPLY)[:2] == [("Nova Lamp L2", "price", "$39"),
                                      ("Nova Lamp L2", "ships from", "Hangzhou warehouse")]
    assert len(parse_facts(REPLY)) == 4 and parse_facts("") == [] and parse_facts("no facts") == []


def test_only_facts_written_in_the_text_are_kept_and_pii_is_not_sent(kb):
    store, graph = kb
    fake = FakeGenerator(REPLY)
    report = GraphBuilder(store, graph, ner=False, generator=fake, redact=True).build("acme")
    sent = fake.calls[0][1]["content"]
    assert "13812345678" not in sent and "help@nova.example" not in sent and "Hangzhou" in sent
    facts = {(t.relation, t.object) for t in graph.triples("acme") if t.provenance.get("extractor")}
    assert facts == {("price", "$39"), ("ships from", "Hangzhou warehouse")}
    assert report.llm_chunks == 1 and report.llm_triples == 2 and report.llm_dropped == 2
    triple = next(t for t in graph.triples("acme") if t.relation == "price")
    assert triple.provenance["extractor"] == "generator:fake" and triple.provenance["uri"] == "lamp.md"
    assert graph.triples("other") == []


def test_a_failing_generator_is_counted_and_the_rest_of_the_build_stands(kb):
    store, graph = kb
    report = GraphBuilder(store, graph, ner=False, generator=FakeGenerator(GeneratorError("down"))).build("acme")
    assert report.built == 1 and report.llm_failed_chunks == 1 and report.llm_triples == 0
    assert not [t for t in graph.triples("acme") if t.provenance.get("extractor")]


def test_incremental_and_rebuilt_when_the_generator_changes(kb):
    store, graph = kb
    fake = FakeGenerator(REPLY)
    GraphBuilder(store, graph, ner=False, generator=fake).build("acme")
    again = GraphBuilder(store, graph, ner=False, generator=fake).build("acme")
    assert again.unchanged == 1 and len(fake.calls) == 1  # unchanged document: the model is not asked again
    without = GraphBuilder(store, graph, ner=False).build("acme")
    assert without.built == 1 and not [t for t in graph.triples("acme") if t.provenance.get("extractor")]


def test_parse_facts_reads_one_array_of_arrays_too():
    assert parse_facts('[["A", "price", "9"], ["B", "made by", "C"]]') == [("A", "price", "9"), ("B", "made by", "C")]
