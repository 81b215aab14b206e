"""Generated answers from the local model (SmolLM2-135M, llama.cpp) against the extractive baseline.

Two knowledge bases, each in a temporary ``KEFU_HOME`` (one tenant each):

* ``demo``: examples/demo-kb, asked the answerable questions of examples/demo_questions.jsonl (half zh,
  half en); right = every expected keyword in the answer.
* ``bitext``: a seeded sample of Bitext rows (``--index``, default 300) ingested as FAQ pairs
  instruction→response, asked held-out instructions (English); the reference is the held-out response,
  compared by embedding cosine (the engine's embedder) and chrF (``kefu.eval.metrics``).

Each question goes through the product path: ``engine.answerer.ask`` (the extractive answer, the baseline,
no model) then ``Composer.compose`` with ``generator = "llamacpp"`` (llm_threads=1, max_tokens 120, timeout
60 s). Recorded per question: whether the generated answer was used or why it fell back
(``explanation["generator_fallback"]``), groundedness (``explanation["grounding"]``: supported_ratio,
dropped sentences, citation_accuracy), the end-to-end latency, and the model's own time to first token and
tokens/s. For the last, the Composer's generator is wrapped so that its ``generate`` is served by the
generator's own ``stream()`` on the very prompt the Composer built, timed piece by piece (the llamacpp
backend's ``generate`` reads the same stream, so the answers scored are the ones timed; a second model call
per question would double the run). Token counts come from the llama.cpp server's ``/tokenize`` afterwards,
outside the timings. ``kefu.dialog.compose.check`` is wrapped (in this process only) to keep the
per-sentence grounding verdicts for the examples of kept and dropped sentences.

    .venv/bin/python benchmarks/generation.py --quick
    .venv/bin/python benchmarks/generation.py            # ~10 min on 2 busy cores
"""
from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    ROOT,
    SPLIT_SEED,
    latency_summary,
    load_bitext,
    load_demo_questions,
    log,
    print_table,
    split_bitext,
    write_csv,
    write_results,
)

import kefu.dialog.compose as compose_mod  # noqa: E402
from kefu.config import Config  # noqa: E402
from kefu.engine import Engine  # noqa: E402
from kefu.errors import BackendError  # noqa: E402
from kefu.eval.metrics import chrf  # noqa: E402
from kefu.llm.base import Generation, GeneratorError  # noqa: E402
from kefu.llm.llamacpp import check_installed  # noqa: E402
from kefu.llm.openai_compat import estimate_tokens  # noqa: E402
from kefu.nlp.text import split_sentences  # noqa: E402

SEED = 7
MARKS = re.compile(r"\s*\[\d{1,2}\]")
LEADING_MARK = re.compile(r"^\s*\[\d{1,2}\]")
REASONS = (  # substring of explanation["generator_fallback"] -> short name
    ("not in the customer's language", "wrong language"),
    ("no sentence of the reply was supported", "no supported sentence"),
    ("found no answer", "model said NO_ANSWER"),
    ("repeated the system prompt", "leaked system prompt"),
    ("circuit breaker open", "breaker open"),
    ("no answer within", "timeout"),
    ("stalled", "timeout"),
    ("empty reply", "empty reply"),
    ("no source text", "no source text"),
    ("only instructions", "question was only instructions"),
)


# ======================================================================== instrumentation

