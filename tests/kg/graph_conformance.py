"""Conformance suite every ``GraphStore`` implementation must pass.

Subclass ``GraphStoreConformance`` and provide a ``graph`` fixture yielding a fresh, empty store. Uses
only the protocol in ``kefu.kg.base``, so another backend (PostgreSQL) can run it unchanged.
"""
from __future__ import annotations

import threading

import pytest

from kefu.errors import InputError, NotFoundError
from kefu.kg.base import MAX_PAGE, Entity, GraphStore, Triple, entity_id, norm_alias

HOSTILE = ["'; DROP TABLE kg_triples; --", "%", "_", "\\", '"', "' OR '1'='1", "a%b_c", "NEAR(", "*"]


def ent(name: str, tenant: str = "acme", type_: str = "product", aliases: tuple[str, ...] = ()) -> Entity:
    return Entity(tenant, entity_id(type_, name), name, type_, list(aliases))


def tri(s: Entity, relation: str, obj: str | Entity, source: str = "src", **prov) -> Triple:
    if isinstance(obj, Entity):
        return Triple(s.tenant, s.id, relation, obj.name, obj.id, source, prov)
    return Triple(s.tenant, s.id, relation, obj, None, source, prov)


class GraphStoreConformance:
    def test_is_a_graph_store(self, graph):
        assert isinstance(graph, GraphStore)

    def test_round_trip_with_aliases_and_provenance(self, graph):
        x1 = ent("Nova X1 Pro", aliases=("诺瓦X1 Pro", "X1 Pro", "NT-X1P"))
        n = graph.replace_source("acme", "doc:products.csv", "h1", [x1],
                                 [tri(x1, "warranty_months", "24", "doc:products.csv", uri="products.csv", row=3)])
        assert n == 1
        got = graph.get_entity("acme", x1.id)
        assert got.name == "Nova X1 Pro" and got.type == "product"
        assert set(got.aliases) == {"诺瓦X1 Pro", "X1 Pro", "NT-X1P"}
        (t,) = graph.triples("acme", subject=x1.id)
        assert (t.relation, t.object, t.subject_name) == ("warranty_months", "24", "Nova X1 Pro")
        assert t.provenance == {"uri": "products.csv", "row": 3}
        assert graph.aliases("acme")["x1 pro"] == [x1.id]
        assert graph.source_hash("acme", "doc:products.csv") == "h1"
        assert graph.counts("acme") == {"entities": 1, "triples": 1, "sources": 1}

    def test_replacing_a_source_touches_exactly_its_triples(self, graph):
        a, b = ent("A"), ent("B")
        graph.replace_source("acme", "s1", "h1", [a], [tri(a, "price", "1", "s1"), tri(a, "color", "red", "s1")])
        graph.replace_source("acme", "s2", "h2", [b], [tri(b, "price", "2", "s2"), tri(a, "made_by", b, "s2")])
        graph.replace_source("acme", "s1", "h1b", [a], [tri(a, "price", "3", "s1")])
        assert sorted((t.relation, t.object) for t in graph.triples("acme", subject=a.id)) == [("made_by", "B"),
                                                                                              ("price", "3")]
        assert graph.source_hash("acme", "s1") == "h1b"
        assert graph.delete_source("acme", "s2") == 2
        assert [t.object for t in graph.triples("acme")] == ["3"]
        with pytest.raises(NotFoundError):  # B is orphaned: no triple, no alias left
            graph.get_entity("acme", b.id)
        assert graph.source_hash("acme", "s2") is None
        assert [s["source"] for s in graph.list_sources("acme")] == ["s1"]

    def test_duplicates_in_a_source_are_stored_once_and_replace_is_idempotent(self, graph):
        a = ent("A")
        triples = [tri(a, "nearby", "B"), tri(a, "nearby", "B"), tri(a, "nearby", "C")]
        assert graph.replace_source("acme", "src", "h", [a, a], triples) == 2
        assert graph.replace_source("acme", "src", "h", [a, a], triples) == 2
        assert graph.counts("acme") == {"entities": 1, "triples": 2, "sources": 1}

    def test_other_tenants_see_nothing(self, graph):
        a = ent("A")
        graph.replace_source("acme", "src", "h", [a], [tri(a, "price", "1")])
        with pytest.raises(NotFoundError):
            graph.get_entity("other", a.id)
        with pytest.raises(NotFoundError):
            graph.neighbours("other", a.id)
        assert graph.triples("other") == [] and graph.search_entities("other", "A") == []
        assert graph.aliases("other") == {} and graph.source_hash("other", "src") is None
        assert graph.counts("other") == {"entities": 0, "triples": 0, "sources": 0}
        assert graph.delete_source("other", "src") == 0 and graph.delete_entities("other", [a.id]) == 0
        assert graph.counts("acme")["triples"] == 1

    @pytest.mark.parametrize("text", HOSTILE)
    def test_hostile_strings_are_just_data(self, graph, text):
        a = ent("Nova X1 Pro")
        odd = ent(f"odd {text} name")
        graph.replace_source("acme", text, "h", [a, odd], [tri(a, text, text, text), tri(odd, "is", "x", text)])
        found = graph.search_entities("acme", text)
        if norm_alias(text):  # punctuation alone searches for nothing
            assert [e.id for e in found] == [odd.id]
        else:
            assert found == []
        assert graph.triples("acme", relation=text)[0].object == text
        with pytest.raises(NotFoundError):
            graph.get_entity("acme", text)
        assert graph.counts("acme")["triples"] == 2

    def test_search_ranks_exact_then_prefix_then_substring(self, graph):
        items = [ent("X1 Pro"), ent("Nova X1 Pro Max"), ent("X1 Pro case"), ent("Other", aliases=("x1 pro",))]
        graph.replace_source("acme", "src", "h", items, [tri(e, "price", "1") for e in items])
        names = [e.name for e in graph.search_entities("acme", "x1 pro")]
        assert set(names[:2]) == {"X1 Pro", "Other"} and names[2] == "X1 Pro case" and names[3] == "Nova X1 Pro Max"
        assert len(graph.search_entities("acme", "x1", limit=2)) == 2
        assert graph.search_entities("acme", "   ") == []

    def test_self_loops_and_cycles_do_not_loop(self, graph):
        a, b, c = ent("A"), ent("B"), ent("C")
        triples = [tri(a, "near", b), tri(b, "near", c), tri(c, "near", a), tri(a, "same_as", a)]
        graph.replace_source("acme", "src", "h", [a, b, c], triples)
        page = graph.neighbours("acme", a.id)
        assert page.total == 3  # out: near B; in: near from C; the self-loop once, not twice
        assert {(t.subject_name, t.relation, t.object) for t in page.edges} == {
            ("A", "near", "B"), ("A", "same_as", "A"), ("C", "near", "A")}

    def test_thousands_of_edges_are_paged(self, graph):
        hub = ent("Hub")
        spokes = [ent(f"spoke {i}") for i in range(3000)]
        graph.replace_source("acme", "src", "h", [hub, *spokes], [tri(hub, "links", s) for s in spokes])
        page = graph.neighbours("acme", hub.id, limit=100, offset=2950)
        assert page.total == 3000 and len(page.edges) == 50 and page.offset == 2950
        assert len(graph.neighbours("acme", hub.id, limit=10_000).edges) == MAX_PAGE
        assert len(graph.triples("acme", limit=10_000)) == MAX_PAGE
        seen = {t.id for off in range(0, 3000, MAX_PAGE) for t in graph.neighbours("acme", hub.id, MAX_PAGE, off).edges}
        assert len(seen) == 3000
        assert graph.neighbours("acme", spokes[7].id).total == 1
        with pytest.raises(InputError):
            graph.neighbours("acme", hub.id, limit=0)
        with pytest.raises(InputError):
            graph.triples("acme", offset=-1)

    def test_delete_entities_removes_every_edge_touching_them(self, graph):
        cu, order, product = ent("customer", type_="customer"), ent("NT123", type_="order"), ent("X1")
        graph.replace_source("acme", "catalogue", "h", [product], [tri(product, "price", "1", "catalogue")])
        graph.replace_source("acme", "customer:1", "h", [cu, order],
                             [tri(cu, "ordered", order, "customer:1"), tri(cu, "mentioned", product, "customer:1")])
        assert graph.delete_entities("acme", [cu.id, order.id]) == 2
        assert [t.relation for t in graph.triples("acme")] == ["price"]
        assert graph.get_entity("acme", product.id).name == "X1"

    def test_version_changes_on_every_write(self, graph):
        a = ent("A")
        v0 = graph.version("acme")
        graph.replace_source("acme", "src", "h", [a], [tri(a, "p", "1")])
        v1 = graph.version("acme")
        graph.delete_source("acme", "src")
        assert v0 < v1 < graph.version("acme") and graph.version("other") == 0

    def test_source_needs_a_name(self, graph):
        with pytest.raises(InputError):
            graph.replace_source("acme", "", "h", [], [])

    def test_concurrent_sources_all_land(self, graph):
        def write(n: int) -> None:
            for i in range(10):
                e = ent(f"e{n}-{i}")
                graph.replace_source("acme", f"s{n}-{i}", "h", [e], [tri(e, "n", str(i), f"s{n}-{i}")])

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert graph.counts("acme") == {"entities": 40, "triples": 40, "sources": 40}
