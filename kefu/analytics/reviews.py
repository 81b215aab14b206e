"""What customers say in reviews and comments, without reading them all (zh + en).

    summary = analyze_reviews("reviews.csv", out_dir="out/", text_col="review", product_col="cat")

One streaming pass in batches (bounded memory whatever the file size):

- sentiment and emotion of each review: the shipped sentiment model (one embedding per review);
- aspects: a zh/en seed lexicon (price, quality, delivery, service, packaging, performance,
  appearance, size/fit, taste/freshness); an aspect's sentiment comes from the clauses that mention it
  (cue words with negation, e.g. "物流很慢" → delivery negative), else from the review;
- aspects discovered from the data: frequent words whose reviews lean clearly negative or positive;
- topics: mini-batch k-means over the same embeddings, each labelled by its most distinctive words,
  with representative quotes (closest to the topic centre);
- top complaints and praises per aspect with quotes; trends by month (``time_col``); per product.

Writes ``rows.csv`` (each review's sentiment and aspects) and ``summary.json`` in ``out_dir``.
"""
from __future__ import annotations

import csv
import heapq
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from kefu.errors import IngestError, InputError
from kefu.ingest.loaders.base import decode
from kefu.nlp.text import detect_language, normalize, tokenize

BATCH = 256
QUOTES = 3
MAX_GROUPS = 50
ASPECTS: dict[str, tuple[str, ...]] = {
    "price": ("价格", "价钱", "性价比", "贵", "便宜", "划算", "实惠", "价位", "price", "expensive", "cheap",
              "overpriced", "value for money", "cost"),
    "quality": ("质量", "做工", "品质", "材质", "耐用", "瑕疵", "正品", "假货", "quality", "durable", "defect",
                "broken", "broke", "fake", "material"),
    "delivery": ("物流", "快递", "发货", "送货", "配送", "到货", "送到", "delivery", "shipping", "shipped",
                 "arrived", "courier"),
    "service": ("客服", "服务", "态度", "售后", "前台", "service", "support", "staff", "refund"),
    "packaging": ("包装", "盒子", "外包装", "packaging", "package", "box"),
    "performance": ("效果", "功能", "性能", "续航", "电池", "屏幕", "音质", "速度", "系统", "performance",
                    "battery", "screen", "sound", "speed"),
    "appearance": ("外观", "颜色", "好看", "漂亮", "样子", "款式", "appearance", "color", "colour", "design",
                   "looks"),
    "size/fit": ("尺码", "大小", "合身", "偏大", "偏小", "size", "fit", "fits"),
    "taste/freshness": ("味道", "口感", "新鲜", "好吃", "taste", "fresh", "flavor", "flavour"),
}
NEGATIVE_CUES = ("差", "慢", "贵", "坏", "破", "烂", "不好", "失望", "垃圾", "假", "难看", "难吃", "糟", "太小",
                 "太大", "不行", "退货", "问题", "bad", "slow", "poor", "terrible", "awful", "worst", "broken",
                 "expensive", "disappoint", "late", "damaged", "rude", "useless")
POSITIVE_CUES = ("好", "快", "满意", "不错", "便宜", "实惠", "赞", "喜欢", "漂亮", "好看", "新鲜", "划算",
                 "值", "棒", "good", "great", "fast", "excellent", "love", "cheap", "perfect", "nice", "quick",
                 "happy", "friendly")
NEGATION = re.compile(r"(不|没|没有|别|无|not|no|never|n't)\s*$", re.IGNORECASE)
CLAUSE = re.compile(r"[，,。.!！?？;；\n]+")
_EN = re.compile(r"[a-z]")
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%Y.%m.%d",
                "%d/%m/%Y", "%Y年%m月%d日")


def read_rows(path: Path, text_col: str | None, time_col: str | None, product_col: str | None,
              limit: int | None = None) -> tuple[Iterator[tuple[int, dict[str, str]]], str]:
    """Rows of a CSV/TSV/JSONL review file as a stream, with the text column resolved."""
    if not path.is_file():
        raise IngestError("no such file", path=str(path))
    if path.stat().st_size == 0:
        raise IngestError("file is empty", path=str(path))
    if path.suffix.lower() == ".jsonl":
        return _jsonl_rows(path, text_col, limit)
    head = path.open("rb").read(65536)
    encoding = _encoding(head, path)
    handle = open(path, encoding=encoding, newline="")  # noqa: SIM115 - closed by the generator
    sample = handle.read(8192)
    handle.seek(0)
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    reader = csv.DictReader(handle, delimiter=delimiter)
    columns = [c.strip() for c in (reader.fieldnames or [])]
    text_col = _column(columns, text_col, ("review", "text", "comment", "content", "评论", "内容"), path, "text")
    for name, col in (("--time-col", time_col), ("--product-col", product_col)):
        if col and col not in columns:
            raise IngestError(f"{name} {col!r} is not a column; columns are: {', '.join(columns)}", path=str(path))

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        with handle:
            for n, row in enumerate(reader, 2):
                if limit is not None and n - 1 > limit:
                    return
                yield n, {(k or "").strip(): (v or "") for k, v in row.items() if isinstance(v, str)}

    return rows(), text_col