class TimedGenerator:
    """The Composer's generator, its ``generate`` served by its own ``stream()`` and timed per piece."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: list[dict[str, Any]] = []

    def generate(self, messages, *, max_tokens: int = 400, temperature: float = 0.2) -> Generation:
        start = time.perf_counter()
        first, pieces = None, []
        try:
            for piece in self.inner.stream(messages, max_tokens=max_tokens, temperature=temperature):
                if first is None:
                    first = time.perf_counter()
                pieces.append(piece)
        except GeneratorError as exc:
            self.calls.append({"messages": messages, "error": str(exc), "ms": (time.perf_counter() - start) * 1000})
            raise
        end = time.perf_counter()
        text = "".join(pieces)
        self.calls.append({"messages": messages, "text": text, "pieces": len(pieces), "ms": (end - start) * 1000,
                           "ttft_ms": None if first is None else (first - start) * 1000,
                           "decode_s": None if first is None else end - first, "max_tokens": max_tokens})
        return Generation(text=text, model=self.inner.model, completion_tokens=len(pieces),
                          prompt_tokens=sum(estimate_tokens(m["content"]) + 4 for m in messages),
                          ms=(end - start) * 1000, first_token_ms=None if first is None else (first - start) * 1000)

    def stream(self, messages, **kw):
        return self.inner.stream(messages, **kw)


CHECKS: list[dict[str, Any]] = []


def _recording_check(original):
    def check(answer, passages, **kw):
        grounding = original(answer, passages, **kw)
        CHECKS.append({"reply": answer, "passages": list(passages), "grounding": grounding})
        return grounding
    return check


def tokenize_counts(address: str, calls: list[dict[str, Any]]) -> None:
    """Exact prompt/completion token counts from the llama.cpp server (after the timed part)."""
    import httpx

    with httpx.Client(trust_env=False, timeout=30) as client:
        for call in calls:
            if "text" not in call or "prompt_tokens" in call:
                continue
            try:
                prompt = client.post(address + "/apply-template", json={"messages": call["messages"]}).json()["prompt"]
                call["prompt_tokens"] = len(_tokens(client, address, prompt))
                call["completion_tokens"] = len(_tokens(client, address, call["text"]))
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                log(f"tokenize failed ({exc}); using stream pieces as tokens")
                call["completion_tokens"] = call["pieces"]


def _tokens(client, address: str, text: str) -> list[int]:
    return client.post(address + "/tokenize", json={"content": text}).json()["tokens"]


# ======================================================================== data

def demo_questions(n: int) -> list[dict[str, Any]]:
    qs = [q for q in load_demo_questions() or [] if q["answerable"]]
    rng = random.Random(SEED)
    out = []
    for lang, k in (("zh", (n + 1) // 2), ("en", n // 2)):
        pool = [q for q in qs if q["lang"] == lang]
        out += rng.sample(pool, min(k, len(pool)))
    return out


def bitext_sets(n_index: int, n_asked: int) -> tuple[list[dict], list[dict]]:
    """``n_index`` rows of the retrieval benchmarks' index side, ``n_asked`` held-out rows of the same intents."""
    index_side, held_side = split_bitext(load_bitext(), seed=SPLIT_SEED)
    rng = random.Random(SEED)
    index = rng.sample(index_side, min(n_index, len(index_side)))
    intents = {r["intent"] for r in index}
    held = rng.sample([r for r in held_side if r["intent"] in intents], n_asked)
    return index, held


# ======================================================================== one question

def fallback_reason(text: str | None) -> str:
    if not text:
        return ""
    for needle, name in REASONS:
        if needle in text:
            return name
    return "generator error"


def strip_marks(text: str) -> str:
    return MARKS.sub("", text).strip()


def ask(engine: Engine, tenant: str, timed: TimedGenerator, question: str) -> dict[str, Any]:
    calls_before, checks_before = len(timed.calls), len(CHECKS)
    start = time.perf_counter()
    extractive = engine.answerer.ask(tenant, question)
    mid = time.perf_counter()
    final = engine.composer(tenant).compose(tenant, question, extractive)
    end = time.perf_counter()
    ex = final.explanation
    calls = timed.calls[calls_before:]
    checks = CHECKS[checks_before:]
    row = {"question": question, "lang": extractive.language, "extractive_mode": extractive.mode,
           "final_mode": final.mode, "used": final.mode == "generated", "sent": bool(calls),
           "fallback": ex.get("generator_fallback"), "reason": fallback_reason(ex.get("generator_fallback")),
           "extractive_ms": (mid - start) * 1000, "e2e_ms": (end - start) * 1000,
           "compose_ms": (end - mid) * 1000, "extractive": extractive.answer, "final": final.answer,
           "grounding": ex.get("grounding"), "calls": calls,
           "reply": calls[-1].get("text") if calls else None,
           "checks": [c["grounding"] for c in checks], "passages": checks[-1]["passages"] if checks else None}
    return row


def run_set(engine: Engine, tenant: str, timed: TimedGenerator, items: list[dict], label: str) -> list[dict]:
    rows = []
    t0 = time.perf_counter()
    for i, item in enumerate(items, 1):
        row = ask(engine, tenant, timed, item["q"])
        row.update({k: v for k, v in item.items() if k != "q"})
        rows.append(row)
        took = time.perf_counter() - t0
        log(f"{label} {i}/{len(items)} [{row['lang']}] {row['final_mode']:<10} "
            f"{row['reason'] or ('-' if row['used'] else 'not sent')} e2e {row['e2e_ms'] / 1000:.1f} s "
            f"(elapsed {took:.0f} s, load {os.getloadavg()[0]:.2f})")
    return rows


