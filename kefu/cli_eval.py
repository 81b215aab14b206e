"""``kefu eval replay`` and ``kefu eval retrieval``: score the bot, print a table, write JSON and HTML."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kefu.errors import InputError

out = Console()
err = Console(stderr=True)
REGRESSION_EXIT = 3


def _write_outputs(result: dict, json_path: Path | None, report_path: Path | None) -> None:
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        err.print(f"JSON written to {json_path}", highlight=False)
    if report_path:
        from kefu.eval.report import render_html

        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(render_html(result), encoding="utf-8")
        err.print(f"report written to {report_path}", highlight=False)


def _read_baseline(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable result JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("summary"), dict):
        raise InputError(f"{path}: not a kefu eval result (no 'summary' object)")
    return data


def _fmt(value) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _print_replay(result: dict) -> None:
    s = result["summary"]
    table = Table(title=f"replay · {result['data']['turns']} held-out turns from "
                        f"{result['data']['heldout_conversations']} conversations")
    for col in ("", "turns", "answer", "abstain", "handoff", "sim", "chrF", "R-L", "≈human", "p95 ms"):
        table.add_column(col, justify="right" if col else "left")
    rows = [("all", s)] + [(k, v) for k, v in result["by_language"].items()]
    for name, m in rows:
        table.add_row(name, _fmt(m["turns"]), _fmt(m["answered_rate"]), _fmt(m["abstained_rate"]),
                      _fmt(m["handed_off_rate"]), _fmt(m["similarity_mean"]), _fmt(m["chrf_mean"]),
                      _fmt(m["rouge_l_mean"]), _fmt(m["as_close_as_human_rate"]), f"{m['latency_p95_ms']:.0f}")
    out.print(table)
    skipped = result["data"]["skipped"]
    if skipped:
        out.print("skipped: " + ", ".join(f"{n} × {why}" for why, n in skipped.items()), highlight=False)


def replay_cmd() -> click.Command:
    @click.command("replay")
    @click.argument("logs", type=click.Path(path_type=Path))
    @click.option("--format", "fmt", type=click.Choice(["auto", "chatlog", "bitext", "crosswoz"]), default="auto",
                  show_default=True, help="What LOGS holds.")
    @click.option("--holdout", type=float, default=0.2, show_default=True,
                  help="Share of conversations replayed; the rest becomes knowledge.")
    @click.option("--knowledge", multiple=True, type=click.Path(exists=True, path_type=Path),
                  help="Documents or FAQ to ingest besides the history (repeatable).")
    @click.option("--limit", type=click.IntRange(2), default=None,
                  help="Replay a seeded sample of this many conversations.")
    @click.option("--max-turns", type=click.IntRange(1), default=None, help="Replay at most this many turns.")
    @click.option("--seed", type=int, default=0, show_default=True)
    @click.option("--train-intent", is_flag=True,
                  help="Train an intent model on the history's labels first (Bitext intents, CrossWOZ acts).")
    @click.option("--no-judge", is_flag=True, help="Skip the pairwise model judge even with a generator.")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON here.")
    @click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
                  help="Write the HTML report here.")
    @click.option("--baseline", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="An earlier --json: exit 3 when a metric fell beyond its tolerance.")
    @click.pass_context
    def replay(ctx, logs, fmt, holdout, knowledge, limit, max_turns, seed, train_intent, no_judge, json_path,
               report_path, baseline) -> None:
        """Replay held-out conversations of LOGS through the bot and score it against the human agents."""
        from kefu.eval.replay import ReplayOptions, compare
        from kefu.eval.replay import replay as run

        engine = ctx.obj["engine"]
        base = _read_baseline(baseline) if baseline else None
        opts = ReplayOptions(holdout=holdout, seed=seed, fmt=fmt, limit=limit, max_turns=max_turns,
                             knowledge=list(knowledge), train_intent=train_intent, judge=not no_judge)
        with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            task = bar.add_task("replaying", total=None)
            result = run(engine.config, logs, opts, progress=lambda n, total: bar.update(task, completed=n,
                                                                                         total=total),
                         command="kefu " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
        if base is not None:
            result["baseline"] = compare(result, base, str(baseline))
        _print_replay(result)
        _write_outputs(result, json_path, report_path)
        if result["baseline"] and result["baseline"]["regressions"]:
            for line in result["baseline"]["regressions"]:
                err.print(f"[bold red]regression:[/] {line}", highlight=False)
            ctx.exit(REGRESSION_EXIT)

    return replay


def retrieval_cmd() -> click.Command:
    @click.command("retrieval")
    @click.argument("questions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--k", type=click.IntRange(5, 100), default=10, show_default=True, help="Depth for MRR.")
    @click.option("--mode", type=click.Choice(["hybrid", "keyword", "vector"]), default="hybrid", show_default=True)
    @click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON here.")
    @click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
                  help="Write the HTML report here.")
    @click.pass_context
    def retrieval(ctx, questions, k, mode, json_path, report_path) -> None:
        """Hit@1, hit@k and MRR on QUESTIONS (JSONL: question + expected uri, title or answer text)."""
        from kefu.eval.retrieval import evaluate

        engine, tenant = ctx.obj["engine"], ctx.obj["tenant"]
        result = evaluate(engine, tenant, questions, k=k, mode=mode,
                          command="kefu " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
        s = result["summary"]
        out.print(f"{s['questions']} questions · hit@1 {_fmt(s['hit@1'])} · hit@5 {_fmt(s['hit@5'])} · "
                  f"MRR {_fmt(s['mrr'])} · p95 {_fmt(s['latency_p95_ms'])} ms", highlight=False)
        _write_outputs(result, json_path, report_path)

    return retrieval


def register(eval_group: click.Group) -> None:
    eval_group.add_command(replay_cmd())
    eval_group.add_command(retrieval_cmd())


__all__ = ["register"]
