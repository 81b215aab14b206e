"""Triples from document text through a configured generator (any OpenAI-compatible model, llama.cpp).

The model is asked for one JSON array ``[subject, relation, object]`` per line. What it returns is
checked, not trusted: the subject must be an entity the graph already knows or a name written in the
chunk, and the object must be written in the chunk, so a model that invents facts adds nothing. PII
is replaced by placeholders before the text leaves the machine when the settings say so
(``llm_redact``), and triples that would carry a placeholder are dropped.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from kefu.kg.base import Triple, norm_alias
from kefu.kg.resolve import Resolver
from kefu.llm.base import Generator, GeneratorError
from kefu.llm.guard import Redactor
from kefu.store.base import Chunk

PROMPT = """You extract facts for a customer-service knowledge graph.
From the text, list facts about products, services, policies, prices, durations, places and organisations.
Write one fact per line as a JSON array of three strings: ["subject", "relation", "object"].
Use names exactly as they are written in the text. Use short relation names (price, warranty, shipping time,
located in, made by, includes). Write nothing else. If the text states no such fact, write nothing."""
MAX_CHARS = 1500  # of one chunk sent to the model
MAX_TRIPLES_PER_CHUNK = 20
_PLACEHOLDER = re.compile(r"\[[A-Z_]+_\d+\]")


@dataclass
class LLMExtraction:
    """What one document's extraction produced: triples, and how many chunks and facts failed or were dropped."""

    triples: list[Triple] = field(default_factory=list)
    chunks: int = 0
    failed_chunks: int = 0
    dropped: int = 0


class GeneratorExtractor:
    """Asks ``generator`` for the facts in each chunk and keeps those the chunk supports."""

    def __init__(self, generator: Generator, *, redact: bool = True, max_tokens: int = 400) -> None:
        self.generator = generator
        self.redact = redact
        self.max_tokens = max_tokens

    def triples(self, resolver: Resolver, chunks: Iterable[Chunk], source: str) -> LLMExtraction:
        result = LLMExtraction()
        for chunk in chunks:
            text = " ".join(filter(None, (chunk.question, chunk.answer if chunk.kind == "faq" else chunk.text)))
            text = text[:MAX_CHARS].strip()
            if not text:
                continue
            result.chunks += 1
            sent = Redactor().redact(text) if self.redact else text
            try:
                reply = self.generator.generate([{"role": "system", "content": PROMPT},
                                                 {"role": "user", "content": sent}],
                                                max_tokens=self.max_tokens, temperature=0.0).text
            except GeneratorError:
                result.failed_chunks += 1
                continue
            prov = {"uri": chunk.uri, "chunk_id": chunk.id, "extractor": f"generator:{self.generator.name}"}
            kept, dropped = supported(resolver, parse_facts(reply), sent, source, prov)
            result.triples += kept[:MAX_TRIPLES_PER_CHUNK]
            result.dropped += dropped + max(0, len(kept) - MAX_TRIPLES_PER_CHUNK)
        return result


def parse_facts(reply: str) -> list[tuple[str, str, str]]:
    """Every ``["s", "r", "o"]`` in the model's reply, one per line or all in one array of arrays
    (other text and malformed arrays are skipped)."""
    facts = []
    for line in (reply or "").splitlines():
        start, end = line.find("["), line.rfind("]")
        if start < 0 or end <= start:
            continue
        try:
            item = json.loads(line[start:end + 1])
        except json.JSONDecodeError:
            continue
        for fact in item if item and all(isinstance(x, list) for x in item) else [item]:
            if isinstance(fact, list) and len(fact) == 3 and all(isinstance(x, str | int | float) for x in fact):
                s, r, o = (str(x).strip() for x in fact)
                if s and r and o:
                    facts.append((s, r, o))
    return facts


def supported(resolver: Resolver, facts: list[tuple[str, str, str]], text: str, source: str,
              prov: dict) -> tuple[list[Triple], int]:
    """The facts whose subject is known or written in ``text`` and whose object is written in it."""
    seen = norm_alias(text)
    kept, dropped = [], 0
    for s, r, o in facts:
        known = resolver.lookup(s)
        written = (known is not None or norm_alias(s) in seen) and norm_alias(o) in seen
        if not written or norm_alias(s) == norm_alias(o) or _PLACEHOLDER.search(s + o) or len(r) > 40:
            dropped += 1
            continue
        subject = known or resolver.refer(s)[0]
        kept.append(Triple(resolver.tenant, subject, r.lower(), o, None, source, prov))
    return kept, dropped
