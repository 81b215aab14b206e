"""``kefu analyze conversations``: the conversation dashboard's numbers in the terminal or as JSON."""
from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

out = Console()


def conversations_cmd() -> click.Command:
    @click.command("conversations")
    @click.option("--days", type=click.IntRange(1, 3650), default=30, show_default=True, help="Look back this far.")
    @click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
                  help="Write every figure as JSON here ('-' for stdout).")
    @click.pass_context
    def conversations(ctx, days, json_path) -> None:
        """Volume, containment, handoffs, CSAT, sentiment, intents, agent response time, knowledge gaps."""
        from kefu.analytics.conversations import conversation_stats

        stats = conversation_stats(ctx.obj["engine"], ctx.obj["tenant"], days=days)
        if json_path is not None and str(json_path) == "-":
            click.echo(json.dumps(stats, ensure_ascii=False))
            return
        if json_path:
            json_path.write_text(json.dumps(stats, ensure_ascii=False, indent=1), encoding="utf-8")
        v, h, c = stats["volume"], stats["handoff"], stats["csat"]
        table = Table(title=f"tenant {stats['tenant']} · last {days} days")
        table.add_column("measure")
        table.add_column("value", justify="right")
        for name, value in [("conversations", v["conversations"]), ("customer messages", v["customer_messages"]),
                            ("contained by the bot", _pct(stats["containment"])), ("handed off", _pct(h["rate"])),
                            ("handoff reasons", ", ".join(f"{k} {n}" for k, n in h["reasons"].items()) or "—"),
                            ("CSAT mean (responses)", f"{c['mean'] or '—'} ({c['responses']})"),
                            ("thumbs up / down", f"{stats['feedback']['up']} / {stats['feedback']['down']}"),
                            ("mean customer sentiment", stats["sentiment"]["mean"]),
                            ("agent first response median / p90 (s)",
                             f"{stats['agent_first_response_s']['median']} / {stats['agent_first_response_s']['p90']}"),
                            ("knowledge gaps", len(stats["knowledge_gaps"]))]:
            table.add_row(name, "—" if value is None else str(value))
        out.print(table)
        for gap in stats["knowledge_gaps"][:5]:
            out.print(f"[bold]gap ×{gap['count']}[/] {gap['question'][:80]} → "
                      f"{(gap['answer'] or 'no agent answer yet')[:80]}", highlight=False)

    return conversations


def reviews_cmd() -> click.Command:
    @click.command("reviews")
    @click.argument("file", type=click.Path(path_type=Path))
    @click.option("--text-col", help="Column with the review text (default: review/text/comment/评论…).")
    @click.option("--time-col", help="Column with a date, for trends by month.")
    @click.option("--product-col", help="Column with the product or category.")
    @click.option("--topics", type=click.IntRange(2, 50), default=8, show_default=True)
    @click.option("--limit", type=click.IntRange(1), default=None, help="Read at most this many rows.")
    @click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
                  help="Write report.html, summary.json and rows.csv (one row per review) here.")
    @click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
                  help="Write the HTML report here (also written to --out).")
    @click.pass_context
    def reviews(ctx, file, text_col, time_col, product_col, topics, limit, out_dir, report_path) -> None:
        """Sentiment, aspects, topics, complaints and praises, trends and products in FILE (CSV/TSV/JSONL)."""
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from kefu.analytics.report import render_reviews_html
        from kefu.analytics.reviews import analyze_reviews
        from kefu.nlp.sentiment import default_sentiment_model

        model = default_sentiment_model().bind(ctx.obj["engine"].embedder)
        err = Console(stderr=True)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                      transient=True) as bar:
            task = bar.add_task("reading reviews", total=None)
            summary = analyze_reviews(file, out_dir=out_dir, text_col=text_col, time_col=time_col,
                                      product_col=product_col, topics=topics, limit=limit, sentiment=model,
                                      progress=lambda n: bar.update(task, description=f"{n:,} reviews read"))
        html = render_reviews_html(summary) if (out_dir or report_path) else None
        for target in [p for p in (out_dir and out_dir / "report.html", report_path) if p]:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html, encoding="utf-8")
        s = summary["sentiment"]
        out.print(f"{summary['reviews']:,} reviews · mean score {s['mean_score']:+.3f} · "
                  + " · ".join(f"{k} {v:,}" for k, v in s["labels"].items()), highlight=False)
        table = Table(title="aspects")
        for col in ("aspect", "mentions", "negative", "positive", "top complaint"):
            table.add_column(col)
        for aspect, v in list(summary["aspects"].items())[:9]:
            table.add_row(aspect, str(v["mentions"]), str(v.get("negative", 0)), str(v.get("positive", 0)),
                          (v["complaints"][0][:60] if v["complaints"] else "—"))
        out.print(table)
        out.print("topics: " + "; ".join(f"{t['label']} ({t['reviews']})" for t in summary["topics"]),
                  highlight=False)

    return reviews


def _pct(value) -> str | None:
    return None if value is None else f"{100 * value:.1f} %"


def register(main: click.Group) -> None:
    group = main.commands.get("analyze")
    if not isinstance(group, click.Group):
        group = click.Group("analyze", help="Analytics over conversations (and reviews).")
        main.add_command(group)
    group.add_command(conversations_cmd())
    group.add_command(reviews_cmd())


__all__ = ["register"]