# ======================================================================== scoring

def _mean(values) -> float | None:
    vals = [v for v in values if v is not None]
    return round(float(statistics.fmean(vals)), 4) if vals else None


def _median(values) -> float | None:
    vals = [v for v in values if v is not None]
    return round(float(statistics.median(vals)), 2) if vals else None


def keywords_ok(text: str, keywords: list[str]) -> bool:
    text = strip_marks(text).lower()
    return all(k.lower() in text for k in keywords)


def similarity(embedder, pairs: list[tuple[str, str]]) -> tuple[list[float], list[float]]:
    """Cosine (the engine's embedder, passage side for both) and chrF of each (hypothesis, reference)."""
    if not pairs:
        return [], []
    hyps = embedder.embed_passages([strip_marks(h) for h, _ in pairs])
    refs = embedder.embed_passages([r for _, r in pairs])
    cos = [float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0)) for a, b in zip(hyps, refs)]
    return cos, [chrf(strip_marks(h), r) for h, r in pairs]


def model_stats(rows: list[dict]) -> dict[str, Any]:
    calls = [c for r in rows for c in r["calls"] if "text" in c]
    errors = [c for r in rows for c in r["calls"] if "error" in c]
    decode = [(c["completion_tokens"] - 1) / c["decode_s"] for c in calls
              if c.get("decode_s") and c.get("completion_tokens", 0) > 1]
    overall = [c["completion_tokens"] / (c["ms"] / 1000) for c in calls if c.get("completion_tokens")]
    prefill = [c["prompt_tokens"] / (c["ttft_ms"] / 1000) for c in calls if c.get("ttft_ms") and c.get("prompt_tokens")]
    return {"calls": len(calls), "errors": len(errors),
            "ttft_ms": latency_summary([c["ttft_ms"] / 1000 for c in calls if c.get("ttft_ms") is not None]),
            "generation_ms": latency_summary([c["ms"] / 1000 for c in calls]),
            "decode_tokens_per_s_p50": _median(decode), "overall_tokens_per_s_p50": _median(overall),
            "prefill_tokens_per_s_p50": _median(prefill),
            "prompt_tokens_mean": _mean([c.get("prompt_tokens") for c in calls]),
            "completion_tokens_mean": _mean([c.get("completion_tokens") for c in calls]),
            "hit_max_tokens": sum(c.get("completion_tokens", 0) >= c["max_tokens"] for c in calls)}


def wrong_source_control(rows: list[dict], embedder) -> dict[str, Any]:
    """The same replies checked against another question's sources: a strict check should drop most."""
    have = [r for r in rows if r["reply"] and r["passages"]]
    ratios, own = [], []
    for i, r in enumerate(have):
        others = [o for o in have[i + 1:] + have[:i] if not set(o["passages"]) & set(r["passages"])]
        if not others:
            continue
        ratios.append(compose_mod.check(r["reply"], others[0]["passages"], embedder=embedder).supported_ratio)
        CHECKS.pop()  # the recording wrapper kept it; it belongs to no question
        own.append(r["checks"][-1].supported_ratio)
    return {"n": len(ratios), "supported_ratio_own_sources": _mean(own),
            "supported_ratio_wrong_sources": _mean(ratios)}


