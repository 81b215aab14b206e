"""Shared helpers for the benchmark scripts: data, timing, memory, tables, results files.

Nothing here asserts on timings: benchmarks print figures, tests never time things.
"""
from __future__ import annotations

import csv
import json
import os
import platform
import random
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DATA = Path(os.environ.get("KEFU_DATA", ROOT.parent / "shared" / "data"))
if not DATA.exists():  # the checkout may sit next to shared/ or inside a worktree folder
    DATA = Path("/work/shared/data")
CACHE = Path(os.environ.get("KEFU_BENCH_CACHE", Path.home() / ".cache" / "kefu" / "bench-embeddings"))
SPLIT_SEED = 20240501  # one seed for the Bitext index/query split, shared by retrieval and calibrate


# ---------------------------------------------------------------- timing and memory

@contextmanager
def timer(into: list[float] | None = None):
    """``with timer() as t: ...`` then ``t()`` is the elapsed seconds (also appended to ``into``)."""
    start = time.perf_counter()
    box: list[float] = []
    yield lambda: box[0] if box else time.perf_counter() - start
    box.append(time.perf_counter() - start)
    if into is not None:
        into.append(box[0])


def percentile(values: Sequence[float], p: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), p)) if len(values) else float("nan")


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / mean / max in milliseconds, and the sample size."""
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 2), "p95_ms": round(percentile(ms, 95), 2),
            "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
            "max_ms": round(max(ms), 2) if ms else float("nan")}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports kilobytes)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mb() -> float:
    """Current resident set size of this process."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return float("nan")


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "loadavg_at_start": [round(x, 2) for x in load]}


def git_revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def command_line(argv: Sequence[str] | None = None) -> str:
    args = list(sys.argv[1:] if argv is None else argv)
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    return " ".join(["python", str(script), *map(shlex.quote, args)])


def write_results(name: str, payload: dict[str, Any], argv: Sequence[str] | None = None) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the run's date, command, machine and revision."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "command": command_line(argv),
            "git": git_revision(), "machine": machine()}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"meta": meta, **payload}, ensure_ascii=False, indent=2, default=_jsonable)
                    + "\n", encoding="utf-8")
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ---------------------------------------------------------------- printing

def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A rich table (plain text when rich is missing); floats are printed with 4 significant digits."""
    rows = [[_cell(v) for v in row] for row in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a core dependency
        print(f"\n{title}")
        widths = [max(len(str(c)), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
        print("  ".join(str(c).ljust(w) for c, w in zip(columns, widths)))
        for row in rows:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
        return
    from rich.markup import escape

    rows = [[escape(v) for v in row] for row in rows]
    table = Table(title=escape(title), title_justify="left")
    for i, col in enumerate(columns):
        table.add_column(escape(str(col)), justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float | np.floating):
        if value != value:
            return "-"
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- embeddings

class MemoEmbedder:
    """Wraps an embedder and remembers every vector it computed (in memory, optionally on disk).

    Same ``name``/``dim`` as the wrapped embedder, so stores built through it are interchangeable.
    ``calls`` counts the texts that really went to the model.
    """

    def __init__(self, inner: Any, cache_file: Path | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.cache_file = cache_file
        self._memo: dict[tuple[str, str], np.ndarray] = {}
        self.calls = 0
        self._dirty = False
        if cache_file and cache_file.exists():
            with np.load(cache_file, allow_pickle=False) as data:
                for kind, text, vec in zip(data["kinds"], data["texts"], data["vectors"]):
                    self._memo[(str(kind), str(text))] = vec

    def _embed(self, kind: str, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if (kind, t) not in self._memo))
        if missing:
            fn = self.inner.embed_queries if kind == "q" else self.inner.embed_passages
            for text, vec in zip(missing, fn(missing)):
                self._memo[(kind, text)] = np.asarray(vec, dtype=np.float32)
            self.calls += len(missing)
            self._dirty = True
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[(kind, t)] for t in texts])

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed("q", list(texts))

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed("p", list(texts))

    def save(self) -> None:
        if not (self.cache_file and self._dirty):
            return
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._memo)
        tmp = self.cache_file.with_suffix(f".{os.getpid()}.tmp.npz")  # several runs may share the cache
        np.savez(tmp, kinds=np.array([k for k, _ in keys]), texts=np.array([t for _, t in keys]),
                 vectors=np.stack([self._memo[k] for k in keys]).astype(np.float32))
        tmp.replace(self.cache_file)
        self._dirty = False


# ---------------------------------------------------------------- data sets

def load_bitext() -> list[dict[str, str]]:
    """Bitext customer-support rows: ``question`` (instruction), ``answer`` (response), ``intent``."""
    with open(DATA / "faq" / "bitext_customer_support.csv", encoding="utf-8", newline="") as fh:
        return [{"question": r["instruction"].strip(), "answer": r["response"].strip(),
                 "intent": r["intent"].strip()} for r in csv.DictReader(fh)
                if r["instruction"].strip() and r["response"].strip()]


def split_bitext(rows: list[dict[str, str]], index_frac: float = 0.2,
                 seed: int = SPLIT_SEED) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Stratified by intent: ``index_frac`` of each intent is indexed, the rest are queries."""
    by_intent: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_intent.setdefault(row["intent"], []).append(row)
    rng = random.Random(seed)
    index, queries = [], []
    for intent in sorted(by_intent):
        items = by_intent[intent][:]
        rng.shuffle(items)
        cut = max(1, round(len(items) * index_frac))
        index += items[:cut]
        queries += items[cut:]
    return index, queries


