"""Import triple files into the graph: KdConv ``kb_travel.json``-style JSON, JSONL and CSV.

* JSON: ``{"entity": [[subject, relation, object], ...], ...}`` (KdConv) or a list of triples;
* JSONL: one ``{"subject", "relation", "object"}`` object (optional ``subject_type``, ``object_type``,
  ``aliases``) or ``[subject, relation, object]`` array per line;
* CSV/TSV: a header with ``subject, relation, object`` (optional ``subject_type``, ``object_type``).

A malformed line stops the import with an error naming the file and line; nothing is written. Re-importing
an unchanged file is a no-op (content hash); a changed file replaces exactly its triples. Self-loops are
skipped with a warning that names the line.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kefu.errors import IngestError, NotFoundError
from kefu.kg.base import GraphStore, Triple, norm_alias
from kefu.kg.resolve import Resolver

MAX_FIELD = 5000


@dataclass
class RawTriple:
    subject: str
    relation: str
    object: str
    line: int | None
    where: str = ""
    subject_type: str = "thing"
    object_type: str = ""
    aliases: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    source: str
    status: str  # imported | unchanged
    triples: int = 0
    entities: int = 0
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def import_file(graph: GraphStore, tenant: str, path: str | Path, *, source: str | None = None,
                entity_type: str = "thing") -> ImportReport:
    """Read ``path`` (format from its suffix) and store its triples as source ``import:NAME``."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=str(path)) from None
    source = source or f"import:{path.name}"
    digest = hashlib.sha256(data).hexdigest()
    if graph.source_hash(tenant, source) == digest:
        return ImportReport(source, "unchanged", triples=len(graph.triples(tenant, source=source, limit=1)))
    raw = parse(text, str(path), entity_type=entity_type)
    report = ImportReport(source, "imported")
    resolver = Resolver(graph, tenant)
    for r in raw:  # every subject is an entity; objects become entities only when they name one
        resolver.entity(r.subject, r.subject_type, r.aliases)
    triples: list[Triple] = []
    seen: set[tuple[str, str, str]] = set()
    for r in raw:
        subject = resolver.lookup(r.subject) or resolver.entity(r.subject, r.subject_type).id
        object_id = resolver.entity(r.object, r.object_type).id if r.object_type else resolver.lookup(r.object)
        if object_id == subject or (object_id is None and norm_alias(r.object) == norm_alias(r.subject)):
            report.skipped += 1
            report.warnings.append(f"{r.where}: self-loop {r.subject!r} —{r.relation}→ itself skipped")
            continue
        key = (subject, r.relation, r.object)
        if key in seen:
            report.skipped += 1
            continue
        seen.add(key)
        prov = {"file": path.name, "line": r.line} if r.line is not None else {"file": path.name, "at": r.where}
        triples.append(Triple(tenant, subject, r.relation, r.object, object_id, source, prov))
    report.triples = graph.replace_source(tenant, source, digest, resolver.entities(), triples)
    report.entities = len(resolver.entities())
    return report


def parse(text: str, where: str, *, entity_type: str = "thing") -> list[RawTriple]:
    """The triples of a file's text; ``IngestError`` (file and line) on the first malformed one."""
    suffix = Path(where).suffix.lower()
    if suffix == ".jsonl":
        return _jsonl(text, where, entity_type)
    if suffix in (".csv", ".tsv"):
        return _csv(text, where, entity_type, "\t" if suffix == ".tsv" else ",")
    if suffix == ".json":
        return _json(text, where, entity_type)
    raise IngestError("unsupported triple file type; use .json (KdConv), .jsonl, .csv or .tsv", path=where)


def _check(values: list[Any], where: str, line: int | None) -> tuple[str, str, str]:
    if len(values) != 3:
        raise IngestError(f"expected [subject, relation, object], got {len(values)} value(s)", path=where, line=line)
    out = []
    for name, value in zip(("subject", "relation", "object"), values):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise IngestError(f"{name} must be a non-empty string", path=where, line=line)
        if len(value) > MAX_FIELD:
            raise IngestError(f"{name} is {len(value)} characters long; the limit is {MAX_FIELD}", path=where,
                              line=line)
        out.append(" ".join(value.split()) if name != "object" else value.strip())
    return out[0], out[1], out[2]


def _record(obj: Any, where: str, line: int | None, entity_type: str) -> RawTriple:
    if isinstance(obj, list):
        s, r, o = _check(obj, where, line)
        return RawTriple(s, r, o, line, f"{where}:{line}", entity_type)
    if not isinstance(obj, dict):
        raise IngestError("expected a JSON object or a [subject, relation, object] array", path=where, line=line)
    missing = [k for k in ("subject", "relation", "object") if k not in obj]
    if missing:
        raise IngestError(f"missing {', '.join(missing)}", path=where, line=line)
    s, r, o = _check([obj["subject"], obj["relation"], obj["object"]], where, line)
    aliases = obj.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise IngestError("aliases must be a list of strings", path=where, line=line)
    return RawTriple(s, r, o, line, f"{where}:{line}", str(obj.get("subject_type") or entity_type),
                     str(obj.get("object_type") or ""), aliases)


def _jsonl(text: str, where: str, entity_type: str) -> list[RawTriple]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestError(f"not valid JSON: {exc.msg}", path=where, line=n) from None
        out.append(_record(obj, where, n, entity_type))
    return out


def _csv(text: str, where: str, entity_type: str, delimiter: str) -> list[RawTriple]:
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise IngestError(f"not valid CSV: {exc}", path=where) from None
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    missing = [k for k in ("subject", "relation", "object") if k not in header]
    if missing:
        raise IngestError(f"the header has no {', '.join(missing)} column (columns: {', '.join(header)})",
                          path=where, line=1)
    out = []
    for n, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise IngestError(f"row has {len(row)} fields but the header has {len(header)}", path=where, line=n)
        obj = dict(zip(header, row))
        out.append(_record({k: v for k, v in obj.items() if v.strip() or k in ("subject", "relation", "object")},
                           where, n, entity_type))
    return out


def _json(text: str, where: str, entity_type: str) -> list[RawTriple]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(f"not valid JSON: {exc.msg} (column {exc.colno})", path=where, line=exc.lineno) from None
    if isinstance(data, list):
        return [_item(obj, where, f"item {i}", entity_type) for i, obj in enumerate(data, 1)]
    if not isinstance(data, dict):
        raise IngestError("expected a JSON object {entity: [[subject, relation, object], ...]} or a list", path=where)
    out = []
    for key, items in data.items():
        if not isinstance(items, list):
            raise IngestError(f"entity {key[:60]!r}: expected a list of triples", path=where)
        for i, obj in enumerate(items, 1):
            out.append(_item(obj, where, f"entity {key[:60]!r} triple {i}", entity_type))
    return out


def _item(obj: Any, where: str, at: str, entity_type: str) -> RawTriple:
    """A triple of a whole-file JSON document: no line numbers, so errors say which entity and item."""
    try:
        record = _record(obj, where, None, entity_type)
    except IngestError as exc:
        raise IngestError(f"{exc.message.removeprefix(where + ': ')} ({at})", path=where) from None
    record.where = f"{where} ({at})"
    return record