def grounding_stats(rows: list[dict]) -> dict[str, Any]:
    used = [r for r in rows if r["used"]]
    g = [r["grounding"] for r in used]
    used_sents = [s for r in used for s in r["checks"][-1].sentences]
    checked = [s for r in rows for gr in r["checks"] for s in gr.sentences]
    reply_sents = [s for r in rows if r["reply"] for s in split_sentences(r["reply"]) if s.strip()]
    return {
        "supported_ratio_mean_used": _mean([x["supported_ratio"] for x in g]),
        "citation_accuracy_mean_used": _mean([x["citation_accuracy"] for x in g]),
        "sentences_used": sum(x["sentences"] for x in g), "dropped_used": sum(x["dropped"] for x in g),
        "answers_with_dropped": sum(x["dropped"] > 0 for x in g),
        "cited_sentences_used": sum(bool(s.cited) for s in used_sents),
        "citation_correct_used": sum(s.citation_correct for s in used_sents),
        "used_answers_citing_nothing": sum(not any(s.cited for s in r["checks"][-1].sentences) for r in used),
        "used_answers_cut_off": sum(not re.search(r'[.!?。！？"”)]$', strip_marks(r["final"])) for r in used),
        # every reply the check saw, including the ones that then fell back
        "sentences_checked_all": len(checked), "supported_all": sum(s.supported for s in checked),
        "empty_sentences_all": sum(not s.text for s in checked),
        "cited_sentences_all": sum(bool(s.cited) for s in checked),
        "citation_correct_all": sum(s.citation_correct for s in checked),
        "reply_sentences_starting_with_mark": sum(bool(LEADING_MARK.match(s)) for s in reply_sents),
        "reply_sentences": len(reply_sents),
    }


def summarise(rows: list[dict], embedder, *, has_reference: bool) -> dict[str, Any]:
    sent = [r for r in rows if r["sent"]]
    used = [r for r in rows if r["used"]]
    answered = [r for r in rows if r["extractive_mode"] != "abstain"]
    out: dict[str, Any] = {
        "asked": len(rows), "extractive_abstained": len(rows) - len(answered), "sent_to_model": len(sent),
        "generated_used": len(used), "fell_back": sum(r["sent"] and not r["used"] for r in rows),
        "used_rate_of_sent": round(len(used) / len(sent), 4) if sent else None,
        "fallback_reasons": dict(Counter(r["reason"] for r in rows if r["sent"] and not r["used"]).most_common()),
        "grounding": grounding_stats(rows), "wrong_source_control": wrong_source_control(rows, embedder),
        "model": model_stats(rows),
        "latency": {"extractive_only": latency_summary([r["extractive_ms"] / 1000 for r in rows]),
                    "end_to_end_all": latency_summary([r["e2e_ms"] / 1000 for r in rows]),
                    "end_to_end_sent": latency_summary([r["e2e_ms"] / 1000 for r in sent]),
                    "end_to_end_used": latency_summary([r["e2e_ms"] / 1000 for r in used])},
    }
    if has_reference:
        q = {}
        for name, subset, field in (("extractive (answered)", answered, "extractive"),
                                    ("composed final (answered)", answered, "final"),
                                    ("extractive (generated used)", used, "extractive"),
                                    ("generated (used)", used, "final")):
            cos, ch = similarity(embedder, [(r[field], r["reference"]) for r in subset])
            q[name] = {"n": len(subset), "cosine": _mean(cos), "chrf": _mean(ch)}
        out["quality"] = q
    else:
        q = {}
        for name, subset, field in (("extractive (all asked)", rows, "extractive"),
                                    ("composed final (all asked)", rows, "final"),
                                    ("extractive (generated used)", used, "extractive"),
                                    ("generated (used)", used, "final")):
            ok = [keywords_ok(r[field], r["keywords"]) and r["extractive_mode"] != "abstain" for r in subset]
            q[name] = {"n": len(subset), "keyword_accuracy": round(sum(ok) / len(ok), 4) if ok else None,
                       "correct": sum(ok)}
        out["quality"] = q
    return out


def sentence_examples(rows: list[dict], k: int, rng: random.Random) -> dict[str, list[dict]]:
    kept, dropped = [], []
    for r in rows:
        for gr in r["checks"]:
            for s in gr.sentences:
                item = {"set": r["set"], "lang": r["lang"], "question": r["question"], "sentence": s.text,
                        "cited": s.cited, "support": round(s.support, 3), "best_source": s.best_source,
                        "citation_correct": s.citation_correct, "answer_used": r["used"]}
                (kept if s.supported else dropped).append(item)
    nonempty = [d for d in dropped if d["sentence"]]
    return {"kept": rng.sample(kept, min(k, len(kept))),
            "dropped": rng.sample(nonempty, min(k, len(nonempty))),
            "dropped_empty": sum(not d["sentence"] for d in dropped)}


