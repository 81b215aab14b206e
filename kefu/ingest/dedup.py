"""Exact and near-duplicate detection (MinHash over character shingles, LSH index)."""
from __future__ import annotations

import hashlib
import re

from datasketch import MinHash, MinHashLSH

from kefu.nlp.text import normalize

_NON_WORD = re.compile(r"[\W_]+", re.U)


def content_hash(text: str) -> str:
    """Hash of the text after normalisation, case and punctuation folding."""
    key = _NON_WORD.sub(" ", normalize(text).lower()).strip()
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


def _shingles(text: str, n: int = 3) -> set[bytes]:
    key = _NON_WORD.sub("", normalize(text).lower())
    if len(key) <= n:
        return {key.encode()}
    return {key[i:i + n].encode() for i in range(len(key) - n + 1)}


class Deduplicator:
    """Remembers what it has seen in one ingestion run; ``seen`` says whether text is a duplicate."""

    def __init__(self, threshold: float = 0.85, num_perm: int = 64) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        # At 1.0 only exact duplicates count; LSH cannot band for it.
        try:
            self._lsh: MinHashLSH | None = MinHashLSH(threshold=threshold, num_perm=num_perm)
        except ValueError:  # too close to 1.0 to band: exact duplicates only
            self._lsh = None
        self._hashes: set[str] = set()
        self.exact = 0
        self.near = 0

    def seen(self, text: str) -> bool:
        """True if ``text`` equals or nearly equals something seen before; else remember it."""
        digest = content_hash(text)
        if digest in self._hashes:
            self.exact += 1
            return True
        if self._lsh is None:
            self._hashes.add(digest)
            return False
        minhash = MinHash(num_perm=self.num_perm)
        minhash.update_batch(list(_shingles(text)))
        if self._lsh.query(minhash):
            self.near += 1
            return True
        self._hashes.add(digest)
        self._lsh.insert(digest, minhash)
        return False
