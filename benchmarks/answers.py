"""Answer quality on the bundled demo knowledge base: right facts, honest abstention, latency.

Ingests examples/demo-kb into a temporary home, asks every question in examples/demo_questions.jsonl
and counts: answerable questions answered with all expected keywords, wrongly answered, abstained;
out-of-scope questions abstained. The same Answerer over BM25-only retrieval is the baseline.

    .venv/bin/python benchmarks/answers.py
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, latency_summary, print_table, write_results  # noqa: E402

from kefu.config import Config  # noqa: E402
from kefu.dialog.answer import Answerer  # noqa: E402
from kefu.engine import Engine  # noqa: E402
from kefu.kg.build import GraphBuilder  # noqa: E402
from kefu.retrieve.retriever import Retriever  # noqa: E402


def score(answerer: Answerer, questions: list[dict]) -> dict:
    counts = {"correct": 0, "wrong": 0, "abstained": 0, "oos_abstained": 0, "oos_answered": 0}
    seconds = []
    for q in questions:
        start = time.perf_counter()
        answer = answerer.ask("default", q["q"])
        seconds.append(time.perf_counter() - start)
        if not q["answerable"]:
            counts["oos_abstained" if answer.mode == "abstain" else "oos_answered"] += 1
        elif answer.mode == "abstain":
            counts["abstained"] += 1
        elif all(k.lower() in answer.answer.lower() for k in q["keywords"]):
            counts["correct"] += 1
        else:
            counts["wrong"] += 1
    answerable = sum(q["answerable"] for q in questions)
    return {**counts, "answerable": answerable, "out_of_scope": len(questions) - answerable,
            "accuracy": counts["correct"] / answerable,
            "precision": counts["correct"] / max(1, counts["correct"] + counts["wrong"]
                                                 + counts["oos_answered"]),
            "oos_abstain_rate": counts["oos_abstained"] / max(1, len(questions) - answerable),
            "latency_ms": latency_summary(seconds)}


def main() -> int:
    questions = [json.loads(line) for line in (ROOT / "examples" / "demo_questions.jsonl").open()]
    with tempfile.TemporaryDirectory() as home:
        engine = Engine(Config.load(home=home, env={}))
        # Every system embeds each question itself: the engine's query cache would favour all but the first.
        engine.__dict__["embedder"] = engine.embedder.inner
        start = time.perf_counter()
        report = engine.ingestor.ingest([ROOT / "examples" / "demo-kb"], tenant="default")
        ingest_s = time.perf_counter() - start
        GraphBuilder(engine.store, engine.graph).build("default")
        c = engine.config

        def answerer(graph: bool, expand: bool, **weights) -> Answerer:
            retriever = Retriever(engine.store, engine.embedder, rrf_k=c.rrf_k,
                                  expand=engine.graph_qa.expansion if expand else None,
                                  **(weights or {"keyword_weight": c.keyword_weight, "vector_weight": c.vector_weight}))
            return Answerer(retriever, threshold=c.answer_threshold, top_k=c.top_k,
                            graph_qa=engine.graph_qa if graph else None)

        results = {"hybrid + graph QA + graph-expanded keywords (kefu)": score(engine.answerer, questions),
                   "hybrid + graph QA": score(answerer(True, False), questions),
                   "hybrid, text only": score(answerer(False, False), questions),
                   "BM25 only (baseline)": score(answerer(False, False, keyword_weight=1.0, vector_weight=0.0),
                                                 questions)}
        engine.close()
    rows = [[name, f"{r['correct']}/{r['answerable']}", r["wrong"], r["abstained"],
             f"{r['oos_abstained']}/{r['out_of_scope']}", f"{r['precision']:.2f}",
             f"{r['latency_ms']['p50_ms']:.1f}", f"{r['latency_ms']['p95_ms']:.1f}"]
            for name, r in results.items()]
    print_table(f"demo KB answers ({report.totals()['chunks']} chunks, ingested in {ingest_s:.0f} s)",
                ["system", "correct", "wrong", "abstained", "out-of-scope abstained", "precision",
                 "p50 ms", "p95 ms"], rows)
    write_results("answers", {"ingest_seconds": ingest_s, "chunks": report.totals()["chunks"],
                              "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