def public_row(r: dict) -> dict:
    call = r["calls"][-1] if r["calls"] else {}
    return {k: r.get(k) for k in ("set", "lang", "question", "extractive_mode", "final_mode", "reason", "fallback",
                                  "grounding", "keywords", "reference")} | {
        "extractive": r["extractive"], "final": r["final"], "reply": r["reply"],
        "e2e_ms": round(r["e2e_ms"], 1), "extractive_ms": round(r["extractive_ms"], 1),
        "ttft_ms": round(call["ttft_ms"], 1) if call.get("ttft_ms") is not None else None,
        "generation_ms": round(call["ms"], 1) if call else None,
        "prompt_tokens": call.get("prompt_tokens"), "completion_tokens": call.get("completion_tokens")}


# ======================================================================== main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 questions per set (a smoke run)")
    ap.add_argument("--questions", type=int, default=None,
                    help="questions per set (default 30 demo, half zh / half en, and 30 Bitext); results go to "
                         "generation-qN.json")
    ap.add_argument("--index", type=int, default=300, help="Bitext rows ingested as FAQ pairs")
    ap.add_argument("--sets", default="demo,bitext", help="comma-separated: demo, bitext")
    ap.add_argument("--max-tokens", type=int, default=120)
    ap.add_argument("--timeout", type=float, default=60.0, help="llm_timeout_s")
    ap.add_argument("--threads", type=int, default=1, help="llm_threads")
    ap.add_argument("--examples", type=int, default=12, help="kept/dropped sentence examples in the results")
    args = ap.parse_args(argv)
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    n_demo = args.questions or (4 if args.quick else 30)
    n_bitext = args.questions or (4 if args.quick else 30)
    try:
        gguf = check_installed()
    except BackendError as exc:
        log(f"the local model is not installed: {exc.message} ({exc.hint})")
        return 2
    loads = [("start", os.getloadavg())]
    log(f"load average {loads[0][1][0]:.2f} {loads[0][1][1]:.2f} {loads[0][1][2]:.2f} on {os.cpu_count()} cpus")
    compose_mod.check = _recording_check(compose_mod.check)
    wall = time.perf_counter()
    rows: list[dict] = []
    payload: dict[str, Any] = {"settings": {"generator": "llamacpp", "model_file": gguf.name,
                                            "llm_threads": args.threads, "llm_max_tokens": args.max_tokens,
                                            "llm_timeout_s": args.timeout, "seed": SEED},
                               "sets": {}}
    with tempfile.TemporaryDirectory(prefix="kefu-gen-") as home:
        config = Config.load(home=home, env={}, overrides={
            "generator": "llamacpp", "llm_threads": args.threads, "llm_max_tokens": args.max_tokens,
            "llm_timeout_s": args.timeout})
        engine = Engine(config)
        ingest = {}
        if "demo" in sets:
            t = time.perf_counter()
            rep = engine.ingestor.ingest([ROOT / "examples" / "demo-kb"], tenant="demo", source="demo")
            ingest["demo"] = {"seconds": round(time.perf_counter() - t, 1), "chunks": rep.totals()["chunks"]}
            log(f"demo KB ingested: {ingest['demo']}")
        bitext_held: list[dict] = []
        if "bitext" in sets:
            index, bitext_held = bitext_sets(args.index, n_bitext)
            path = write_csv(Path(home) / "bitext_faq.csv", ["question", "answer", "intent"],
                             [[r["question"], r["answer"], r["intent"]] for r in index])
            t = time.perf_counter()
            rep = engine.ingestor.ingest([path], tenant="bitext", source="bitext")
            ingest["bitext"] = {"seconds": round(time.perf_counter() - t, 1), "chunks": rep.totals()["chunks"],
                                "rows": len(index), "intents": len({r["intent"] for r in index})}
            log(f"Bitext FAQ ingested: {ingest['bitext']}")
        payload["ingest"] = ingest
        timers = {}
        for tenant in sets:
            composer = engine.composer(tenant)
            timed = TimedGenerator(composer.generators[0])
            composer.generators = [timed]
            timers[tenant] = timed
        inner = timers[sets[0]].inner
        t = time.perf_counter()
        server = inner.start()
        payload["settings"]["server_start_ms"] = round((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        inner.generate([{"role": "user", "content": "Say hello."}], max_tokens=8)  # warm-up, not counted
        payload["settings"]["warmup_ms"] = round((time.perf_counter() - t) * 1000)
        log(f"llama.cpp server up in {payload['settings']['server_start_ms']} ms at {server.address}, "
            f"warm-up {payload['settings']['warmup_ms']} ms")
        if "demo" in sets:
            items = demo_questions(n_demo)
            part = run_set(engine, "demo", timers["demo"], items, "demo")
            for r in part:
                r["set"] = f"demo-{r['lang']}"
            rows += part
            loads.append(("after demo", os.getloadavg()))
        if "bitext" in sets:
            items = [{"q": r["question"], "reference": r["answer"], "intent": r["intent"]} for r in bitext_held]
            part = run_set(engine, "bitext", timers["bitext"], items, "bitext")
            for r in part:
                r["set"] = "bitext-en"
            rows += part
            loads.append(("after bitext", os.getloadavg()))
        tokenize_counts(server.address, [c for r in rows for c in r["calls"]])
        for name in dict.fromkeys(r["set"] for r in rows):
            part = [r for r in rows if r["set"] == name]
            payload["sets"][name] = summarise(part, engine.embedder, has_reference=name.startswith("bitext"))
        examples = sentence_examples(rows, args.examples, random.Random(SEED))
        engine.close()
    loads.append(("end", os.getloadavg()))
    payload["wall_seconds"] = round(time.perf_counter() - wall, 1)
    payload["load_average"] = {name: [round(x, 2) for x in v] for name, v in loads}
    payload["sentence_examples"] = examples
    payload["questions"] = [public_row(r) for r in rows]
    report(payload)
    name = "generation-quick" if args.quick else f"generation-q{args.questions}" if args.questions else "generation"
    path = write_results(name, payload, argv)
    log(f"wrote {path.relative_to(ROOT)} in {payload['wall_seconds']:.0f} s")
    return 0


def _pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.0f}%)" if b else "-"