def _encoding(head: bytes, path: Path) -> str:
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start > len(head) - 4:  # a character cut at the end of the sample
            return "utf-8"
    decode(head, str(path))  # raises a clear error for binary data
    return "gb18030"


def _jsonl_rows(path: Path, text_col: str | None, limit: int | None):
    col = text_col or "text"

    def rows():
        with path.open(encoding="utf-8-sig") as f:
            for n, line in enumerate(f, 1):
                if limit is not None and n > limit:
                    return
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise IngestError(f"not valid JSON: {exc.msg}", path=str(path), line=n) from None
                if not isinstance(obj, dict):
                    raise IngestError("each line must be a JSON object", path=str(path), line=n)
                yield n, {str(k): "" if v is None else str(v) for k, v in obj.items()}

    return rows(), col


def _column(columns: list[str], wanted: str | None, guesses: tuple[str, ...], path: Path, what: str) -> str:
    if wanted:
        if wanted not in columns:
            raise IngestError(f"--{what}-col {wanted!r} is not a column; columns are: {', '.join(columns)}",
                              path=str(path))
        return wanted
    lower = {c.lower(): c for c in columns}
    for guess in guesses:
        if guess in lower:
            return lower[guess]
    raise IngestError(f"no {what} column found (looked for {', '.join(guesses)}); columns are: "
                      f"{', '.join(columns) or '(none)'}", path=str(path), hint=f"name it with --{what}-col")


def aspects_of(text: str, polarity: str) -> dict[str, str]:
    """Aspect → ``positive``/``negative``/``neutral`` for the aspects ``text`` mentions."""
    found: dict[str, str] = {}
    lower = text.lower()
    clauses = [c for c in CLAUSE.split(lower) if c.strip()] or [lower]
    for aspect, terms in ASPECTS.items():
        hits = [c for c in clauses if any(_mentions(c, t) for t in terms)]
        if not hits:
            continue
        votes = [v for v in (_clause_polarity(c) for c in hits) if v]
        found[aspect] = Counter(votes).most_common(1)[0][0] if votes else polarity
    return found


def _mentions(clause: str, term: str) -> bool:
    if _EN.match(term):
        return re.search(rf"\b{re.escape(term)}\b", clause) is not None
    return term in clause


def _clause_polarity(clause: str) -> str | None:
    score = 0
    for cues, sign in ((NEGATIVE_CUES, -1), (POSITIVE_CUES, 1)):
        for cue in cues:
            for m in re.finditer(re.escape(cue) if not _EN.match(cue) else rf"\b{re.escape(cue)}", clause):
                if NEGATION.search(clause[max(0, m.start() - 4):m.start()]):
                    score -= sign
                else:
                    score += sign
    return "positive" if score > 0 else "negative" if score < 0 else None


def month_of(raw: str) -> str | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).strftime("%Y-%m")
    except ValueError:
        pass
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(raw, fmt).strftime("%Y-%m")
        except ValueError:
            continue
    return None


