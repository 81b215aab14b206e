"""The HTML report of an evaluation: one self-contained file (inline CSS, charts as inline SVG, no JS).

    html = render_html(result)            # the dict ``kefu eval replay|retrieval --json`` writes
    Path("report.html").write_text(html, encoding="utf-8")

Works offline: nothing is fetched (no CDN, no web fonts, no scripts). Charts are drawn by matplotlib
(imported on first use, an explicit :class:`~matplotlib.figure.Figure`, never pyplot's global state)
as SVG with text kept as text, so the browser renders it with its own fonts (Chinese included).
Every text from the data (customer messages, replies, titles, paths) is escaped; a missing or
``None`` value renders as "—".
"""
from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Iterable
from typing import Any

DASH = "—"
MAX_TABLE_ROWS = 500
MAX_INTENT_BARS = 15
TABLE_TEXT_CHARS = 280

OUTCOMES = (("answered", "Answered", "#2e7d32"), ("abstained", "Abstained", "#f0a30a"),
            ("handed_off", "Handed off", "#c62828"))
LANG_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
BOT_COLOR, HUMAN_COLOR = "#1f77b4", "#ff7f0e"
# Fonts matplotlib measures labels with (and the SVG names, the browser falling back to its own).
CJK_FONTS = ("Noto Sans CJK SC", "WenQuanYi Micro Hei", "Source Han Sans SC", "Noto Sans CJK JP", "SimHei",
             "Microsoft YaHei", "PingFang SC")
_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")

REPLAY_METRICS = (("similarity_mean", "Similarity"), ("chrf_mean", "chrF"), ("rouge_l_mean", "ROUGE-L"),
                  ("groundedness_mean", "Grounded"), ("answered_rate", "Answered"),
                  ("as_close_as_human_rate", "As close\nas human"))
RETRIEVAL_METRICS = (("hit@1", "hit@1"), ("hit@5", "hit@5"), ("mrr", "MRR"))
PERCENT_KEYS = {"hit@1", "hit@5", "intent_accuracy"}
DATA_KEYS = (("path", "Data"), ("format", "Format"), ("conversations", "Conversations"),
             ("train_conversations", "Learned from"), ("heldout_conversations", "Held out"),
             ("turns", "Turns replayed"), ("questions", "Questions"), ("mode", "Mode"), ("k", "Depth (k)"),
             ("seed", "Seed"), ("holdout", "Hold-out share"), ("knowledge", "Knowledge"))


# ---------------------------------------------------------------------------------------------- helpers

def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _d(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list:
    return value if isinstance(value, list) else []


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) or math.isinf(value) else float(value)


def _fmt(value: Any, key: str = "") -> str:
    """``value`` for display (escaped): rates as percentages, means to 3 places, ms, "—" when missing."""
    if value is None or value == "":
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    num = _num(value)
    if num is None:
        if isinstance(value, float):  # nan / inf
            return DASH
        if isinstance(value, list):
            return _esc(", ".join(str(v) for v in value)) if value else DASH
        return _esc(value)
    if key.endswith("_rate") or key in PERCENT_KEYS:
        return f"{num * 100:.1f}%"
    if key.endswith("_ms") or key == "ms":
        return f"{num:,.1f} ms"
    if isinstance(value, int):
        return f"{value:,}"
    if key.endswith("_mean") or key in ("mrr", "similarity", "chrf", "rouge_l", "groundedness", "human_baseline",
                                        "confidence"):
        return f"{num:.3f}"
    return f"{num:g}"


def _truncate(text: Any, limit: int = TABLE_TEXT_CHARS) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


# ---------------------------------------------------------------------------------------------- charts

