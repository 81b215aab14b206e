"""The ``kefu`` command."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kefu import __version__
from kefu.cli_options import check_tenant, tenant_option
from kefu.config import SETTINGS, Config, default_home
from kefu.engine import Engine
from kefu.errors import KefuError
from kefu.ingest.loaders.base import LoadOptions
from kefu.ingest.pipeline import FileResult
from kefu.logs import setup_logging
from kefu.store.base import Filters

err = Console(stderr=True)
out = Console()


class KefuGroup(click.Group):
    """Turns every ``KefuError`` into one clear line on stderr and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KefuError as exc:
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            ctx.exit(2)


def _parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--set")
        pairs[name.strip()] = value
    return pairs


@click.group(cls=KefuGroup)
@click.version_option(__version__, prog_name="kefu")
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="KEFU_HOME",
              help="Folder for the store, kefu.toml and trained models [env KEFU_HOME; ~/.kefu].")
@click.option("--tenant", "-t", default=None, help="Tenant id (default: setting `tenant`).")
@click.option("--set", "-s", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a setting for this command (see `kefu settings`).")
@click.pass_context
def main(ctx: click.Context, home: Path | None, tenant: str | None, sets: tuple[str, ...]) -> None:
    """kefu (客服): answer customers from your own knowledge, offline, in Chinese and English."""
    config = Config.load(home or default_home(), overrides=_parse_sets(sets))
    setup_logging(config.log_level, config.log_format)
    engine = Engine(config)
    ctx.call_on_close(engine.close)
    ctx.obj = {"engine": engine, "tenant": check_tenant(config.tenant if tenant is None else tenant)}


def _engine(ctx: click.Context) -> Engine:
    return ctx.obj["engine"]


@main.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the home folder with a commented kefu.toml."""
    config = _engine(ctx).config
    config.home.mkdir(parents=True, exist_ok=True)
    path = config.home / "kefu.toml"
    if not path.exists():
        lines = ["# kefu settings; KEFU_<NAME> environment variables override these.", ""]
        for s in SETTINGS:
            lines += [f"# {s.help}", f"# {s.name} = {json.dumps(s.default)}", ""]
        path.write_text("\n".join(lines), encoding="utf-8")
    out.print(f"kefu home: {config.home}\nsettings:  {path}\nstore:     {config.db_path}")


@main.command()
@click.pass_context
def settings(ctx: click.Context) -> None:
    """List every setting with its current value."""
    values = _engine(ctx).config.as_dict()
    table = Table("setting", "value", "default", "help")
    for s in SETTINGS:
        table.add_row(s.name, str(values[s.name]), str(s.default), s.help)
    out.print(table)


class _RichProgress:
    def __init__(self, progress: Progress) -> None:
        self.p = progress
        self.files = progress.add_task("files", total=0)
        self.chunk_task = progress.add_task("embedding", total=None, visible=False)

    def start(self, total_files: int) -> None:
        self.p.update(self.files, total=total_files)

    def file(self, path: str) -> None:
        self.p.update(self.files, description=f"[cyan]{Path(path).name}")

    def chunks(self, done: int, total: int) -> None:
        self.p.update(self.chunk_task, completed=done, total=total, visible=total > 200)

    def done(self, result: FileResult) -> None:
        self.p.update(self.chunk_task, visible=False)
        self.p.advance(self.files)
        if result.status == "failed":
            self.p.console.print(f"[red]failed:[/] {result.error}", highlight=False)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--source", help="Source name (default: the folder or file name).")
@click.option("--question-col", help="FAQ table: the question column.")
@click.option("--answer-col", help="FAQ table: the answer column.")
@click.option("--tags-col", help="FAQ table: a tags/category column (tags split on ';').")
@click.option("--sheet", help="XLSX: the sheet to read (default: the first).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes sharing a job table (PostgreSQL only); a second run resumes an unfinished one.")
@tenant_option
@click.pass_context
def ingest(ctx, paths, source, question_col, answer_col, tags_col, sheet, as_json, workers) -> None:
    """Ingest FAQ tables, documents and chat logs (files or folders)."""
    engine = _engine(ctx)
    options = LoadOptions(question_col, answer_col, tags_col, sheet)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True, disable=as_json) as progress:
        if workers > 1:
            from kefu.ingest.workers import ingest_parallel

            task = progress.add_task(f"ingesting with {workers} workers", total=None)
            report = ingest_parallel(engine.config, list(paths), tenant=ctx.obj["tenant"], workers=workers,
                                     source=source, options=options,
                                     progress=lambda done, total: progress.update(task, completed=done, total=total))
        else:
            report = engine.ingestor.ingest(list(paths), tenant=ctx.obj["tenant"], source=source,
                                            options=options, progress=_RichProgress(progress))
    if as_json:
        out.print_json(json.dumps({"totals": report.totals(), "files": [vars(f) for f in report.files],
                                   "skipped_unsupported": report.skipped_unsupported},
                                  ensure_ascii=False))
    else:
        _print_report(report)
    if report.failed or not report.files:
        ctx.exit(1)


def _print_report(report) -> None:
    totals = report.totals()
    table = Table("files", "ingested", "unchanged", "failed", "chunks", "duplicates removed",
                  "noise removed", "PII redactions", title="ingest summary")
    table.add_row(*(str(totals[k]) for k in ("files", "ingested", "unchanged", "failed", "chunks",
                                              "duplicates_removed", "noise_removed", "pii_redactions")))
    out.print(table)
    for f in report.failed:
        out.print(f"[red]✗[/] {f.error}", highlight=False)
    warnings = [w for f in report.files for w in f.warnings]
    for w in warnings[:20]:
        out.print(f"[yellow]![/] {w}", highlight=False)
    if len(warnings) > 20:
        out.print(f"[yellow]… and {len(warnings) - 20} more warnings[/]")
    if report.skipped_unsupported:
        out.print(f"skipped {len(report.skipped_unsupported)} file(s) of unsupported types")
    if not report.files:
        out.print("[red]no files to ingest[/]")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@tenant_option
@click.pass_context
def sources(ctx, as_json) -> None:
    """List ingested sources with document and chunk counts."""
    rows = _engine(ctx).store.list_sources(ctx.obj["tenant"])
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("source", "documents", "chunks", "updated (UTC)")
    for r in rows:
        table.add_row(r["source"], str(r["documents"]), str(r["chunks"]), (r["updated_at"] or "")[:19])
    out.print(table if rows else "no sources yet: run `kefu ingest PATH`")


@main.command()
@click.argument("source")
@tenant_option
@click.pass_context
def remove(ctx, source) -> None:
    """Delete a source and everything ingested from it."""
    from kefu.errors import NotFoundError

    n = _engine(ctx).store.delete_source(ctx.obj["tenant"], source)
    if not n:
        raise NotFoundError(f"no source named {source!r}; `kefu sources` lists them")
    out.print(f"removed {source}: {n} document(s)")


def _filters(source, tag, lang) -> Filters | None:
    if not (source or tag or lang):
        return None
    return Filters(sources=list(source), tags=list(tag), langs=list(lang))


_filter_options = [
    click.option("--source", multiple=True, help="Only this source (repeatable)."),
    click.option("--tag", multiple=True, help="Only chunks with this tag (repeatable)."),
    click.option("--lang", multiple=True, type=click.Choice(["zh", "en"]), help="Only this language."),
]


def _with_filters(fn):
    for option in reversed(_filter_options):
        fn = option(fn)
    return fn


@main.command()
@click.argument("query")
@click.option("--mode", type=click.Choice(["hybrid", "keyword", "vector"]), default="hybrid")
@click.option("-k", "--top", "k", default=5, show_default=True, type=click.IntRange(1, 100))
@_with_filters
@click.option("--json", "as_json", is_flag=True)
@tenant_option
@click.pass_context
def search(ctx, query, mode, k, source, tag, lang, as_json) -> None:
    """Show the passages retrieval finds for QUERY."""
    from kefu.errors import InputError

    if not query.strip():
        raise InputError("the query is empty")
    result = _engine(ctx).retriever.search(ctx.obj["tenant"], query, k, mode=mode,
                                           filters=_filters(source, tag, lang))
    rows = [{"rank": h.rank or n, "score": round(h.score, 6), "source": h.chunk.source,
             "uri": h.chunk.uri, "title": h.chunk.title, "kind": h.chunk.kind, "lang": h.chunk.lang,
             "text": h.chunk.question + " → " + h.chunk.answer if h.chunk.question else h.chunk.text}
            for n, h in enumerate(result.hits, 1)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("#", "score", "uri", "title", "text")
    for r in rows:
        table.add_row(str(r["rank"]), f"{r['score']:.4f}", r["uri"], r["title"][:40], r["text"][:120])
    out.print(table if rows else "nothing found")


@main.command()
@click.argument("question", required=False)
@click.option("--batch", type=click.File("r", encoding="utf-8", errors="strict"),
              help="Answer one question per line of this file (- for stdin), as JSON lines.")
@_with_filters
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON object.")
@tenant_option
@click.pass_context
def ask(ctx, question, batch, source, tag, lang, as_json) -> None:
    """Answer QUESTION from the knowledge base, with citations and confidence."""
    from kefu.errors import InputError

    engine, tenant, filters = _engine(ctx), ctx.obj["tenant"], _filters(source, tag, lang)
    if batch is None and question is None:
        raise InputError("give a QUESTION or --batch FILE")
    if batch is not None:
        try:
            lines = batch.read().splitlines()
        except UnicodeDecodeError as exc:
            raise InputError(f"{batch.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                body = engine.respond(tenant, line, filters).to_dict()
            except InputError as exc:
                body = {"error": {"code": exc.code, "message": f"line {n}: {exc}"}}
            click.echo(json.dumps({"question": line, **body}, ensure_ascii=False))
        return
    answer = engine.respond(tenant, question, filters)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        _print_answer(answer)


def _print_answer(answer) -> None:
    out.print(answer.answer, highlight=False)
    out.print(f"[dim]confidence {answer.confidence:.2f} · {answer.mode}[/]")
    for c in answer.citations[:3]:
        out.print(f"[dim]  [{c.n}] {c.title[:60]} — {c.uri}[/]", highlight=False)


@main.command()
@tenant_option
@click.pass_context
def chat(ctx) -> None:
    """Talk to the bot in the terminal (type /quit or press Ctrl-D to leave)."""
    from kefu.errors import InputError

    engine, tenant = _engine(ctx), ctx.obj["tenant"]
    if not engine.store.count_chunks(tenant):
        out.print("[yellow]The knowledge base is empty: run `kefu ingest PATH` first.[/]")
    out.print("kefu chat — ask in Chinese or English. /quit to leave.")
    while True:
        try:
            line = input("you> ") if sys.stdin.isatty() else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            break
        if line == "" and not sys.stdin.isatty():
            break
        line = line.strip()
        if not line:
            continue
        if line in ("/quit", "/exit", "quit", "exit"):
            break
        try:
            answer = engine.respond(tenant, line)
        except InputError as exc:
            out.print(f"[red]{exc}[/]")
            continue
        out.print("[bold green]kefu>[/] ", end="")
        _print_answer(answer)
    out.print("bye · 再见")


from kefu.cli_analyze import register as register_analyze  # noqa: E402
from kefu.cli_eval import register as register_eval  # noqa: E402
from kefu.cli_kg import register as register_kg  # noqa: E402
from kefu.cli_nlu import register as register_nlu  # noqa: E402
from kefu.cli_serve import register as register_serve  # noqa: E402
from kefu.cli_voice import register as register_voice  # noqa: E402

register_nlu(main)
register_serve(main)
register_eval(main.commands["eval"])
register_analyze(main)
register_voice(main)
register_kg(main)

if __name__ == "__main__":  # pragma: no cover
    main()
