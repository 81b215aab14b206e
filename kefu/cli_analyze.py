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


def _pct(value) -> str | None:
    return None if value is None else f"{100 * value:.1f} %"


def register(main: click.Group) -> None:
    group = main.commands.get("analyze")
    if not isinstance(group, click.Group):
        group = click.Group("analyze", help="Analytics over conversations (and reviews).")
        main.add_command(group)
    group.add_command(conversations_cmd())


__all__ = ["register"]