class _Charts:
    """Draws the charts; matplotlib is imported here, on first use."""

    def __init__(self) -> None:
        import matplotlib
        from matplotlib import font_manager
        from matplotlib.figure import Figure  # an explicit figure: no pyplot, no GUI backend, no global state

        self._matplotlib = matplotlib
        self._figure = Figure
        installed = {f.name for f in font_manager.fontManager.ttflist}
        self.cjk_font = next((name for name in CJK_FONTS if name in installed), None)
        # matplotlib falls back glyph by glyph only across the explicit families of font.family
        families = ["DejaVu Sans"] + ([self.cjk_font] if self.cjk_font else []) + ["sans-serif"]
        self.rc = {"svg.fonttype": "none", "svg.hashsalt": "kefu-report", "font.family": families,
                   "font.sans-serif": ["DejaVu Sans"], "font.size": 9, "axes.titlesize": 10,
                   "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#888888",
                   "axes.axisbelow": True, "axes.grid": True, "grid.color": "#e4e4e4", "grid.linewidth": 0.8,
                   "legend.frameon": False, "xtick.color": "#444444", "ytick.color": "#444444",
                   "svg.image_inline": True}

    def label(self, text: Any, fallback: str) -> str:
        """``text`` for a chart label, or ``fallback`` where it has CJK and no CJK font is installed."""
        text = str(text)
        return fallback if _has_cjk(text) and not self.cjk_font else text

    def figure(self, width: float, height: float):
        return self._figure(figsize=(width, height), layout="constrained")

    def svg(self, fig, chart_id: str) -> str:
        """The figure as inline SVG: no XML prolog, metadata or namespace URLs; ids prefixed per chart."""
        buf = io.StringIO()
        with self._matplotlib.rc_context(self.rc):
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
        text = buf.getvalue()
        text = text[text.index("<svg"):]
        text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
        text = re.sub(r"<style[^>]*>.*?</style>\s*", "", text, flags=re.S)  # a global `*` rule; see CSS
        text = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text)
        text = re.sub(r'(<svg[^>]*?)\s+width="[^"]*"\s+height="[^"]*"', r"\1", text, count=1)
        text = re.sub(r'(\bid="|href="#|url\(#)([^")]+)', lambda m: f"{m.group(1)}{chart_id}-{m.group(2)}", text)
        return text.replace("<svg", f'<svg role="img" aria-labelledby="{chart_id}-title"', 1).strip()

    def draw(self, chart_id: str, draw, width: float, height: float) -> str:
        with self._matplotlib.rc_context(self.rc):
            fig = self.figure(width, height)
            draw(fig)
            return self.svg(fig, chart_id)


def _outcomes_chart(ch: _Charts, rows: list[tuple[str, dict]]) -> str:
    def draw(fig) -> None:
        ax = fig.add_subplot()
        labels = [ch.label(name, f"group {i}") for i, (name, _) in enumerate(rows)]
        ys = list(range(len(rows)))[::-1]
        left = [0.0] * len(rows)
        for key, label, color in OUTCOMES:
            counts = [_num(s.get(key)) or 0.0 for _, s in rows]
            totals = [sum(_num(s.get(k)) or 0.0 for k, _, _ in OUTCOMES) or 1.0 for _, s in rows]
            shares = [c / t for c, t in zip(counts, totals)]
            ax.barh(ys, shares, left=left, color=color, label=label, height=0.6, edgecolor="white", linewidth=0.8)
            for y, l0, share, count in zip(ys, left, shares, counts):
                if share >= 0.07:
                    ax.text(l0 + share / 2, y, f"{share * 100:.0f}% ({count:.0f})", ha="center", va="center",
                            color="white" if key != "abstained" else "#222222", fontsize=8)
            left = [a + b for a, b in zip(left, shares)]
        ax.set_yticks(ys, labels)
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3)

    return ch.draw("chart-outcomes", draw, 6.4, 1.2 + 0.45 * len(rows))


def _similarity_chart(ch: _Charts, bot: list[float], human: list[float]) -> str:
    import numpy as np

    def draw(fig) -> None:
        ax = fig.add_subplot()
        lo = max(-1.0, math.floor(min(bot + human) * 10) / 10)
        hi = max(1.0, math.ceil(max(bot + human) * 10) / 10)
        lo = min(lo, hi - 0.1)  # one value, or all the same
        bins = np.linspace(lo, hi, int(round((hi - lo) / 0.025)) + 1)
        ax.hist(bot, bins=bins, color=BOT_COLOR, alpha=0.75, label=f"bot vs human reply (n={len(bot)})")
        ax.axvline(float(np.mean(bot)), color=BOT_COLOR, linestyle="--", linewidth=1.2,
                   label=f"bot mean {np.mean(bot):.3f}")
        if human:
            ax.hist(human, bins=bins, histtype="step", color=HUMAN_COLOR, linewidth=1.8,
                    label=f"human baseline: other agents (n={len(human)})")
            ax.axvline(float(np.mean(human)), color=HUMAN_COLOR, linestyle=":", linewidth=1.4,
                       label=f"human baseline mean {np.mean(human):.3f}")
        ax.set_xlabel("cosine similarity to the agent's real reply")
        ax.set_ylabel("turns")
        ax.set_xlim(lo, hi)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, fontsize=8)

    return ch.draw("chart-similarity", draw, 6.4, 3.2)


