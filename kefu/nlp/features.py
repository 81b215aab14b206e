"""Features shared by the NLU models: character n-gram TF-IDF, a disk cache for embeddings, linear heads.

Everything here is plain numpy/scipy and serialises to ``.npz`` + JSON (no pickle), so a
trained artifact loads the same on any machine and never executes code when loaded.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from scipy import sparse

from kefu.nlp.embed import Embedder

_SPACE = re.compile(r"\s+")
_DIGITS = re.compile(r"\d")


def prepare(text: str) -> str:
    """Lower-case, NFKC, digits folded to ``0``, whitespace collapsed: the view n-grams are read from."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACE.sub(" ", _DIGITS.sub("0", text)).strip()


def char_ngrams(text: str, ngram: tuple[int, int] = (1, 4), max_chars: int = 2000) -> Counter:
    """Counts of the character n-grams of ``text`` (padded with spaces), truncated to ``max_chars``."""
    text = f" {prepare(text)[:max_chars]} "
    grams: Counter = Counter()
    lo, hi = ngram
    for n in range(lo, hi + 1):
        for i in range(len(text) - n + 1):
            gram = text[i : i + n]
            if gram != " " * n:
                grams[gram] += 1
    return grams


class CharTfidf:
    """Character n-gram TF-IDF (sublinear tf, smooth idf, L2-normalised rows), fitted in pure Python.

    Works the same for Chinese (characters carry meaning) and English (n-grams catch morphology
    and typos); its vocabulary is the ``max_features`` most frequent n-grams seen in at least
    ``min_df`` training texts.
    """

    def __init__(self, ngram: tuple[int, int] = (1, 4), max_features: int = 50000, min_df: int = 2) -> None:
        self.ngram = ngram
        self.max_features = max_features
        self.min_df = min_df
        self.vocab: dict[str, int] = {}
        self.idf = np.zeros(0, dtype=np.float32)

    def fit(self, texts: list[str]) -> CharTfidf:
        df: Counter = Counter()
        for text in texts:
            df.update(char_ngrams(text, self.ngram).keys())
        kept = [(g, c) for g, c in df.items() if c >= self.min_df] or list(df.items())
        kept.sort(key=lambda gc: (-gc[1], gc[0]))
        kept = kept[: self.max_features]
        self.vocab = {g: i for i, (g, _) in enumerate(kept)}
        n = len(texts)
        self.idf = np.array([math.log((1 + n) / (1 + c)) + 1.0 for _, c in kept], dtype=np.float32)
        return self

    def transform(self, texts: Iterable[str]) -> sparse.csr_matrix:
        indptr, cols, vals = [0], [], []
        for text in texts:
            grams = char_ngrams(text, self.ngram)
            idx, w = [], []
            for gram, count in grams.items():
                j = self.vocab.get(gram)
                if j is not None:
                    idx.append(j)
                    w.append((1.0 + math.log(count)) * float(self.idf[j]))
            if idx:
                w_arr = np.asarray(w, dtype=np.float32)
                w_arr /= float(np.linalg.norm(w_arr)) or 1.0
                cols.extend(idx)
                vals.extend(w_arr.tolist())
            indptr.append(len(cols))
        # Built from (data, indices, indptr): no COO conversion, which cost ~0.5 ms per message.
        return sparse.csr_matrix(
            (np.asarray(vals, dtype=np.float32), np.asarray(cols, dtype=np.int32), np.asarray(indptr, dtype=np.int32)),
            shape=(len(indptr) - 1, len(self.vocab)),
        )

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        grams = sorted(self.vocab, key=self.vocab.__getitem__)
        return {
            f"{prefix}vocab": np.asarray(grams, dtype=np.str_),
            f"{prefix}idf": self.idf,
            f"{prefix}params": np.asarray([self.ngram[0], self.ngram[1], self.max_features, self.min_df]),
        }

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> CharTfidf:
        lo, hi, max_features, min_df = (int(x) for x in arrays[f"{prefix}params"])
        self = cls((lo, hi), max_features, min_df)
        self.vocab = {str(g): i for i, g in enumerate(arrays[f"{prefix}vocab"])}
        self.idf = np.asarray(arrays[f"{prefix}idf"], dtype=np.float32)
        return self


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_logreg(
    x, y: np.ndarray, c: float = 10.0, max_iter: int = 300, class_weight: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression (scikit-learn, L-BFGS); returns ``(W, b)`` as float32.

    ``W`` has shape (features, classes) so ``softmax(x @ W + b)`` gives probabilities; with two
    classes it is still two columns.
    """
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=max_iter, class_weight=class_weight)
    model.fit(x, y)
    coef, intercept = model.coef_, model.intercept_
    if coef.shape[0] == 1:  # binary: sklearn keeps one row; make it a proper two-class softmax
        coef = np.vstack([-coef / 2, coef / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return coef.T.astype(np.float32), intercept.astype(np.float32)


def linear_proba(x, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    logits = x @ w
    logits = np.asarray(logits.todense() if sparse.issparse(logits) else logits, dtype=np.float32)
    return softmax(logits + b)


def data_hash(pairs: Iterable[tuple[str, str]]) -> str:
    """sha256 over (text, label) pairs in order: recorded in model cards."""
    h = hashlib.sha256()
    for text, label in pairs:
        h.update(text.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
        h.update(label.encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    return h.hexdigest()


class CachedEmbedder:
    """Wraps an :class:`Embedder` with an on-disk cache of query vectors, keyed by text hash.

    For benchmarks and repeated training runs over the same data; each batch of new vectors is
    written as one ``.npz`` shard in ``folder``. ``seconds_per_text`` is the measured embedding
    cost of the texts this process actually embedded (used to report honest training times).
    """

    def __init__(self, inner: Embedder, folder: str | Path) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._rows: dict[bytes, np.ndarray] = {}
        self.embedded = 0
        self.embed_seconds = 0.0
        for shard in sorted(self.folder.glob(f"{inner.name}-*.npz")):
            with np.load(shard) as data:
                if "keys" not in data.files:  # another tool's cache file in the same folder
                    continue
                for key, vec in zip(data["keys"], data["vecs"]):
                    self._rows[key.tobytes()] = vec

    @staticmethod
    def _key(kind: str, text: str) -> bytes:
        return hashlib.blake2b(f"{kind}\x00{text}".encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def _embed(self, kind: str, texts: list[str]) -> np.ndarray:
        import time

        keys = [self._key(kind, t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._rows))
        if missing:
            by_key = {k: t for k, t in zip(keys, texts)}
            todo = [by_key[k] for k in missing]
            start = time.perf_counter()
            fn = self.inner.embed_queries if kind == "q" else self.inner.embed_passages
            vecs = fn(todo)
            self.embed_seconds += time.perf_counter() - start
            self.embedded += len(todo)
            for k, v in zip(missing, vecs):
                self._rows[k] = v
            shard = self.folder / f"{self.inner.name}-{hashlib.sha1(b''.join(missing)).hexdigest()[:16]}.npz"
            keys_arr = np.frombuffer(b"".join(missing), dtype=np.uint8).reshape(-1, 16)
            np.savez(shard, keys=keys_arr, vecs=vecs)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._rows[k] for k in keys]).astype(np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed("q", texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed("p", texts)