class _Accumulator:
    """Bounded running totals: counts, means, top quotes, topic statistics, discovered words."""

    def __init__(self, topics: int, seed: int) -> None:
        from sklearn.cluster import MiniBatchKMeans

        self.k = topics
        self.kmeans = MiniBatchKMeans(n_clusters=topics, random_state=seed, batch_size=BATCH, n_init=3)
        self.fitted = False
        self.n = 0
        self.labels: Counter = Counter()
        self.emotions: Counter = Counter()
        self.langs: Counter = Counter()
        self.score_sum = 0.0
        self.aspects: dict[str, Counter] = {a: Counter() for a in ASPECTS}
        self.quotes: dict[str, dict[str, list]] = {a: {"negative": [], "positive": []} for a in ASPECTS}
        self.months: dict[str, list[float]] = {}
        self.products: dict[str, list[float]] = {}
        self.skipped: Counter = Counter()
        self.words = {"negative": Counter(), "positive": Counter(), "all": Counter()}
        self.topic_words: list[Counter] = [Counter() for _ in range(topics)]
        self.topic_n = np.zeros(topics, dtype=np.int64)
        self.topic_score = np.zeros(topics)
        self.topic_quotes: list[list] = [[] for _ in range(topics)]

    def add_batch(self, rows: list[dict[str, Any]], vectors: np.ndarray) -> list[int]:
        if len(rows) >= self.k:
            self.kmeans.partial_fit(vectors)
            self.fitted = True
        topics = self.kmeans.predict(vectors).tolist() if self.fitted else [-1] * len(rows)
        if self.fitted:
            dist = np.linalg.norm(vectors - self.kmeans.cluster_centers_[topics], axis=1)
        for i, row in enumerate(rows):
            self._add(row, topics[i], float(dist[i]) if self.fitted else 0.0)
        return topics

    def _add(self, row: dict[str, Any], topic: int, dist: float) -> None:
        self.n += 1
        label, score, text = row["sentiment"], row["score"], row["text"]
        self.labels[label] += 1
        self.emotions[row["emotion"]] += 1
        self.langs[row["lang"]] += 1
        self.score_sum += score
        words = set(t for t in tokenize(text) if len(t) >= 2)
        self.words["all"].update(words)
        if label in ("negative", "positive"):
            self.words[label].update(words)
        for aspect, polarity in row["aspects"].items():
            self.aspects[aspect][polarity] += 1
            if polarity in ("negative", "positive"):
                key = -score if polarity == "negative" else score  # most extreme first
                _push(self.quotes[aspect][polarity], (key, text[:300]))
        if row["month"]:
            self.months.setdefault(row["month"], []).append(score)
        if row["product"]:
            self.products.setdefault(row["product"], []).append(score)
        if topic >= 0:
            self.topic_n[topic] += 1
            self.topic_score[topic] += score
            self.topic_words[topic].update(words)
            _push(self.topic_quotes[topic], (-dist, text[:300]))
        for counter in (*self.words.values(), *self.topic_words):
            if len(counter) > 20000:  # bounded: keep the frequent words only
                for word, _ in counter.most_common()[10000:]:
                    del counter[word]


def _push(heap: list, item: tuple) -> None:
    if len(heap) < QUOTES:
        heapq.heappush(heap, item)
    else:
        heapq.heappushpop(heap, item)