def _grouped_chart(ch: _Charts, chart_id: str, groups: list[tuple[str, dict]], metrics: list[tuple[str, str]],
                   count_key: str) -> str:
    import numpy as np

    def draw(fig) -> None:
        ax = fig.add_subplot()
        x = np.arange(len(metrics))
        width = 0.8 / max(1, len(groups))
        for i, (name, s) in enumerate(groups):
            values = [_num(s.get(k)) for k, _ in metrics]
            heights = [v if v is not None else 0.0 for v in values]
            n = _num(s.get(count_key))
            label = ch.label(name, f"group {i}") + (f" (n={n:.0f})" if n is not None else "")
            pos = x - 0.4 + width * (i + 0.5)
            ax.bar(pos, heights, width * 0.92, color=LANG_COLORS[i % len(LANG_COLORS)], label=label)
            for p, v in zip(pos, values):
                ax.text(p, (v or 0.0) + 0.01, DASH if v is None else f"{v:.2f}", ha="center", va="bottom",
                        fontsize=7, color="#333333")
        ax.set_xticks(x, [label for _, label in metrics])
        ax.set_ylim(0, 1.12)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        ax.grid(axis="x", visible=False)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=min(4, len(groups)))

    return ch.draw(chart_id, draw, 6.4, 3.2)


def _intents_chart(ch: _Charts, intents: list[tuple[str, dict]]) -> str:
    import numpy as np

    def draw(fig) -> None:
        ax = fig.add_subplot()
        y = np.arange(len(intents))[::-1]
        sim = [_num(s.get("similarity_mean")) or 0.0 for _, s in intents]
        ans = [_num(s.get("answered_rate")) or 0.0 for _, s in intents]
        ax.barh(y + 0.2, sim, 0.38, color=BOT_COLOR, label="similarity mean")
        ax.barh(y - 0.2, ans, 0.38, color=OUTCOMES[0][2], label="answered rate")
        labels = []
        for i, (name, s) in enumerate(intents):
            n = _num(s.get("turns"))
            labels.append(ch.label(name, f"intent #{i + 1}") + (f" ({n:.0f})" if n is not None else ""))
        ax.set_yticks(y, labels)
        ax.set_xlim(0, 1)
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2)

    return ch.draw("chart-intents", draw, 11.0, 1.0 + 0.24 * len(intents))


