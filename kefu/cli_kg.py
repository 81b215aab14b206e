"""``kefu kg``: build, import, export, query and inspect the knowledge graph."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kefu.cli_options import tenant_option
from kefu.errors import InputError

out = Console()
err = Console(stderr=True)


@click.group("kg")
def kg() -> None:
    """Knowledge graph: entities and relations from your catalogue, documents and triple files."""


@kg.command("build")
@click.option("--full", is_flag=True, help="Rebuild every document, not only changed ones.")
@click.option("--no-ner", is_flag=True, help="Skip LAC/spaCy named-entity recognition (patterns and aliases only).")
@click.option("--customers", is_flag=True, help="Also add every customer (conversations, orders, products) "
              "from the chat store.")
@click.option("--llm/--no-llm", default=None,
              help="Also extract facts through the configured generator (default: when the setting generator names "
                   "one).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@tenant_option
@click.pass_context
def build(ctx, full, no_ner, customers, llm, as_json) -> None:
    """Build the graph from the ingested knowledge base (incremental: unchanged documents are skipped)."""
    from kefu.dialog.compose import build_chain, should_redact
    from kefu.kg.build import GraphBuilder

    engine, tenant = ctx.obj["engine"], ctx.obj["tenant"]
    chain = build_chain(engine.config) if llm is not False else []
    if llm and not chain:
        raise click.UsageError("--llm needs a generator: set `generator` (e.g. openai) and its llm_* settings")
    builder = GraphBuilder(engine.store, engine.graph, ner=not no_ner, generator=chain[0] if chain else None,
                           redact=should_redact(engine.config))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=as_json) as progress:
        task = progress.add_task("documents", total=None)

        def step(done: int, total: int, uri: str) -> None:
            progress.update(task, completed=done, total=total, description=f"[cyan]{Path(uri).name or 'done'}")

        report = builder.build(tenant, full=full, progress=step)
    customer_count = None
    if customers:
        from kefu.kg.profiles import store_all_customers

        customer_count = store_all_customers(engine, tenant)
    counts = engine.graph.counts(tenant)
    if as_json:
        click.echo(json.dumps({**report.to_dict(), "customers": customer_count, "graph": counts}, ensure_ascii=False))
        return
    table = Table("documents", "built", "unchanged", "removed", "triples written", "entities", "triples in graph",
                  title=f"kg build · tenant {tenant}")
    table.add_row(*(str(x) for x in (report.documents, report.built, report.unchanged, report.removed,
                                      report.triples, counts["entities"], counts["triples"])))
    out.print(table)
    if report.llm_chunks:
        out.print(f"generator {builder.llm.generator.name}: {report.llm_chunks} chunks read, "
                  f"{report.llm_triples} facts kept, {report.llm_dropped} not supported by the text dropped, "
                  f"{report.llm_failed_chunks} chunks failed")
    if customer_count is not None:
        out.print(f"{customer_count} customer(s) in the graph")


@kg.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source", help="Graph source name (default: import:FILENAME).")
@click.option("--type", "entity_type", default="thing", show_default=True, help="Type of the subjects' entities.")
@click.option("--json", "as_json", is_flag=True)
@tenant_option
@click.pass_context
def import_(ctx, path, source, entity_type, as_json) -> None:
    """Import a triple file: KdConv-style JSON (kb_travel.json), JSONL or CSV (subject, relation, object)."""
    from kefu.kg.importers import import_file

    engine, tenant = ctx.obj["engine"], ctx.obj["tenant"]
    report = import_file(engine.graph, tenant, path, source=source, entity_type=entity_type)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    out.print(f"{report.source}: {report.status} · {report.triples} triples · {report.entities} entities · "
              f"{report.skipped} skipped", highlight=False)
    for warning in report.warnings[:20]:
        out.print(f"[yellow]![/] {warning}", highlight=False)
    if len(report.warnings) > 20:
        out.print(f"[yellow]… and {len(report.warnings) - 20} more warnings[/]")


@kg.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "graphml", "csv"]), default="json", show_default=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here (default: stdout).")
@tenant_option
@click.pass_context
def export(ctx, fmt, out_path) -> None:
    """Export the tenant's graph as JSON, GraphML or CSV triples."""
    from kefu.kg.export import export_graph

    engine, tenant = ctx.obj["engine"], ctx.obj["tenant"]
    if out_path is None:
        export_graph(engine.graph, tenant, fmt, sys.stdout)
        return
    with out_path.open("w", encoding="utf-8", newline="") as fh:
        export_graph(engine.graph, tenant, fmt, fh)
    err.print(f"wrote {out_path}")


@kg.command("ask")
@click.argument("question")
@click.option("--json", "as_json", is_flag=True)
@tenant_option
@click.pass_context
def ask(ctx, question, as_json) -> None:
    """Answer QUESTION from the graph alone, citing the triple it rests on."""
    engine, tenant = ctx.obj["engine"], ctx.obj["tenant"]
    if not question.strip():
        raise InputError("the question is empty")
    found = engine.graph_qa.ask(tenant, question)
    if as_json:
        click.echo(json.dumps(found.to_dict() if found else None, ensure_ascii=False))
        return
    if found is None:
        out.print("the graph has no confident answer (try `kefu ask` for the text answer)")
        ctx.exit(1)
    out.print(found.answer, highlight=False)
    out.print(f"[dim]confidence {found.confidence:.2f} · entity {found.entity['name']} · relation "
              f"{found.relation}[/]", highlight=False)
    for t in found.triples[:5]:
        where = t.provenance.get("uri") or t.provenance.get("file") or t.source
        line = t.provenance.get("line") or t.provenance.get("row")
        out.print(f"[dim]  ({t.subject_name} —{t.relation}→ {t.object[:60]}) — {where}{':' + str(line) if line else ''}"
                  f"[/]", highlight=False)


@kg.command("search")
@click.argument("query")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 500))
@tenant_option
@click.pass_context
def search(ctx, query, limit) -> None:
    """Entities whose name or alias contains QUERY, with their edge counts."""
    engine, tenant = ctx.obj["engine"], ctx.obj["tenant"]
    table = Table("id", "name", "type", "aliases", "edges")
    for e in engine.graph.search_entities(tenant, query, limit):
        edges = engine.graph.neighbours(tenant, e.id, 1).total
        table.add_row(e.id, e.name, e.type, ", ".join(e.aliases[:4]), str(edges))
    out.print(table)


@kg.command("sources")
@tenant_option
@click.pass_context
def sources(ctx) -> None:
    """Graph sources (documents, imported files, customers) with their triple counts."""
    engine, tenant = ctx.obj["engine"], ctx.obj["tenant"]
    table = Table("source", "triples", "updated")
    for s in engine.graph.list_sources(tenant):
        table.add_row(s["source"], str(s["triples"]), s["updated_at"])
    out.print(table)
    counts = engine.graph.counts(tenant)
    out.print(f"{counts['entities']} entities · {counts['triples']} triples · {counts['sources']} sources")


def register(main: click.Group) -> None:
    main.add_command(kg)
