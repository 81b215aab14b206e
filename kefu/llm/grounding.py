"""Post-check of a generated answer: every sentence must be supported by the passage it cites.

Support is lexical (share of the sentence's content words found in the passage, jieba for Chinese)
or, when an embedder is given, semantic (cosine between the sentence and the passage), so an English
sentence written from a Chinese passage can still be supported.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from kefu.nlp.text import split_sentences, tokenize

CITE = re.compile(r"\s*\[(\d{1,2})\]")
MIN_OVERLAP = 0.5
MIN_COSINE = 0.9  # e5 cosines run high: 0.86 let meaningless text through (benchmarks/generation.py)
ECHO = 0.8  # a sentence made (almost) only of the question's words repeats the question


@dataclass
class Sentence:
    text: str
    cited: list[int]
    supported: bool
    support: float
    best_source: int | None
    citation_correct: bool


@dataclass
class Grounding:
    sentences: list[Sentence] = field(default_factory=list)

    @property
    def supported_ratio(self) -> float:
        return sum(s.supported for s in self.sentences) / len(self.sentences) if self.sentences else 0.0

    @property
    def citation_accuracy(self) -> float | None:
        """Share of citing sentences whose citation supports them; ``None`` when none cites."""
        cited = [s for s in self.sentences if s.cited]
        return sum(s.citation_correct for s in cited) / len(cited) if cited else None

    def kept_text(self, lang: str) -> str:
        """The supported sentences, each with its (corrected) citation."""
        glue = "" if lang == "zh" else " "
        out = []
        for s in self.sentences:
            if s.supported:
                marks = "".join(f"[{n}]" for n in (s.cited if s.citation_correct else [s.best_source]))
                out.append(f"{s.text}{marks}" if lang == "zh" else f"{s.text} {marks}")
        return glue.join(out).strip()


def check(answer: str, passages: list[str], *, embedder=None, min_overlap: float = MIN_OVERLAP,
          min_cosine: float = MIN_COSINE, question: str = "") -> Grounding:
    """Split ``answer`` into sentences and score each against ``passages`` (numbered from 1).

    Support counts content words only (stopwords out: "The answer is no." is not supported by "the"
    and "is"); repeated sentences and echoes of ``question`` are unsupported whatever they overlap.
    """
    raw = [s for s in split_sentences(answer) if s.strip()]
    if not raw or not passages:
        return Grounding()
    p_tokens = [set(tokenize(p)) for p in passages]
    q_tokens = set(tokenize(question)) if question else set()
    parsed, seen = [], set()
    for sentence in raw:
        cited = [int(n) for n in CITE.findall(sentence) if 1 <= int(n) <= len(passages)]
        text = CITE.sub("", sentence).strip()
        key = " ".join(tokenize(text))
        parsed.append((text, cited, key in seen or _echo(text, q_tokens)))
        seen.add(key)
    cosines = None
    if embedder is not None:
        s_vecs = embedder.embed_queries([t for t, _, _ in parsed])
        p_vecs = embedder.embed_passages(passages)
        cosines = s_vecs @ p_vecs.T
    out = []
    for i, (text, cited, repeat) in enumerate(parsed):
        words = set(tokenize(text))
        overlap = [len(words & pt) / len(words) if words else 0.0 for pt in p_tokens]
        scores = np.asarray(overlap)
        semantic = cosines[i] if cosines is not None else np.zeros(len(passages))
        ok = (scores >= min_overlap) | (semantic >= min_cosine)
        best = int(np.argmax(scores + semantic)) + 1
        supporting = {j + 1 for j in np.flatnonzero(ok)}
        supported = bool(supporting) and not repeat and any(c.isalnum() for c in text)
        out.append(Sentence(text, cited, supported, float(max(scores.max(), semantic.max())),
                            best if supporting else None, bool(cited) and bool(supporting & set(cited))))
    return Grounding(out)


def _echo(text: str, q_tokens: set[str]) -> bool:
    words = set(tokenize(text))
    return bool(q_tokens) and bool(words) and len(words & q_tokens) / len(words) >= ECHO