def _latency_chart(ch: _Charts, ms: list[float], p50: float | None, p95: float | None) -> str:
    def draw(fig) -> None:
        ax = fig.add_subplot()
        ax.hist(ms, bins=min(40, max(5, len(ms) // 3)), color="#6a5acd", alpha=0.8, label=f"turns (n={len(ms)})")
        if p50 is not None:
            ax.axvline(p50, color="#222222", linestyle="--", linewidth=1.2, label=f"p50 {p50:,.1f} ms")
        if p95 is not None:
            ax.axvline(p95, color="#c62828", linestyle=":", linewidth=1.4, label=f"p95 {p95:,.1f} ms")
        ax.set_xlabel("milliseconds per turn")
        ax.set_ylabel("count")
        ax.set_xlim(left=0)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, fontsize=8)

    return ch.draw("chart-latency", draw, 6.4, 3.0)


def _ranks_chart(ch: _Charts, summary: dict, turns: list[dict]) -> str:
    ranks = [t.get("rank") for t in turns if isinstance(t, dict)]
    if ranks:
        counts = [sum(r == 1 for r in ranks), sum(isinstance(r, int) and 2 <= r <= 5 for r in ranks),
                  sum(isinstance(r, int) and r > 5 for r in ranks), sum(r is None for r in ranks)]
        labels = ["rank 1", "rank 2–5", "rank 6+", "not found"]
    else:
        n = _num(summary.get("questions")) or 0.0
        h1, h5 = _num(summary.get("hit@1")) or 0.0, _num(summary.get("hit@5")) or 0.0
        counts = [round(h1 * n), round((h5 - h1) * n), round((1 - h5) * n)]
        labels = ["rank 1", "rank 2–5", "not in top 5"]
    colors = ["#2e7d32", "#7cb342", "#f0a30a", "#c62828"][:len(counts)]

    def draw(fig) -> None:
        ax = fig.add_subplot()
        bars = ax.bar(labels, counts, color=colors, width=0.6)
        ax.bar_label(bars, [f"{c:.0f}" for c in counts], fontsize=8, padding=2)
        ax.set_ylabel("questions")
        ax.set_ylim(0, max(counts + [1]) * 1.15)
        ax.grid(axis="x", visible=False)

    return ch.draw("chart-ranks", draw, 6.4, 3.0)


# ---------------------------------------------------------------------------------------------- HTML parts

CSS = """
:root { --fg: #1d2330; --muted: #5d6677; --line: #dfe3ea; --bg: #f5f7fa; --card: #ffffff;
  --good: #2e7d32; --bad: #c62828; --warn: #9a6700; --accent: #1f77b4; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.45; font-size: 14px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK SC", "PingFang SC",
  "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 0 0 8px; color: var(--muted); font-weight: 600; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.meta { color: var(--muted); margin: 2px 0; overflow-wrap: anywhere; }
.meta code { color: var(--fg); background: #eceff4; padding: 1px 5px; border-radius: 4px; }
dl.data { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 6px 18px;
  margin: 14px 0 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
dl.data div { min-width: 0; }
dl.data dt { color: var(--muted); font-size: 12px; }
dl.data dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
.skipped { margin: 10px 0 0; color: var(--muted); font-size: 13px; }
.skipped ul { margin: 4px 0 0; padding-left: 20px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card .label { color: var(--muted); font-size: 12px; }
.card .value { font-size: 22px; font-weight: 650; margin-top: 2px; font-variant-numeric: tabular-nums; }
.card .sub { color: var(--muted); font-size: 11.5px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 14px;
  align-items: start; }
figure.chart { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 12px 14px; min-width: 0; }
figure.chart.wide { grid-column: 1 / -1; }
figure.chart svg { display: block; width: 100%; height: auto; }
figure.chart svg * { stroke-linejoin: round; stroke-linecap: butt; }
figure.chart .empty { color: var(--muted); font-style: italic; margin: 24px 0; }
table { border-collapse: collapse; width: 100%; background: var(--card); font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f6; font-weight: 600; position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; }
.table-wrap.tall { max-height: 640px; overflow-y: auto; }
tr.regression td { color: var(--bad); font-weight: 600; }
.pos { color: var(--good); } .neg { color: var(--bad); }
#regressions { margin: 10px 0 14px; padding: 10px 14px; border-radius: 8px; }
#regressions.bad { background: #fdecea; border: 1px solid #f5c2bd; color: var(--bad); }
#regressions.ok { background: #edf7ed; border: 1px solid #c3e6c3; color: var(--good); }
#regressions ul { margin: 4px 0 0; padding-left: 20px; }
.worst-example { background: var(--card); border: 1px solid var(--line); border-radius: 8px; margin: 0 0 12px;
  overflow: hidden; }
.worst-example header { display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: baseline; padding: 7px 12px;
  background: #eef1f6; font-size: 12.5px; color: var(--muted); }
.worst-example header b { color: var(--fg); }
.worst-example .cols { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); }
.worst-example .col { padding: 10px 12px; border-right: 1px solid var(--line); min-width: 0; }
.worst-example .col:last-child { border-right: 0; }
.worst-example h4 { margin: 0 0 6px; font-size: 12px; text-transform: uppercase; letter-spacing: .04em;
  color: var(--muted); }
.msg { white-space: pre-wrap; overflow-wrap: anywhere; }
.context { margin: 0 0 8px; padding: 0 0 0 10px; border-left: 3px solid var(--line); color: var(--muted);
  font-size: 12.5px; list-style: none; }
.context li { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0 0 3px; }
.cites { margin: 8px 0 0; padding-left: 18px; font-size: 12px; color: var(--muted); }
.cites li { overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 11.5px; font-weight: 600;
  background: #e3e7ee; color: var(--fg); }
.badge.answered { background: #e3f1e4; color: var(--good); }
.badge.abstained { background: #fff3d6; color: var(--warn); }
.badge.handed_off { background: #fdecea; color: var(--bad); }
.metrics { display: flex; flex-wrap: wrap; gap: 4px 14px; padding: 7px 12px; border-top: 1px solid var(--line);
  font-size: 12px; color: var(--muted); }
.metrics b { color: var(--fg); font-variant-numeric: tabular-nums; }
details.turns summary { cursor: pointer; font-weight: 600; padding: 8px 0; }
td.text { min-width: 220px; max-width: 420px; overflow-wrap: anywhere; }
.note { color: var(--muted); font-size: 12.5px; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
@media (max-width: 820px) { .worst-example .cols { grid-template-columns: 1fr; }
  .worst-example .col { border-right: 0; border-bottom: 1px solid var(--line); }
  .charts { grid-template-columns: 1fr; } }
@media print { body { background: #fff; } details.turns[open] .table-wrap.tall { max-height: none; } }
"""


def _header(result: dict, title: str) -> str:
    data = _d(result.get("data"))
    parts = [f"<h1>{_esc(title)}</h1>",
             f'<p class="meta">Created {_fmt(result.get("created"))}</p>']
    if result.get("command"):
        parts.append(f'<p class="meta">Command <code>{_esc(result["command"])}</code></p>')
    items = []
    known = {key for key, _ in DATA_KEYS} | {"skipped"}
    for key, label in DATA_KEYS:
        if key in data:
            items.append((label, _fmt(data[key], key)))
    for key, value in data.items():
        if key not in known and not isinstance(value, dict):
            items.append((str(key).replace("_", " "), _fmt(value, str(key))))
    if items:
        parts.append('<dl class="data">' + "".join(f"<div><dt>{_esc(label)}</dt><dd>{value}</dd></div>"
                                                   for label, value in items) + "</dl>")
    skipped = _d(data.get("skipped"))
    if skipped:
        total = sum(_num(v) or 0 for v in skipped.values())
        rows = "".join(f"<li>{_esc(reason)}: <b>{_fmt(n)}</b></li>"
                       for reason, n in sorted(skipped.items(), key=lambda kv: -(_num(kv[1]) or 0)))
        parts.append(f'<div class="skipped">Skipped {_fmt(int(total))} turn(s):<ul>{rows}</ul></div>')
    return "<header>" + "".join(parts) + "</header>"


def _card(label: str, value: str, sub: str = "") -> str:
    sub_html = f'<div class="sub">{sub}</div>' if sub else ""
    return f'<div class="card"><div class="label">{_esc(label)}</div><div class="value">{value}</div>{sub_html}</div>'


def _cards(kind: str, s: dict) -> str:
    if kind == "retrieval":
        cards = [_card("Questions", _fmt(s.get("questions"))), _card("hit@1", _fmt(s.get("hit@1"), "hit@1")),
                 _card("hit@5", _fmt(s.get("hit@5"), "hit@5")), _card("MRR", _fmt(s.get("mrr"), "mrr")),
                 _card("Latency p50", _fmt(s.get("latency_p50_ms"), "latency_p50_ms")),
                 _card("Latency p95", _fmt(s.get("latency_p95_ms"), "latency_p95_ms"))]
    else:
        judge = _d(s.get("judge"))
        judge_value = " / ".join(_fmt(judge.get(k)) for k in ("win", "tie", "loss")) if judge else DASH
        cards = [
            _card("Turns", _fmt(s.get("turns"))),
            _card("Answered", _fmt(s.get("answered_rate"), "answered_rate"), f"{_fmt(s.get('answered'))} turns"),
            _card("Abstained", _fmt(s.get("abstained_rate"), "abstained_rate"), f"{_fmt(s.get('abstained'))} turns"),
            _card("Handed off", _fmt(s.get("handed_off_rate"), "handed_off_rate"),
                  f"{_fmt(s.get('handed_off'))} turns"),
            _card("Similarity", _fmt(s.get("similarity_mean"), "similarity_mean"),
                  f"answered only {_fmt(s.get('similarity_answered_mean'), 'similarity_answered_mean')}"
                  if "similarity_answered_mean" in s else "mean, all turns"),
            _card("chrF", _fmt(s.get("chrf_mean"), "chrf_mean"), "mean"),
            _card("ROUGE-L", _fmt(s.get("rouge_l_mean"), "rouge_l_mean"), "mean"),
            _card("Groundedness", _fmt(s.get("groundedness_mean"), "groundedness_mean"), "answered turns"),
            _card("As close as a human", _fmt(s.get("as_close_as_human_rate"), "as_close_as_human_rate"),
                  f"of {_fmt(s.get('human_baseline_turns'))} labelled turns"),
            _card("Intent accuracy", _fmt(s.get("intent_accuracy"), "intent_accuracy")),
            _card("Latency p50", _fmt(s.get("latency_p50_ms"), "latency_p50_ms")),
            _card("Latency p95", _fmt(s.get("latency_p95_ms"), "latency_p95_ms")),
            _card("Judge win / tie / loss", judge_value),
        ]
    return '<section><h2>Headline numbers</h2><div class="cards">' + "".join(cards) + "</div></section>"


def _figure(chart_id: str, title: str, svg: str | None, empty: str, note: str = "", wide: bool = False) -> str:
    body = svg if svg else f'<p class="empty">{_esc(empty)}</p>'
    note_html = f'<p class="note">{_esc(note)}</p>' if note else ""
    cls = "chart wide" if wide else "chart"
    return (f'<figure class="{cls}" id="{chart_id}"><h3 id="{chart_id}-title">{_esc(title)}</h3>'
            f"{body}{note_html}</figure>")


def _groups(result: dict, key: str) -> list[tuple[str, dict]]:
    return [(str(name), s) for name, s in _d(result.get(key)).items() if isinstance(s, dict)]


def _charts(kind: str, result: dict, turns: list[dict]) -> str:
    ch = _Charts()
    s = _d(result.get("summary"))
    langs = _groups(result, "by_language")
    figures = []
    timings = [v for v in (_num(t.get("ms")) for t in turns) if v is not None]
    if kind == "retrieval":
        has_counts = turns or _num(s.get("questions"))
        figures.append(_figure("chart-ranks", "Rank of the first expected source",
                               _ranks_chart(ch, s, turns) if has_counts else None, "No questions."))
        groups = [("all", s)] + langs if s else langs
        figures.append(_figure("chart-languages", "Retrieval quality by language",
                               _grouped_chart(ch, "chart-languages", groups, list(RETRIEVAL_METRICS), "questions")
                               if groups else None, "No per-language results."))
    else:
        rows = ([("all", s)] if s else []) + langs
        has_outcomes = any(_num(r.get(k)) for _, r in rows for k, _, _ in OUTCOMES)
        figures.append(_figure("chart-outcomes", "Outcomes (overall and by language)",
                               _outcomes_chart(ch, rows) if has_outcomes else None, "No turns."))
        bot = [v for v in (_num(t.get("similarity")) for t in turns) if v is not None]
        human = [v for v in (_num(t.get("human_baseline")) for t in turns) if v is not None]
        note = "" if human else "No human baseline (needs intent-labelled turns with other agents' replies)."
        figures.append(_figure("chart-similarity", "Similarity of the bot's reply to the agent's real reply",
                               _similarity_chart(ch, bot, human) if bot else None, "No scored turns.", note))
        metrics = [(k, label) for k, label in REPLAY_METRICS
                   if any(_num(g.get(k)) is not None for _, g in [("all", s)] + langs)]
        groups = [("all", s)] + langs if s else langs
        figures.append(_figure("chart-languages", "Main metrics by language",
                               _grouped_chart(ch, "chart-languages", groups, metrics, "turns")
                               if groups and metrics else None, "No per-language results."))
    figures.append(_figure("chart-latency", "Latency", _latency_chart(ch, timings, _num(s.get("latency_p50_ms")),
                                                                     _num(s.get("latency_p95_ms")))
                           if timings else None, "No timings."))
    intents = sorted(_groups(result, "by_intent"), key=lambda kv: -(_num(kv[1].get("turns")) or 0))
    if kind == "replay" and intents:
        top = intents[:MAX_INTENT_BARS]
        figures.append(_figure("chart-intents", f"By intent (top {len(top)} by turns; turns in brackets)",
                               _intents_chart(ch, top), "No intents.", wide=True))
    return '<section><h2>Charts</h2><div class="charts">' + "".join(figures) + "</div></section>"


def _table(columns: list[tuple[str, str]], rows: Iterable[tuple[str, dict]], first: str) -> str:
    head = f"<th>{_esc(first)}</th>" + "".join(f'<th class="num">{_esc(label)}</th>' for _, label in columns)
    body = "".join(f"<tr><td>{_esc(name)}</td>" + "".join(f'<td class="num">{_fmt(row.get(k), k)}</td>'
                                                          for k, _ in columns) + "</tr>"
                   for name, row in rows)
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _breakdowns(kind: str, result: dict) -> str:
    s = _d(result.get("summary"))
    langs = _groups(result, "by_language")
    if kind == "retrieval":
        cols = [("questions", "Questions"), ("hit@1", "hit@1"), ("hit@5", "hit@5"), ("mrr", "MRR"),
                ("latency_p50_ms", "p50"), ("latency_p95_ms", "p95")]
    else:
        cols = [("turns", "Turns"), ("answered_rate", "Answered"), ("abstained_rate", "Abstained"),
                ("handed_off_rate", "Handed off"), ("similarity_mean", "Similarity"), ("chrf_mean", "chrF"),
                ("rouge_l_mean", "ROUGE-L"), ("groundedness_mean", "Grounded"),
                ("as_close_as_human_rate", "As close as human"), ("intent_accuracy", "Intent acc."),
                ("latency_p50_ms", "p50"), ("latency_p95_ms", "p95")]
    parts = ["<section><h2>By language</h2>", _table(cols, [("all", s)] + langs, "Language"), "</section>"]
    intents = sorted(_groups(result, "by_intent"), key=lambda kv: -(_num(kv[1].get("turns")) or 0))
    if intents:
        parts += ["<section><h2>By intent</h2>", _table(cols, intents, "Intent"), "</section>"]
    return "".join(parts)


def _baseline(result: dict) -> str:
    base = result.get("baseline")
    if not isinstance(base, dict):
        return ""
    s = _d(result.get("summary"))
    tolerance = _d(base.get("tolerance"))
    deltas = _d(base.get("deltas"))
    regressions = [str(r) for r in _l(base.get("regressions"))]
    if regressions:
        items = "".join(f"<li>{_esc(r)}</li>" for r in regressions)
        box = f'<div id="regressions" class="bad"><b>{len(regressions)} regression(s)</b><ul>{items}</ul></div>'
    else:
        box = '<div id="regressions" class="ok">No regressions beyond tolerance.</div>'
    rows = []
    for key in dict.fromkeys(list(deltas) + list(tolerance)):
        delta, tol, now = _num(deltas.get(key)), _num(tolerance.get(key)), _num(s.get(key))
        before = now - delta if now is not None and delta is not None else None
        regressed = delta is not None and tol is not None and delta < -tol
        status = DASH if delta is None else "regression" if regressed else "improved" if delta > 0 else \
            "within tolerance"
        sign = "pos" if delta is not None and delta > 0 else "neg" if delta is not None and delta < 0 else ""
        delta_text = DASH if delta is None else f"{delta:+.4f}"
        rows.append(f'<tr class="{"regression" if regressed else ""}"><td>{_esc(key)}</td>'
                    f'<td class="num">{_fmt(before, key)}</td><td class="num">{_fmt(now, key)}</td>'
                    f'<td class="num {sign}">{delta_text}</td><td class="num">{_fmt(tol)}</td>'
                    f"<td>{_esc(status)}</td></tr>")
    table = ('<div class="table-wrap"><table><thead><tr><th>Metric</th><th class="num">Baseline</th>'
             '<th class="num">Now</th><th class="num">Delta</th><th class="num">Tolerance</th><th>Status</th>'
             f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')
    path = f'<p class="meta">Compared with <code>{_esc(base["path"])}</code></p>' if base.get("path") else ""
    return f"<section><h2>Baseline comparison</h2>{path}{box}{table}</section>"


def _citations(cites: Any) -> str:
    items = []
    for c in _l(cites):
        if isinstance(c, dict):
            title, uri = c.get("title"), c.get("uri")
            text = _esc(title) if title else ""
            if uri:
                text += f' <code>{_esc(uri)}</code>' if text else f"<code>{_esc(uri)}</code>"
            items.append(f"<li>{text or DASH}</li>")
        elif c:
            items.append(f"<li>{_esc(c)}</li>")
    return f'<ol class="cites">{"".join(items)}</ol>' if items else ""


def _badge(outcome: Any) -> str:
    if not outcome:
        return ""
    cls = outcome if outcome in ("answered", "abstained", "handed_off") else ""
    return f'<span class="badge {cls}">{_esc(str(outcome).replace("_", " "))}</span>'


def _worst_replay(t: dict) -> str:
    context = "".join(f"<li>{_esc(c)}</li>" for c in _l(t.get("context")) if c is not None)
    context_html = f'<ol class="context">{context}</ol>' if context else ""
    intent = t.get("intent")
    predicted = t.get("predicted_intent")
    head = [f"<span>conversation <b>{_fmt(t.get('conversation'))}</b></span>",
            f"<span>turn <b>{_fmt(t.get('turn'))}</b></span>", f"<span>lang <b>{_fmt(t.get('lang'))}</b></span>"]
    if intent or predicted:
        head.append(f"<span>intent <b>{_fmt(intent)}</b>"
                    + (f" (predicted <b>{_fmt(predicted)}</b>)" if predicted and predicted != intent else "")
                    + "</span>")
    head.append(f"<span>{_badge(t.get('outcome'))} <span class=\"mono\">{_fmt(t.get('mode'))}</span></span>")
    metric_keys = (("similarity", "similarity"), ("chrf", "chrF"), ("rouge_l", "ROUGE-L"),
                   ("groundedness", "grounded"), ("human_baseline", "human baseline"),
                   ("as_close_as_human", "as close as human"), ("confidence", "confidence"), ("ms", "latency"))
    metrics = "".join(f"<span>{_esc(label)} <b>{_fmt(t.get(k), k)}</b></span>" for k, label in metric_keys)
    return ('<article class="worst-example"><header>' + "".join(head) + '</header><div class="cols">'
            f'<div class="col"><h4>Customer</h4>{context_html}<div class="msg">{_fmt(t.get("question"))}</div></div>'
            f'<div class="col"><h4>Human agent</h4><div class="msg">{_fmt(t.get("human"))}</div></div>'
            f'<div class="col"><h4>Bot</h4><div class="msg">{_fmt(t.get("bot"))}</div>'
            f'{_citations(t.get("citations"))}</div>'
            f'</div><div class="metrics">{metrics}</div></article>')


def _worst_retrieval(t: dict) -> str:
    expected = "".join(f"<li><code>{_esc(e)}</code></li>" for e in _l(t.get("expected")) or
                       ([t["expected"]] if isinstance(t.get("expected"), str) else []))
    rank = t.get("rank")
    head = (f"<span>lang <b>{_fmt(t.get('lang'))}</b></span>"
            f"<span>rank <b>{_fmt(rank) if rank is not None else 'not found'}</b></span>"
            f"<span>latency <b>{_fmt(t.get('ms'), 'ms')}</b></span>")
    return ('<article class="worst-example"><header>' + head + '</header><div class="cols">'
            f'<div class="col"><h4>Question</h4><div class="msg">{_fmt(t.get("question"))}</div></div>'
            f'<div class="col"><h4>Expected</h4><ul class="cites">{expected}</ul></div>'
            f'<div class="col"><h4>Retrieved (top)</h4>{_citations(t.get("got")) or DASH}</div>'
            "</div></article>")


def _worst(kind: str, result: dict) -> str:
    worst = [t for t in _l(result.get("worst")) if isinstance(t, dict)]
    title = "Misses (expected source not ranked first)" if kind == "retrieval" else \
        "Worst examples (lowest similarity first)"
    if not worst:
        return f'<section><h2>{_esc(title)}</h2><p class="note">None.</p></section>'
    render = _worst_retrieval if kind == "retrieval" else _worst_replay
    return f"<section><h2>{_esc(title)}</h2>" + "".join(render(t) for t in worst) + "</section>"


def _turn_table(kind: str, turns: list[dict]) -> str:
    if not turns:
        return ""
    shown = turns[:MAX_TABLE_ROWS]
    if kind == "retrieval":
        head = ["#", "Lang", "Rank", "Latency", "Question", "Expected", "Top result"]
        rows = []
        for i, t in enumerate(shown, 1):
            got = _l(t.get("got"))
            top = _d(got[0]) if got else {}
            rows.append(f'<tr><td class="num">{i}</td><td>{_fmt(t.get("lang"))}</td>'
                        f'<td class="num">{_fmt(t.get("rank"))}</td><td class="num">{_fmt(t.get("ms"), "ms")}</td>'
                        f'<td class="text">{_fmt(_truncate(t.get("question")))}</td>'
                        f'<td class="text">{_fmt(t.get("expected"))}</td>'
                        f'<td class="text">{_fmt(top.get("title") or top.get("uri"))}</td></tr>')
    else:
        head = ["Conversation", "Turn", "Lang", "Intent", "Outcome", "Mode", "Similarity", "chrF", "ROUGE-L",
                "Grounded", "Human baseline", "Latency", "Question", "Bot reply"]
        rows = []
        for t in shown:
            cells = [f"<td>{_fmt(t.get('conversation'))}</td>", f'<td class="num">{_fmt(t.get("turn"))}</td>',
                     f"<td>{_fmt(t.get('lang'))}</td>", f"<td>{_fmt(t.get('intent'))}</td>",
                     f"<td>{_badge(t.get('outcome')) or DASH}</td>", f"<td>{_fmt(t.get('mode'))}</td>"]
            cells += [f'<td class="num">{_fmt(t.get(k), k)}</td>'
                      for k in ("similarity", "chrf", "rouge_l", "groundedness", "human_baseline", "ms")]
            cells += [f'<td class="text">{_fmt(_truncate(t.get("question")))}</td>',
                      f'<td class="text">{_fmt(_truncate(t.get("bot")))}</td>']
            rows.append("<tr>" + "".join(cells) + "</tr>")
    nums = {"#", "Turn", "Rank", "Latency", "Similarity", "chrF", "ROUGE-L", "Grounded", "Human baseline"}
    head_html = "".join(f'<th class="num">{h}</th>' if h in nums else f"<th>{h}</th>" for h in head)
    label = "questions" if kind == "retrieval" else "turns"
    cap = (f'<p class="note">Showing the first {len(shown):,} of {len(turns):,} {label}; the JSON has them all.</p>'
           if len(turns) > len(shown) else "")
    return (f'<section><h2>All {label}</h2><details class="turns"><summary>Show all {len(turns):,} {label}</summary>'
            f'{cap}<div class="table-wrap tall"><table><thead><tr>{head_html}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div></details></section>')


# ---------------------------------------------------------------------------------------------- entry point

def render_html(result: dict, *, title: str | None = None) -> str:
    """One self-contained HTML page for an evaluation ``result`` (``kind`` "replay" or "retrieval")."""
    result = _d(result)
    kind = "retrieval" if result.get("kind") == "retrieval" else "replay"
    title = title or ("kefu retrieval evaluation" if kind == "retrieval" else "kefu replay evaluation")
    turns = [t for t in _l(result.get("turns")) if isinstance(t, dict)]
    body = [_header(result, title), _cards(kind, _d(result.get("summary"))), _baseline(result),
            _charts(kind, result, turns), _breakdowns(kind, result), _worst(kind, result), _turn_table(kind, turns),
            "<footer>Generated by kefu. Self-contained: opens offline; nothing is loaded from the network.</footer>"]
    return ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_esc(title)}</title><style>{CSS}</style></head>"
            f'<body><main>{"".join(body)}</main></body></html>\n')


# Shared with the analytics reports (kefu.analytics.report): one chart style, one page style.
Charts = _Charts
card = _card
figure = _figure
esc = _esc
