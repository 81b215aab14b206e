"""Ingestion: load → clean → redact PII → chunk → dedup → embed → store, one transaction per file."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kefu.errors import IngestError, KefuError
from kefu.ingest import loaders
from kefu.ingest.chunk import chunk_text
from kefu.ingest.clean import mine_pairs
from kefu.ingest.dedup import Deduplicator, content_hash
from kefu.ingest.loaders.base import QA, Loaded, LoadOptions
from kefu.nlp.embed import Embedder
from kefu.nlp.pii import redact
from kefu.nlp.text import detect_language, normalize
from kefu.store.base import Chunk, Document, Store

# Bump when a change to cleaning or chunking should re-ingest unchanged files.
PIPELINE_VERSION = "4"
EMBED_BATCH = 64
log = logging.getLogger(__name__)


@dataclass
class FileResult:
    path: str
    uri: str = ""
    status: str = "ingested"  # ingested | unchanged | failed
    kind: str = ""
    chunks: int = 0
    duplicates: int = 0
    noise: int = 0
    redactions: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class IngestReport:
    files: list[FileResult] = field(default_factory=list)
    skipped_unsupported: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def totals(self) -> dict[str, int]:
        return {
            "files": len(self.files),
            "ingested": sum(f.status == "ingested" for f in self.files),
            "unchanged": sum(f.status == "unchanged" for f in self.files),
            "failed": len(self.failed),
            "chunks": sum(f.chunks for f in self.files),
            "duplicates_removed": sum(f.duplicates for f in self.files),
            "noise_removed": sum(f.noise for f in self.files),
            "pii_redactions": sum(sum(f.redactions.values()) for f in self.files),
        }


class Progress(Protocol):
    def start(self, total_files: int) -> None: ...

    def file(self, path: str) -> None: ...

    def chunks(self, done: int, total: int) -> None: ...

    def done(self, result: FileResult) -> None: ...


class _Silent:
    def start(self, total_files: int) -> None: ...

    def file(self, path: str) -> None: ...

    def chunks(self, done: int, total: int) -> None: ...

    def done(self, result: FileResult) -> None: ...


class Ingestor:
    """Turns files into stored, embedded chunks for one tenant."""

    def __init__(self, store: Store, embedder: Embedder, *, chunk_chars: int = 600,
                 dedup_threshold: float = 0.85, max_file_mb: float = 50.0,
                 redact_names: str = "chatlogs") -> None:
        self.store = store
        self.embedder = embedder
        self.chunk_chars = chunk_chars
        self.dedup_threshold = dedup_threshold
        self.max_file_mb = max_file_mb
        self.max_bytes = int(max_file_mb * 1024 * 1024)
        self.redact_names = redact_names

    # -- discovery --------------------------------------------------------------------------
    def discover(self, paths: list[str | Path], source: str | None,
                 report: IngestReport) -> list[tuple[Path, str, str]]:
        """``(file, source, uri)`` for every file under ``paths``; missing paths become failures."""
        found: list[tuple[Path, str, str]] = []
        folders = [Path(p) for p in paths if Path(p).is_dir()]
        shared_source = source is not None and len(folders) > 1
        for raw in paths:
            root = Path(raw)
            if not root.exists():
                report.files.append(FileResult(str(raw), status="failed",
                                               error=f"{raw}: no such file or directory"))
                continue
            name = source or (root.resolve().name if root.is_dir() else root.stem)
            if root.is_file():
                found.append((root, name, f"{name}/{root.name}"))
                continue
            # Several folders into one --source keep their own folder name in the uri.
            prefix = f"{name}/{root.resolve().name}" if shared_source else name
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                rel = path.relative_to(root)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if not loaders.supported(path):
                    report.skipped_unsupported.append(str(path))
                    continue
                found.append((path, name, f"{prefix}/{rel.as_posix()}"))
        return found

    # -- ingestion --------------------------------------------------------------------------
    def ingest(self, paths: list[str | Path], *, tenant: str, source: str | None = None,
               options: LoadOptions | None = None, progress: Progress | None = None) -> IngestReport:
        """Ingest every file under ``paths``; one bad file never stops the others."""
        progress = progress or _Silent()
        options = options or LoadOptions()
        report = IngestReport()
        self._check_embedder()
        files = self.discover(paths, source, report)
        progress.start(len(files))
        dedup = Deduplicator(self.dedup_threshold)
        for path, src, uri in files:
            progress.file(str(path))
            try:
                result = self._ingest_file(path, src, uri, tenant, options, dedup, progress)
            except KefuError as exc:
                result = FileResult(str(path), uri, status="failed", error=str(exc))
                log.warning("ingest failed", extra={"fields": {"path": str(path), "error": str(exc)}})
            else:
                log.info("ingested", extra={"fields": {"path": str(path), "status": result.status,
                                                       "chunks": result.chunks, "tenant": tenant}})
            report.files.append(result)
            progress.done(result)
        return report

    def add_faq(self, tenant: str, source: str, uri: str, question: str, answer: str) -> int:
        """Store one question→answer pair (an agent's reply saved from the console) as its own document.

        Redacted and embedded like an ingested FAQ row; saving the same ``uri`` again replaces it.
        Returns the document id.
        """
        self._check_embedder()
        result = FileResult(uri, uri, kind="faq")
        q, a = self._redact(question, "faq", result), self._redact(answer, "faq", result)
        if not q or not a:
            raise IngestError("the question and the answer must both have text", path=uri)
        chunk = Chunk(text=a, title=q[:120], position=0, lang=detect_language(q + " " + a), kind="faq",
                      question=q, answer=a, content_hash=content_hash(f"{q}\n{a}"))
        self._embed([chunk], _Silent())
        digest = hashlib.sha256(f"{PIPELINE_VERSION}\n{q}\n{a}".encode()).hexdigest()
        doc = Document(tenant=tenant, source=source, uri=uri, title=q[:200], kind="faq",
                       content_hash=digest, lang=chunk.lang, meta={"saved_by": "agent console"})
        return self.store.replace_document(doc, [chunk])

    def _check_embedder(self) -> None:
        wanted = f"{self.embedder.name}:{self.embedder.dim}"
        stored = self.store.get_meta("embedder")
        if stored is None:
            self.store.set_meta("embedder", wanted)
        elif stored != wanted:
            raise KefuError(f"this knowledge base was embedded with {stored}, not {wanted}",
                            hint="set embedder back, or start a new --home and re-ingest")

    def _ingest_file(self, path: Path, source: str, uri: str, tenant: str, options: LoadOptions,
                     dedup: Deduplicator, progress: Progress) -> FileResult:
        size = path.stat().st_size
        if size > self.max_bytes:
            raise IngestError(f"file is {_human(size)}, over the max_file_mb limit of "
                              f"{self.max_file_mb:g} MB", path=str(path),
                              hint="raise it with KEFU_MAX_FILE_MB or split the file")
        data = path.read_bytes()
        digest = hashlib.sha256(data + json.dumps(
            [PIPELINE_VERSION, self.chunk_chars, self.redact_names, options.__dict__],
            sort_keys=True).encode()).hexdigest()
        existing = self.store.get_document(tenant, uri)
        if existing and existing.content_hash == digest:
            return FileResult(str(path), uri, status="unchanged", kind=existing.kind)
        loaded = loaders.load(path, data, options)
        result = FileResult(str(path), uri, kind=loaded.kind, warnings=list(loaded.warnings))
        chunks = self._chunks(loaded, result)
        chunks = self._dedup(chunks, tenant, uri, dedup, result)
        self._embed(chunks, progress)
        lang = _majority([c.lang for c in chunks]) if chunks else detect_language(loaded.title)
        title = self._redact(loaded.title, loaded.kind, result)[:200]
        doc = Document(tenant=tenant, source=source, uri=uri, title=title,
                       kind=loaded.kind, content_hash=digest, lang=lang,
                       meta={"path": str(path), "bytes": size})
        self.store.replace_document(doc, chunks)
        result.chunks = len(chunks)
        return result

    # -- steps ------------------------------------------------------------------------------
    def _redact(self, text: str, kind: str, result: FileResult) -> str:
        names = self.redact_names == "all" or (self.redact_names == "chatlogs" and kind == "chatlog")
        clean, counts = redact(normalize(text), names=names)
        for key, n in counts.items():
            result.redactions[key] = result.redactions.get(key, 0) + n
        return clean

    def _chunks(self, loaded: Loaded, result: FileResult) -> list[Chunk]:
        if loaded.kind == "document":
            return self._document_chunks(loaded, result)
        if loaded.kind == "table":
            return [self._row_chunk(row, n, loaded, result) for n, row in enumerate(loaded.rows)]
        qas: list[QA] = list(loaded.qas)
        for conv in loaded.conversations:
            pairs, noise = mine_pairs(conv)
            result.noise += noise
            qas += pairs
        if loaded.kind == "chatlog" and not qas:
            raise IngestError("no question→answer pairs found (no customer turn followed by an "
                              "agent reply)", path=result.path)
        kind = "faq" if loaded.kind == "faq" else "qa"
        out = []
        for n, qa in enumerate(qas):
            q = self._redact(qa.question, loaded.kind, result)
            a = self._redact(qa.answer, loaded.kind, result)
            meta = {k: self._redact(v, loaded.kind, result) if isinstance(v, str) else v
                    for k, v in qa.meta.items()}
            out.append(Chunk(text=a, title=q[:120], position=n, lang=detect_language(q + " " + a),
                             kind=kind, question=q, answer=a, tags=qa.tags, meta=meta))
        return out

    def _document_chunks(self, loaded: Loaded, result: FileResult) -> list[Chunk]:
        text = self._redact(loaded.text, "document", result)
        title = self._redact(loaded.title, "document", result)
        chunks = []
        for piece in chunk_text(text, self.chunk_chars):
            heading = piece.heading
            if heading == title or heading.startswith(title + " > "):
                heading = heading[len(title) + 3:]
            full_title = title if not heading or heading == title else f"{title} > {heading}"
            chunks.append(Chunk(text=piece.text, title=full_title[:200], position=piece.position,
                                lang=detect_language(piece.text), kind="passage"))
        if not chunks:
            raise IngestError("no text to index after cleaning", path=result.path)
        return chunks

    def _row_chunk(self, row: dict[str, str], n: int, loaded: Loaded, result: FileResult) -> Chunk:
        text = self._redact("; ".join(f"{k}: {v}" for k, v in row.items()), "table", result)
        name_key = next((k for k in row if k.lower() in ("name", "title", "product", "名称", "产品")),
                        next(iter(row)))
        title = self._redact(f"{loaded.title}: {row[name_key]}", "table", result)
        names = self.redact_names == "all"  # the same redaction as the text (already counted there)
        fields = {str(k): redact(normalize(str(v)), names=names)[0] for k, v in row.items()}
        return Chunk(text=text, title=title[:200],
                     position=n, lang=detect_language(text), kind="row", meta={"row": n + 2, "fields": fields})

    def _dedup(self, chunks: list[Chunk], tenant: str, uri: str, dedup: Deduplicator,
               result: FileResult) -> list[Chunk]:
        for chunk in chunks:
            chunk.content_hash = content_hash(f"{chunk.question}\n{chunk.text}")
        elsewhere = self.store.existing_chunk_hashes(tenant, [c.content_hash for c in chunks], uri)
        kept = []
        for chunk in chunks:
            if chunk.content_hash in elsewhere or dedup.seen(f"{chunk.question}\n{chunk.text}"):
                result.duplicates += 1
                continue
            kept.append(chunk)
        for position, chunk in enumerate(kept):
            chunk.position = position
        return kept

    def _embed(self, chunks: list[Chunk], progress: Progress) -> None:
        for start in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[start:start + EMBED_BATCH]
            questions = [c for c in batch if c.kind in ("faq", "qa")]
            passages = [c for c in batch if c.kind not in ("faq", "qa")]
            if questions:
                for chunk, vec in zip(questions, self.embedder.embed_queries(
                        [c.question for c in questions])):
                    chunk.vector = vec
            if passages:
                for chunk, vec in zip(passages, self.embedder.embed_passages(
                        [f"{c.title}\n{c.text}" for c in passages])):
                    chunk.vector = vec
            progress.chunks(min(start + EMBED_BATCH, len(chunks)), len(chunks))


def faq_uri(source: str, question: str) -> str:
    """A stable uri for a single FAQ entry added by hand: the same question replaces its earlier answer."""
    return f"{source}/{hashlib.sha256(normalize(question).lower().encode()).hexdigest()[:16]}"


def _human(size: int) -> str:
    return f"{size / 1048576:.1f} MB" if size >= 1048576 else f"{size / 1024:.1f} KB"


def _majority(values: list[str]) -> str:
    return max(set(values), key=values.count)
