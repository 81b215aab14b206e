"""Copy a tenant's knowledge graph from one graph store into another, source by source, and verify.

Used by ``kefu migrate`` beside the knowledge and chat stores. Each source is re-created with
``replace_source`` from its triples and the entities they name (with every alias), so a second run
replaces rather than duplicates. The check compares ``counts()`` (entities, triples, sources) and a
SHA-256 over every triple's (subject, relation, object, object id, source, provenance) on both sides.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

from kefu.kg.base import MAX_PAGE, GraphStore, Triple


def all_triples(graph: GraphStore, tenant: str, source: str | None = None) -> list[Triple]:
    """Every triple of the tenant (of ``source`` only, when given), in id order, page by page."""
    out: list[Triple] = []
    while True:
        page = graph.triples(tenant, source=source, limit=MAX_PAGE, offset=len(out))
        out.extend(page)
        if len(page) < MAX_PAGE:
            return out


def graph_fingerprint(graph: GraphStore, tenant: str) -> dict[str, Any]:
    """Counts and a checksum of the tenant's triples (ids and timestamps left out: they differ by store)."""
    rows = sorted(json.dumps([t.subject, t.relation, t.object, t.object_id, t.source, t.provenance],
                             ensure_ascii=False, sort_keys=True) for t in all_triples(graph, tenant))
    digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return {**graph.counts(tenant), "checksum": digest}


def migrate_graph(src: GraphStore, dst: GraphStore, tenants: list[str], progress=None) -> dict[str, Any]:
    """Copy ``tenants``' graphs; ``{"tenants": {t: {"source", "destination", "ok"}}, "problems", "ok"}``."""
    report: dict[str, Any] = {"tenants": {}, "problems": []}
    for tenant in tenants:
        for info in src.list_sources(tenant):
            triples = all_triples(src, tenant, info["source"])
            ids = sorted({t.subject for t in triples} | {t.object_id for t in triples if t.object_id})
            entities = [src.get_entity(tenant, i) for i in ids]
            dst.replace_source(tenant, info["source"], info["content_hash"], entities,
                               [replace(t, id=None, subject_name="", object_name="") for t in triples])
            if progress:
                progress(f"graph {tenant}: {info['source']} ({len(triples)} triples, {len(entities)} entities)")
        before, after = graph_fingerprint(src, tenant), graph_fingerprint(dst, tenant)
        report["tenants"][tenant] = {"source": before, "destination": after, "ok": before == after}
        if before != after:
            report["problems"].append(f"graph of tenant {tenant!r}: source {before}, destination {after}")
    report["ok"] = not report["problems"]
    return report