def load_afqmc() -> list[dict[str, Any]]:
    """AFQMC dev pairs: ``sentence1``, ``sentence2``, ``label`` (int)."""
    out = []
    for line in (DATA / "faq" / "afqmc_dev.json").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out.append({"sentence1": row["sentence1"].strip(), "sentence2": row["sentence2"].strip(),
                        "label": int(row["label"])})
    return out


def load_reviews() -> list[dict[str, str]]:
    """Chinese e-commerce reviews (``cat``, ``label``, ``review``), empty reviews dropped."""
    with open(DATA / "sentiment" / "online_shopping_10_cats.csv", encoding="utf-8-sig", newline="") as fh:
        return [{"cat": r["cat"], "label": r["label"], "review": r["review"].strip().lstrip("\ufeff")}
                for r in csv.DictReader(fh) if (r.get("review") or "").strip()]


def load_clinc_oos(split: str = "oos_test") -> list[str]:
    data = json.loads((DATA / "intent" / "clinc150_data_full.json").read_text(encoding="utf-8"))
    return [text for text, _ in data[split]]


def load_demo_questions() -> list[dict[str, Any]] | None:
    """``examples/demo_questions.jsonl`` when present (written alongside ``examples/demo-kb``)."""
    path = ROOT / "examples" / "demo_questions.jsonl"
    if not path.exists():
        return None
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def sample(items: list, n: int | None, seed: int) -> list:
    """A fixed-seed subsample of ``n`` items (all of them when ``n`` is None or larger)."""
    if n is None or n >= len(items):
        return list(items)
    return random.Random(seed).sample(items, n)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# ---------------------------------------------------------------- ranking metrics

def rank_metrics(ranks: Sequence[int | None], cutoff: int = 10) -> dict[str, float]:
    """hit@1, hit@5, hit@10 and MRR@``cutoff`` from the 1-based rank of the first right hit."""
    n = len(ranks) or 1
    return {
        "hit@1": round(sum(r == 1 for r in ranks if r) / n, 4),
        "hit@5": round(sum(r <= 5 for r in ranks if r) / n, 4),
        "hit@10": round(sum(r <= 10 for r in ranks if r) / n, 4),
        "mrr@10": round(sum(1.0 / r for r in ranks if r and r <= cutoff) / n, 4),
        "n": len(ranks),
    }


def first_rank(keys: Sequence[Any], wanted: Any | set, cutoff: int = 10) -> int | None:
    """1-based position of the first key in ``wanted`` within ``cutoff``, else None."""
    want = wanted if isinstance(wanted, set) else {wanted}
    for i, key in enumerate(keys[:cutoff], 1):
        if key in want:
            return i
    return None
