"""``kefu kg build``: the tenant's graph from its knowledge base, incrementally.

Each ingested document is one graph source (``doc:URI``) keyed by the document's content hash: an
unchanged document is skipped, a changed one has exactly its triples replaced, and a document that was
removed from the knowledge base has its triples removed. Catalogues are built first so that documents
can link to their products.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kefu.kg.base import GraphStore
from kefu.kg.extract import DocumentExtractor, catalogue_triples
from kefu.kg.resolve import Resolver
from kefu.store.base import Chunk, Store

EXTRACTOR_VERSION = "kg-extract-1"  # bump when extraction changes: every document is rebuilt once
DOC_PREFIX = "doc:"
KINDS = ["row", "passage", "faq"]
MAX_CHUNKS = 5_000_000


@dataclass
class BuildReport:
    documents: int = 0
    built: int = 0
    unchanged: int = 0
    removed: int = 0
    triples: int = 0
    failed: list[str] = field(default_factory=list)
    llm_chunks: int = 0  # chunks read by the generator (when one is configured)
    llm_failed_chunks: int = 0
    llm_triples: int = 0
    llm_dropped: int = 0  # facts the generator stated that the text does not support

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


Progress = Callable[[int, int, str], None]


class GraphBuilder:
    """Builds graph sources from a knowledge store into a graph store."""

    def __init__(self, store: Store, graph: GraphStore, *, ner: bool = True, generator=None,
                 redact: bool = True) -> None:
        """``generator`` (a :class:`kefu.llm.base.Generator`): also extract facts from documents through it."""
        self.store = store
        self.graph = graph
        self.documents = DocumentExtractor(ner=ner)
        self.llm = None
        if generator is not None:
            from kefu.kg.llm_extract import GeneratorExtractor

            self.llm = GeneratorExtractor(generator, redact=redact)

    def build(self, tenant: str, *, full: bool = False, progress: Progress | None = None) -> BuildReport:
        """Bring the tenant's ``doc:`` sources in line with its documents; ``full`` rebuilds every one."""
        docs = self.store.list_documents(tenant)
        by_doc: dict[int, list[Chunk]] = defaultdict(list)
        for chunk in self.store.list_chunks(tenant, KINDS, limit=MAX_CHUNKS):
            by_doc[chunk.doc_id or 0].append(chunk)
        # Catalogues first: documents link to the products they define.
        docs.sort(key=lambda d: (not any(c.kind == "row" for c in by_doc.get(d.id or 0, [])), d.uri))
        report = BuildReport(documents=len(docs))
        current = {DOC_PREFIX + d.uri for d in docs}
        for src in self.graph.list_sources(tenant):
            if src["source"].startswith(DOC_PREFIX) and src["source"] not in current:
                self.graph.delete_source(tenant, src["source"])
                report.removed += 1
        for n, doc in enumerate(docs, 1):
            source = DOC_PREFIX + doc.uri
            extractor = EXTRACTOR_VERSION + (f"+{self.llm.generator.name}" if self.llm else "")
            digest = hashlib.sha256(f"{extractor}|{doc.content_hash}".encode()).hexdigest()
            if progress:
                progress(n - 1, len(docs), doc.uri)
            if not full and self.graph.source_hash(tenant, source) == digest:
                report.unchanged += 1
                continue
            chunks = by_doc.get(doc.id or 0, [])
            resolver = Resolver(self.graph, tenant)
            rows = [c for c in chunks if c.kind == "row"]
            triples = catalogue_triples(resolver, rows, source)
            others = [c for c in chunks if c.kind != "row"]
            if others:
                triples += self.documents.triples(resolver, doc.title, others, source, resolver.known)
                if self.llm is not None:
                    found = self.llm.triples(resolver, others, source)
                    triples += found.triples
                    report.llm_chunks += found.chunks
                    report.llm_failed_chunks += found.failed_chunks
                    report.llm_triples += len(found.triples)
                    report.llm_dropped += found.dropped
            report.triples += self.graph.replace_source(tenant, source, digest, resolver.entities(), triples)
            report.built += 1
        if progress:
            progress(len(docs), len(docs), "")
        return report
