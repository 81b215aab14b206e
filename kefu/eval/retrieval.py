"""``kefu eval retrieval``: hit@1, hit@5 and MRR of the retriever on labelled questions.

QUESTIONS is JSONL with ``question`` (or ``q``) and ``expected`` (or ``expect``): a string or a list
of strings, any of which found (case-insensitive) in a retrieved chunk's uri, title, tags or text
makes it a hit. Lines with ``"answerable": false`` are skipped (they test abstention, not retrieval).
"""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kefu.errors import IngestError
from kefu.eval import metrics
from kefu.nlp.text import detect_language

DEPTH = 10


def read_questions(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise IngestError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=str(path)) from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestError(f"not valid JSON: {exc.msg}", path=str(path), line=n) from None
        if not isinstance(row, dict):
            raise IngestError("each line must be a JSON object", path=str(path), line=n)
        question = row.get("question", row.get("q"))
        expected = row.get("expected", row.get("expect"))
        if not isinstance(question, str) or not question.strip():
            raise IngestError("missing 'question' (or 'q') text", path=str(path), line=n)
        if row.get("answerable", True) is False:
            continue
        if isinstance(expected, str):
            expected = [expected]
        if not isinstance(expected, list) or not expected or not all(isinstance(e, str) and e for e in expected):
            raise IngestError("missing 'expected' (or 'expect'): a string or a list of strings", path=str(path),
                              line=n)
        rows.append({"question": question, "expected": expected, "lang": row.get("lang")})
    if not rows:
        raise IngestError("no answerable questions", path=str(path))
    return rows


def evaluate(engine, tenant: str, path: Path, *, k: int = DEPTH, mode: str = "hybrid",
             command: str = "") -> dict[str, Any]:
    """The result JSON (``kind: retrieval``) for the questions in ``path``."""
    rows = read_questions(path)
    items = []
    for row in rows:
        start = time.perf_counter()
        hits = engine.retriever.search(tenant, row["question"], max(k, 5), mode=mode).hits
        ms = (time.perf_counter() - start) * 1000
        wanted = [e.lower() for e in row["expected"]]
        rank = next((i for i, h in enumerate(hits, 1) if _matches(h.chunk, wanted)), None)
        items.append({"question": row["question"], "expected": row["expected"],
                      "lang": row["lang"] or detect_language(row["question"]), "rank": rank, "ms": round(ms, 1),
                      "got": [{"title": h.chunk.title, "uri": h.chunk.uri} for h in hits[:3]]})
    by_lang: dict[str, list] = {}
    for item in items:
        by_lang.setdefault(item["lang"], []).append(item)
    return {"kind": "retrieval", "created": datetime.now(UTC).isoformat(timespec="seconds"), "command": command,
            "data": {"path": str(path), "format": "questions", "questions": len(items), "mode": mode, "k": k},
            "summary": _summary(items), "by_language": {lang: _summary(v) for lang, v in sorted(by_lang.items())},
            "worst": [i for i in items if i["rank"] is None or i["rank"] > 1][:20], "turns": items}


def _matches(chunk, wanted: list[str]) -> bool:
    hay = " ".join([chunk.uri or "", chunk.title, " ".join(chunk.tags), chunk.question, chunk.text]).lower()
    return any(w in hay for w in wanted)


def _summary(items: list[dict]) -> dict[str, Any]:
    n = len(items)
    ranks = [i["rank"] for i in items]
    return {"questions": n,
            "hit@1": round(sum(r == 1 for r in ranks) / n, 4) if n else None,
            "hit@5": round(sum(r is not None and r <= 5 for r in ranks) / n, 4) if n else None,
            "mrr": round(sum(1 / r for r in ranks if r) / n, 4) if n else None,
            "latency_p50_ms": metrics.percentile([i["ms"] for i in items], 50),
            "latency_p95_ms": metrics.percentile([i["ms"] for i in items], 95)}
