"""Export a tenant's graph as JSON, GraphML (stdlib XML) or CSV triples, streamed page by page."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import TextIO
from xml.sax.saxutils import escape, quoteattr

from kefu.errors import InputError
from kefu.kg.base import MAX_PAGE, Entity, GraphStore, Triple

FORMATS = ("json", "graphml", "csv")


def iter_triples(graph: GraphStore, tenant: str) -> Iterator[Triple]:
    offset = 0
    while True:
        page = graph.triples(tenant, limit=MAX_PAGE, offset=offset)
        yield from page
        if len(page) < MAX_PAGE:
            return
        offset += MAX_PAGE


def _entities(graph: GraphStore, tenant: str, triples: list[Triple]) -> list[Entity]:
    ids = dict.fromkeys([t.subject for t in triples] + [t.object_id for t in triples if t.object_id])
    return [graph.get_entity(tenant, i) for i in ids]


def export_graph(graph: GraphStore, tenant: str, fmt: str, out: TextIO) -> None:
    """Write the graph of ``tenant`` to ``out`` in ``fmt`` (json | graphml | csv)."""
    if fmt not in FORMATS:
        raise InputError(f"export format {fmt!r} is not one of {', '.join(FORMATS)}")
    triples = list(iter_triples(graph, tenant))
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(["subject", "relation", "object", "subject_id", "object_id", "source", "provenance"])
        for t in triples:
            writer.writerow([t.subject_name, t.relation, t.object, t.subject, t.object_id or "", t.source,
                             json.dumps(t.provenance, ensure_ascii=False)])
        return
    entities = _entities(graph, tenant, triples)
    if fmt == "json":
        json.dump({"tenant": tenant, "entities": [e.to_dict() for e in entities],
                   "triples": [t.to_dict() for t in triples]}, out, ensure_ascii=False, indent=1)
        out.write("\n")
        return
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n'
              '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">\n'
              '  <key id="name" for="node" attr.name="name" attr.type="string"/>\n'
              '  <key id="type" for="node" attr.name="type" attr.type="string"/>\n'
              '  <key id="aliases" for="node" attr.name="aliases" attr.type="string"/>\n'
              '  <key id="relation" for="edge" attr.name="relation" attr.type="string"/>\n'
              '  <key id="value" for="edge" attr.name="value" attr.type="string"/>\n'
              '  <key id="source" for="edge" attr.name="source" attr.type="string"/>\n'
              f'  <graph id={quoteattr(tenant)} edgedefault="directed">\n')
    for e in entities:
        out.write(f"    <node id={quoteattr(e.id)}><data key=\"name\">{escape(e.name)}</data>"
                  f"<data key=\"type\">{escape(e.type)}</data>"
                  f"<data key=\"aliases\">{escape('|'.join(e.aliases))}</data></node>\n")
    literals: dict[str, str] = {}
    for t in triples:
        if t.object_id is None:  # literal values become leaf nodes so every triple is an edge
            literals.setdefault(t.object, f"v{len(literals) + 1}")
    for value, vid in literals.items():
        out.write(f"    <node id=\"{vid}\"><data key=\"name\">{escape(value)}</data>"
                  f"<data key=\"type\">value</data></node>\n")
    for t in triples:
        target = t.object_id or literals[t.object]
        out.write(f"    <edge id=\"t{t.id}\" source={quoteattr(t.subject)} target={quoteattr(target)}>"
                  f"<data key=\"relation\">{escape(t.relation)}</data><data key=\"value\">{escape(t.object)}</data>"
                  f"<data key=\"source\">{escape(t.source)}</data></edge>\n")
    out.write("  </graph>\n</graphml>\n")