def analyze_reviews(path: str | Path, *, out_dir: str | Path | None = None, text_col: str | None = None,
                    time_col: str | None = None, product_col: str | None = None, topics: int = 8,
                    limit: int | None = None, sentiment=None, seed: int = 0,
                    progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Analyse the reviews in ``path``; returns the summary (also written to ``out_dir``)."""
    if not 2 <= topics <= 50:
        raise InputError("--topics must be between 2 and 50")
    path = Path(path)
    rows, text_col = read_rows(path, text_col, time_col, product_col, limit)
    if sentiment is None:
        from kefu.nlp.sentiment import default_sentiment_model

        sentiment = default_sentiment_model()
    acc = _Accumulator(topics, seed)
    out = Path(out_dir) if out_dir else None
    writer = None
    handle = None
    if out:
        out.mkdir(parents=True, exist_ok=True)
        handle = (out / "rows.csv").open("w", encoding="utf-8", newline="")
        writer = csv.writer(handle)
        writer.writerow(["row", "sentiment", "score", "emotion", "aspects", "topic", "product", "month"])
    try:
        batch: list[dict[str, Any]] = []
        for n, raw in rows:
            text = normalize(raw.get(text_col, ""))
            if not text:
                acc.skipped["empty text"] += 1
                continue
            month = month_of(raw.get(time_col, "")) if time_col else None
            if time_col and month is None:
                acc.skipped["unparseable date (review kept, not in trends)"] += 1
            batch.append({"row": n, "text": text, "month": month,
                          "product": (raw.get(product_col) or "").strip()[:80] if product_col else ""})
            if len(batch) == BATCH:
                _flush(batch, acc, sentiment, writer)
                batch = []
                if progress:
                    progress(acc.n)
        if batch:
            _flush(batch, acc, sentiment, writer)
    finally:
        if handle:
            handle.close()
    if acc.n == 0:
        raise InputError(f"{path}: no review text found in column {text_col!r}")
    summary = _summary(acc, path, text_col, time_col, product_col)
    if out:
        (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    return summary


def _flush(batch: list[dict[str, Any]], acc: _Accumulator, sentiment, writer) -> None:
    texts = [r["text"] for r in batch]
    from kefu.nlp.sentiment import clip

    vectors = sentiment.embedder.embed_queries(clip(texts))
    results = sentiment.analyze(texts, vectors=vectors)
    for row, s in zip(batch, results):
        row.update(sentiment=s.label, score=s.score, emotion=s.emotion, lang=detect_language(row["text"][:300]),
                   aspects=aspects_of(row["text"], s.label))
    topics = acc.add_batch(batch, vectors)
    if writer:
        for row, topic in zip(batch, topics):
            writer.writerow([row["row"], row["sentiment"], round(row["score"], 4), row["emotion"],
                             ";".join(f"{a}:{p}" for a, p in row["aspects"].items()), topic, row["product"],
                             row["month"] or ""])


def _summary(acc: _Accumulator, path: Path, text_col: str, time_col, product_col) -> dict[str, Any]:
    def mean(values: list[float]) -> float:
        return round(float(np.mean(values)), 4)

    aspects = {}
    for aspect, counts in acc.aspects.items():
        total = sum(counts.values())
        if total:
            aspects[aspect] = {"mentions": total, **dict(counts),
                               "negative_share": round(counts["negative"] / total, 4),
                               "complaints": [q for _, q in sorted(acc.quotes[aspect]["negative"], reverse=True)],
                               "praises": [q for _, q in sorted(acc.quotes[aspect]["positive"], reverse=True)]}
    topics = []
    for t in range(acc.k):
        if acc.topic_n[t]:
            topics.append({"topic": t, "reviews": int(acc.topic_n[t]), "label": _topic_label(acc, t),
                           "mean_score": round(float(acc.topic_score[t] / acc.topic_n[t]), 4),
                           "quotes": [q for _, q in sorted(acc.topic_quotes[t], reverse=True)]})
    topics.sort(key=lambda x: -x["reviews"])
    products = sorted(acc.products.items(), key=lambda kv: -len(kv[1]))[:MAX_GROUPS]
    return {
        "kind": "reviews", "path": str(path), "text_col": text_col, "time_col": time_col, "product_col": product_col,
        "reviews": acc.n, "skipped": dict(acc.skipped),
        "sentiment": {"labels": dict(acc.labels), "mean_score": round(acc.score_sum / acc.n, 4),
                      "emotions": dict(acc.emotions), "languages": dict(acc.langs)},
        "aspects": dict(sorted(aspects.items(), key=lambda kv: -kv[1]["mentions"])),
        "discovered_aspects": _discovered(acc),
        "topics": topics,
        "trend": {m: {"reviews": len(v), "mean_score": mean(v)} for m, v in sorted(acc.months.items())},
        "products": {p: {"reviews": len(v), "mean_score": mean(v),
                         "negative_share": round(sum(s < 0 for s in v) / len(v), 4)} for p, v in products},
    }


def _topic_label(acc: _Accumulator, t: int) -> str:
    words = acc.topic_words[t]
    n, total = acc.topic_n[t], acc.n
    scored = []
    for word, count in words.most_common(300):
        if count < 3:
            continue
        lift = (count / n) / (acc.words["all"][word] / total) if acc.words["all"][word] else 0
        scored.append((count * math.log(1 + lift) * (lift > 1.2), word))
    top = [w for s, w in sorted(scored, reverse=True)[:3] if s > 0]
    return " / ".join(top) or (words.most_common(1)[0][0] if words else f"topic {t}")


def _discovered(acc: _Accumulator, top: int = 10) -> list[dict[str, Any]]:
    """Frequent words (not already aspect terms) whose reviews lean clearly one way."""
    known = {t for terms in ASPECTS.values() for t in terms}
    neg, pos = acc.words["negative"], acc.words["positive"]
    n_neg, n_pos = max(1, acc.labels["negative"]), max(1, acc.labels["positive"])
    out = []
    for word, count in acc.words["all"].most_common(2000):
        if word in known or count < max(5, acc.n // 500) or word.isdigit():
            continue
        rate_neg, rate_pos = (neg[word] + 1) / (n_neg + 2), (pos[word] + 1) / (n_pos + 2)
        lean = math.log(rate_neg / rate_pos)
        if abs(lean) >= 0.7:
            out.append({"word": word, "reviews": count, "leans": "negative" if lean > 0 else "positive",
                        "log_odds": round(lean, 3)})
    out.sort(key=lambda x: -(abs(x["log_odds"]) * math.log(x["reviews"])))
    return out[:top]

