"""The HTML report of an evaluation: self-contained, charts as inline SVG, every data text escaped."""
from __future__ import annotations

import random
import re
import sys
from html.parser import HTMLParser

import pytest

from kefu.eval.report import MAX_TABLE_ROWS, render_html

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
INTENTS = ["cancel_order", "return_item", "shipping_time", "退款进度", "invoice", "change_address", "password_reset",
           "coupon", "warranty", "payment_failed", "track_parcel", "size_guide", "store_hours", "gift_card",
           "membership", "complaint", "price_match"]
OUTCOMES = [("answered", "faq"), ("answered", "extractive"), ("answered", "generated"), ("abstained", "abstain"),
            ("handed_off", "handoff")]


def _summary(turns: list[dict]) -> dict:
    n = len(turns)
    out: dict = {"turns": n}
    for outcome in ("answered", "abstained", "handed_off"):
        out[outcome] = sum(t["outcome"] == outcome for t in turns)
        out[f"{outcome}_rate"] = round(out[outcome] / n, 4) if n else None

    def mean(values):
        values = [v for v in values if v is not None]
        return round(sum(values) / len(values), 4) if values else None

    for key in ("similarity", "chrf", "rouge_l", "groundedness"):
        out[f"{key}_mean"] = mean([t[key] for t in turns])
    out["similarity_answered_mean"] = mean([t["similarity"] for t in turns if t["outcome"] == "answered"])
    labelled = [t for t in turns if t["as_close_as_human"] is not None]
    out["human_baseline_turns"] = len(labelled)
    out["human_baseline_mean"] = mean([t["human_baseline"] for t in labelled])
    out["as_close_as_human_rate"] = round(sum(t["as_close_as_human"] for t in labelled) / len(labelled), 4) \
        if labelled else None
    out["intent_accuracy"] = 0.9 if any(t["intent"] for t in turns) else None
    ms = sorted(t["ms"] for t in turns)
    out["latency_p50_ms"] = ms[len(ms) // 2] if ms else None
    out["latency_p95_ms"] = ms[int(len(ms) * 0.95)] if ms else None
    out["judge"] = None
    return out


def replay_result(n: int = 97, *, intents: bool = True, human: bool = True, baseline: bool = True,
                  seed: int = 0) -> dict:
    """A replay result of the shape ``kefu eval replay --json`` writes, with made-up numbers."""
    rng = random.Random(seed)
    turns = []
    for i in range(n):
        zh = i % 3 == 0
        outcome, mode = rng.choice(OUTCOMES)
        sim = round(min(1.0, max(0.55, rng.gauss(0.86, 0.07))), 4)
        base = round(min(1.0, max(0.6, rng.gauss(0.88, 0.05))), 4) if human and i % 2 == 0 else None
        turns.append({
            "conversation": f"c{i // 2:04d}", "turn": 2 * (i % 2) + 1, "lang": "zh" if zh else "en",
            "intent": rng.choice(INTENTS) if intents else None, "predicted_intent": None,
            "context": ["你好，我想问一下订单" if zh else "Hi, a question about my order"] if i % 2 else [],
            "question": "我的退款什么时候到账？" if zh else f"When will my refund arrive? (order {i})",
            "human": "退款将在3-5个工作日内原路返回。" if zh else "Refunds reach your card within 3-5 working days.",
            "bot": "退款通常在3到5个工作日内到账。" if zh else "Refunds usually take 3-5 business days.",
            "outcome": outcome, "mode": mode, "confidence": round(rng.uniform(0.3, 0.99), 3), "similarity": sim,
            "chrf": round(rng.uniform(0.1, 0.6), 4), "rouge_l": round(rng.uniform(0.1, 0.6), 4),
            "groundedness": 1.0 if outcome == "answered" else None, "human_baseline": base,
            "as_close_as_human": (sim >= base) if base is not None else None, "ms": round(rng.uniform(20, 180), 1),
            "citations": [{"title": "退款政策" if zh else "Refund policy", "uri": "kb/policies/refunds.md"}]
            if outcome == "answered" else []})
    by_lang = {lang: _summary([t for t in turns if t["lang"] == lang]) for lang in ("en", "zh")}
    by_intent = {}
    for name in INTENTS if intents else []:
        ts = [t for t in turns if t["intent"] == name]
        if ts:
            by_intent[name] = _summary(ts)
    result = {
        "kind": "replay", "created": "2026-11-29T02:30:00+00:00",
        "command": "kefu eval replay chats.jsonl --report report.html",
        "data": {"path": "examples/demo-kb/chatlogs/chats.jsonl", "format": "chatlog", "conversations": 200,
                 "train_conversations": 160, "heldout_conversations": 40, "turns": n, "seed": 0, "holdout": 0.2,
                 "knowledge": ["examples/demo-kb/faq"], "skipped": {"greeting or thanks only": 12,
                                                                     "no agent reply": 3}},
        "summary": _summary(turns), "by_language": by_lang,
        "by_intent": dict(sorted(by_intent.items(), key=lambda kv: -kv[1]["turns"])),
        "worst": sorted(turns, key=lambda t: t["similarity"])[:10], "turns": turns, "baseline": None}
    if baseline:
        result["baseline"] = {
            "path": "old.json", "tolerance": {"similarity_mean": 0.02, "chrf_mean": 0.02, "rouge_l_mean": 0.02,
                                              "answered_rate": 0.05, "as_close_as_human_rate": 0.05},
            "deltas": {"similarity_mean": -0.05, "chrf_mean": 0.01, "rouge_l_mean": -0.01, "answered_rate": 0.03},
            "regressions": ["similarity_mean fell 0.0500 (0.83 -> 0.78), tolerance 0.02"]}
    return result


def retrieval_result(n: int = 40) -> dict:
    rng = random.Random(1)
    items = []
    for i in range(n):
        rank = rng.choice([1, 1, 1, 2, 3, 7, None])
        zh = i % 2 == 0
        items.append({"question": "怎么退货？" if zh else f"How do I return item {i}?", "expected": ["returns"],
                      "lang": "zh" if zh else "en", "rank": rank, "ms": round(rng.uniform(5, 40), 1),
                      "got": [{"title": "退货政策" if zh else "Returns policy", "uri": "kb/policies/returns.md"}]})

    def summary(xs):
        ranks = [x["rank"] for x in xs]
        return {"questions": len(xs), "hit@1": round(sum(r == 1 for r in ranks) / len(xs), 4),
                "hit@5": round(sum(r is not None and r <= 5 for r in ranks) / len(xs), 4),
                "mrr": round(sum(1 / r for r in ranks if r) / len(xs), 4), "latency_p50_ms": 12.3,
                "latency_p95_ms": 35.0}

    return {"kind": "retrieval", "created": "2026-11-29T02:30:00+00:00", "command": "kefu eval retrieval q.jsonl",
            "data": {"path": "q.jsonl", "format": "questions", "questions": n, "mode": "hybrid", "k": 10},
            "summary": summary(items),
            "by_language": {lang: summary([x for x in items if x["lang"] == lang]) for lang in ("en", "zh")},
            "worst": [x for x in items if x["rank"] != 1][:20], "turns": items}


class _Checker(HTMLParser):
    """Tags well nested (void elements aside), ids unique, attribute values that could load a resource."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: dict[str, int] = {}
        self.ids: dict[str, int] = {}
        self.resources: list[str] = []
        self.decl: str | None = None

    def handle_decl(self, decl: str) -> None:
        self.decl = decl

    def _attrs(self, tag: str, attrs) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for name, value in attrs:
            if name == "id":
                self.ids[value] = self.ids.get(value, 0) + 1
            if name in ("src", "href", "xlink:href", "srcset", "action", "poster", "data") and value:
                self.resources.append(value)

    def handle_starttag(self, tag, attrs):
        self._attrs(tag, attrs)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self._attrs(tag, attrs)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()


def check(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.decl is not None and checker.decl.lower() == "doctype html"
    assert not checker.errors, checker.errors[:5]
    assert not checker.stack, f"unclosed: {checker.stack}"
    assert checker.tags.get("html") == checker.tags.get("head") == checker.tags.get("body") == 1
    assert "script" not in checker.tags and "link" not in checker.tags and "iframe" not in checker.tags
    duplicated = [i for i, n in checker.ids.items() if n > 1]
    assert not duplicated, duplicated[:5]
    # the only references are fragments inside the same page (the SVG's markers and clip paths)
    assert all(r.startswith("#") for r in checker.resources), [r for r in checker.resources if r[0] != "#"][:5]
    return checker


def chart(page: str, chart_id: str) -> str:
    match = re.search(rf'<figure class="chart[^"]*" id="{chart_id}">(.*?)</figure>', page, flags=re.S)
    assert match, f"no {chart_id}"
    return match.group(1)


def test_replay_report_has_every_part():
    page = render_html(replay_result())
    checker = check(page)
    for chart_id in ("chart-outcomes", "chart-similarity", "chart-languages", "chart-intents", "chart-latency"):
        svg = chart(page, chart_id)
        assert svg.startswith(f'<h3 id="{chart_id}-title">') and "<svg" in svg and "</svg>" in svg
        assert "<path" in svg or "<rect" in svg
    assert checker.tags["svg"] == 5
    assert page.count('class="worst-example"') == 10
    assert 'id="regressions" class="bad"' in page and "similarity_mean fell 0.0500" in page
    assert "http://" not in page and "https://" not in page  # not even the SVG namespace URLs
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page and "<metadata" not in page
    assert "kefu replay evaluation" in page and "kefu eval replay chats.jsonl --report report.html" in page
    assert "greeting or thanks only" in page and "Skipped 15 turn(s)" in page
    assert "退款进度" in page and "退款将在3-5个工作日内原路返回。" in page  # CJK as text, not entities
    assert "human baseline: other agents" in chart(page, "chart-similarity")  # the overlay's legend
    assert "font-family" in chart(page, "chart-intents")


def installed_cjk_font() -> str | None:
    from matplotlib import font_manager

    from kefu.eval.report import CJK_FONTS

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def test_chinese_chart_labels_use_a_cjk_font():
    page = render_html(replay_result())
    intents = chart(page, "chart-intents")
    cjk = installed_cjk_font()
    if cjk:  # measured with it by matplotlib, named to the browser
        assert "退款进度 (" in intents
        assert f"'{cjk}'" in intents
    else:  # no font to measure Chinese with: numbered labels, never tofu boxes or a crash
        assert "退款进度" not in intents and re.search(r"intent #\d+ \(", intents)


def test_svg_text_stays_text_and_the_page_is_small():
    page = render_html(replay_result())
    sim = chart(page, "chart-similarity")
    assert "<text" in sim and "cosine similarity" in sim  # svg.fonttype none: labels are searchable text
    assert "<defs>" not in sim or "glyph" not in sim.lower()
    assert len(page.encode()) < 600_000


def test_charts_are_drawn_without_pyplot():
    render_html(replay_result(20))
    assert "matplotlib.pyplot" not in sys.modules


def test_intent_chart_shows_the_top_15_by_turns():
    result = replay_result(300)
    page = render_html(result)
    intents = chart(page, "chart-intents")
    ranked = sorted(result["by_intent"], key=lambda k: -result["by_intent"][k]["turns"])
    assert len(ranked) > 15
    if not installed_cjk_font():  # Chinese intent names become "intent #N"
        ranked = [f"intent #{i + 1}" if re.search(r"[\u4e00-\u9fff]", name) else name for i, name in enumerate(ranked)]
    for name in ranked[:15]:
        assert f"{name} (" in intents
    for name in ranked[15:]:
        assert f"{name} (" not in intents
    assert "top 15 by turns" in page


def test_without_baseline_intents_or_human_baseline():
    page = render_html(replay_result(30, intents=False, human=False, baseline=False))
    check(page)
    assert 'id="chart-intents"' not in page and 'id="regressions"' not in page
    assert "Baseline comparison" not in page and "By intent" not in page
    assert "No human baseline" in page
    assert "human baseline: other agents" not in chart(page, "chart-similarity")
    for chart_id in ("chart-outcomes", "chart-similarity", "chart-languages", "chart-latency"):
        assert "<svg" in chart(page, chart_id)


def test_baseline_without_regressions_is_green():
    result = replay_result(20)
    result["baseline"] = {"path": "old.json", "tolerance": {"similarity_mean": 0.02}, "deltas":
                          {"similarity_mean": 0.01}, "regressions": []}
    page = render_html(result)
    check(page)
    assert 'id="regressions" class="ok"' in page and "+0.0100" in page and "improved" in page


def test_regressed_metrics_are_marked_in_the_table():
    page = render_html(replay_result())
    rows = re.findall(r'<tr class="regression"><td>([^<]+)</td>', page)
    assert rows == ["similarity_mean"]  # rouge_l fell 0.01, within its 0.02 tolerance


def test_hostile_text_stays_inert():
    result = replay_result(12)
    for t in result["turns"][:3] + result["worst"][:3]:
        t.update(question=HOSTILE, human=HOSTILE, bot=HOSTILE, context=[HOSTILE], intent=HOSTILE, mode=HOSTILE,
                 conversation=HOSTILE, citations=[{"title": HOSTILE, "uri": "javascript:alert(1)"},
                                                  {"title": "x", "uri": 'https://evil.example/"><script>x</script>'}])
    result["by_intent"][HOSTILE] = result["summary"]
    result["by_language"][HOSTILE] = result["summary"]
    result["data"]["path"] = HOSTILE
    result["data"]["skipped"][HOSTILE] = 1
    result["command"] = HOSTILE
    result["baseline"]["regressions"].append(HOSTILE)
    result["baseline"]["path"] = HOSTILE
    page = render_html(result, title=HOSTILE)
    checker = check(page)
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "onerror=alert" not in page.replace("&lt;img src=x onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "href" not in page.replace('href="#', "")  # the citations' uris are text, never links
    # the hostile URL is only ever data text, never an attribute that could load it
    assert not re.search(r"""(src|href|action)\s*=\s*["']?(https?:|javascript:|//)""", page, flags=re.I)
    assert all(r.startswith("#") for r in checker.resources)
    assert page.count("https://evil.example") == page.count("<code>https://evil.example")


def test_retrieval_report():
    page = render_html(retrieval_result())
    check(page)
    assert "kefu retrieval evaluation" in page
    for chart_id in ("chart-ranks", "chart-languages", "chart-latency"):
        assert "<svg" in chart(page, chart_id)
    assert 'id="chart-outcomes"' not in page and 'id="chart-similarity"' not in page
    assert "hit@1" in page and "MRR" in page and "kb/policies/returns.md" in page
    assert page.count('class="worst-example"') == len(retrieval_result()["worst"])
    assert "not found" in page
    assert "http://" not in page and "https://" not in page


def test_retrieval_without_questions_list():
    result = retrieval_result()
    del result["turns"]
    page = render_html(result)
    check(page)
    assert "rank 2–5" in chart(page, "chart-ranks") and "No timings." in chart(page, "chart-latency")
    assert "All questions" not in page


def test_empty_turns():
    result = replay_result(0, baseline=False)
    assert result["turns"] == [] and result["worst"] == []
    page = render_html(result)
    check(page)
    assert "No turns." in page and "No scored turns." in page and "No timings." in page
    assert "All turns" not in page and "No per-language results." in chart(page, "chart-languages")


def test_missing_and_none_values_render_as_a_dash():
    page = render_html({"kind": "replay", "summary": {"turns": 3, "similarity_mean": None, "judge": None},
                        "by_language": {"zh": {"turns": 3}}, "by_intent": None, "worst": [{"question": "只有问题"}],
                        "turns": [{"similarity": None, "ms": None}, "not a turn"], "baseline": None})
    check(page)
    assert "—" in page and "只有问题" in page and 'class="worst-example"' in page


@pytest.mark.parametrize("result", [{}, {"kind": "retrieval"}, {"kind": "other", "summary": []}, None])
def test_nearly_empty_results_still_render(result):
    check(render_html(result))


def test_long_runs_cap_the_turn_table():
    result = replay_result(MAX_TABLE_ROWS + 40, baseline=False)
    page = render_html(result)
    table = page[page.index('<details class="turns">'):]
    assert table.count("<tr>") == MAX_TABLE_ROWS + 1  # the header row
    assert f"Showing the first {MAX_TABLE_ROWS:,} of {MAX_TABLE_ROWS + 40:,} turns" in page


def test_rendering_is_deterministic():
    result = replay_result(40)
    assert render_html(result) == render_html(result)


def test_without_a_cjk_font_chart_labels_fall_back_to_ascii(monkeypatch):
    from kefu.eval import report

    monkeypatch.setattr(report, "CJK_FONTS", ("No Such Font",))
    page = render_html(replay_result())
    intents = chart(page, "chart-intents")
    assert "退款进度" not in intents and "intent #" in intents
    assert "退款进度" in page  # the HTML tables still name it; the browser renders it


def test_a_real_summary_only_result():
    import json
    from pathlib import Path

    data = json.loads((Path(__file__).parent / "data" / "replay-demo-baseline.json").read_text(encoding="utf-8"))
    page = render_html(data)
    check(page)
    assert "<svg" in chart(page, "chart-outcomes") and "<svg" in chart(page, "chart-languages")
    assert "No scored turns." in chart(page, "chart-similarity")


def test_a_single_perfect_turn():
    result = replay_result(1, baseline=False)
    result["turns"][0].update(similarity=1.0, human_baseline=1.0, ms=5.0)
    page = render_html(result)
    check(page)
    for chart_id in ("chart-outcomes", "chart-similarity", "chart-latency"):
        assert "<svg" in chart(page, chart_id)