def _num(value) -> float:
    return float("nan") if value is None else value


def report(payload: dict[str, Any]) -> None:
    sets = payload["sets"]
    rows = []
    for name, s in sets.items():
        g, m, lat, ctl = s["grounding"], s["model"], s["latency"], s["wrong_source_control"]
        rows.append([name, s["asked"], s["sent_to_model"], _pct(s["generated_used"], s["sent_to_model"]),
                     _num(g["supported_ratio_mean_used"]), _num(ctl["supported_ratio_wrong_sources"]),
                     f"{g['dropped_used']}/{g['sentences_used']}", f"{g['cited_sentences_used']}/{g['sentences_used']}",
                     _num(g["citation_accuracy_mean_used"]), m["ttft_ms"]["p50_ms"], _num(m["decode_tokens_per_s_p50"]),
                     lat["extractive_only"]["p50_ms"], lat["end_to_end_sent"]["p50_ms"],
                     lat["end_to_end_sent"]["p95_ms"]])
    print_table("SmolLM2-135M through Composer (llm_threads=1, max_tokens "
                f"{payload['settings']['llm_max_tokens']}): use, grounding, speed",
                ["set", "asked", "sent", "gen. used", "supported", "wrong-src ctl", "dropped", "cited",
                 "cit. acc", "TTFT p50 ms", "tok/s p50", "extr. p50 ms", "e2e p50 ms", "e2e p95 ms"], rows)
    print_table("why the generated answer was not used (of those sent to the model)",
                ["set", "reason", "count"],
                [[name, reason, n] for name, s in sets.items() for reason, n in s["fallback_reasons"].items()]
                or [["-", "none", 0]])
    q_rows = []
    for name, s in sets.items():
        for system, v in s["quality"].items():
            if "keyword_accuracy" in v:
                q_rows.append([name, system, v["n"], _num(v["keyword_accuracy"]), "-", "-"])
            else:
                q_rows.append([name, system, v["n"], "-", _num(v["cosine"]), _num(v["chrf"])])
    print_table("answer quality: extractive baseline vs generated (demo: all keywords; Bitext: vs reference)",
                ["set", "answer", "n", "keyword acc", "cosine", "chrF"], q_rows)
    ex = payload["sentence_examples"]
    for kind in ("kept", "dropped"):
        for e in ex[kind][:4]:
            log(f"{kind} [{e['set']}] support {e['support']:.2f} cited {e['cited']} "
                f"best {e['best_source']}: {e['sentence'][:110]!r}")


if __name__ == "__main__":
    raise SystemExit(main())
