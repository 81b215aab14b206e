"""Answers without any LLM: a matching FAQ / mined Q&A answer, or the best supporting sentences.

Every answer carries citations and a calibrated confidence; below the threshold
the bot says it is not sure and offers a human agent.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from kefu.dialog.calibration import Calibration, default_calibration
from kefu.errors import InputError
from kefu.nlp.text import detect_language, normalize, split_sentences, token_set, tokenize
from kefu.retrieve.retriever import Retriever
from kefu.store.base import Filters, Hit

ABSTAIN = {
    "en": "I'm not sure about that, and I don't want to guess. Would you like me to connect you "
          "with a human agent?",
    "zh": "抱歉，这个问题我不太确定，不想给您错误的答复。需要为您转接人工客服吗？",
}
SAME_LANGUAGE_MARGIN = 0.08  # prefer a same-language source within this much confidence
SNIPPET_CHARS = 160
ANSWER_CHARS = 400


@dataclass
class Citation:
    n: int
    source: str
    uri: str
    title: str
    snippet: str
    score: float
    kind: str
    chunk_id: int


@dataclass
class Answer:
    answer: str
    language: str
    confidence: float
    citations: list[Citation]
    mode: str  # faq | extractive | graph | abstain
    handoff_offered: bool = False
    explanation: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Candidate:
    hit: Hit
    group: str
    features: dict[str, float]
    confidence: float


class Answerer:
    """Answers questions for a tenant from what the retriever finds."""

    def __init__(self, retriever: Retriever, *, threshold: float = 0.5, top_k: int = 5,
                 max_question_chars: int = 2000, calibration: Calibration | None = None, graph_qa=None) -> None:
        self.retriever = retriever
        self.graph_qa = graph_qa  # a kefu.kg.query.GraphQA: its answer wins when better supported
        self.threshold = threshold
        self.top_k = top_k
        self.max_question_chars = max_question_chars
        self.calibration = calibration or default_calibration()

    def ask(self, tenant: str, question: str, filters: Filters | None = None) -> Answer:
        answer = self._ask_text(tenant, question, filters)
        if self.graph_qa is None or filters is not None:
            return answer
        from kefu.kg.query import prefer

        return prefer(answer, self.graph_qa.ask(tenant, question), self.threshold)

    def _ask_text(self, tenant: str, question: str, filters: Filters | None = None) -> Answer:
        question = normalize(question or "")
        if not question:
            raise InputError("the question is empty")
        if len(question) > self.max_question_chars:
            raise InputError(f"the question is {len(question)} characters long; the limit is "
                             f"{self.max_question_chars} (setting max_question_chars)")
        lang = detect_language(question)
        retrieval = self.retriever.search(tenant, question, max(self.top_k, 10), filters=filters)
        candidates = self.score(question, retrieval.hits, retrieval.query_vector)
        citations = _citations(retrieval.hits[:self.top_k])
        if not candidates:
            return self._abstain(lang, citations, None)
        best = _pick(candidates, lang)
        if best.confidence < self.threshold:
            return self._abstain(lang, citations, best)
        chunk = best.hit.chunk
        if best.group == "question":
            text, mode = chunk.answer, "faq"
        else:
            text, mode = best_sentences(question, chunk.text), "extractive"
        citations = _citations([best.hit] + [h for h in retrieval.hits[:self.top_k] if h is not best.hit])
        return Answer(text, lang, round(best.confidence, 4), citations, mode,
                      explanation=_explain(best, mode, self.threshold))

    def score(self, question: str, hits: list[Hit], query_vector: np.ndarray | None) -> list[_Candidate]:
        """Features and calibrated confidence for each retrieved chunk."""
        q_tokens = set(tokenize(question))
        uncovered = _uncovered(question, q_tokens, hits)
        cosines = []
        for hit in hits:
            vec = hit.chunk.vector
            cosines.append(float(vec @ query_vector) if vec is not None and query_vector is not None
                           and vec.shape == query_vector.shape else 0.0)
        out = []
        for i, hit in enumerate(hits):
            chunk = hit.chunk
            group = "question" if chunk.kind in ("faq", "qa") else "passage"
            target = chunk.question if group == "question" else f"{chunk.title} {chunk.text}"
            c_tokens = token_set(target)
            overlap = len(q_tokens & c_tokens) / len(q_tokens) if q_tokens else 0.0
            others = [c for j, c in enumerate(cosines) if j != i]
            margin = cosines[i] - max(others) if others else 0.0
            features = {"cosine": cosines[i], "overlap": overlap, "margin": margin,
                        "uncovered": uncovered}
            out.append(_Candidate(hit, group, features,
                                  self.calibration.confidence(group, features)))
        return out

    def _abstain(self, lang: str, citations: list[Citation], best: _Candidate | None) -> Answer:
        return Answer(ABSTAIN.get(lang, ABSTAIN["en"]), lang,
                      round(best.confidence, 4) if best else 0.0, citations, "abstain",
                      handoff_offered=True, explanation=_explain(best, "abstain", self.threshold))


def _uncovered(question: str, q_tokens: set[str], hits: list[Hit]) -> float:
    """Share of the question's words found in none of the retrieved chunks.

    A word the knowledge base never mentions ("汽车" in "你们卖汽车吗") is strong evidence the
    question is out of scope. Only counted when some hit is in the question's language, so
    cross-lingual questions are not penalised for having no words in common.
    """
    lang = detect_language(question)
    same = [h.chunk for h in hits if h.chunk.lang == lang]
    if not q_tokens or not same:
        return 0.0
    # Substring rather than token match: "退" is covered by "退货", "return" by "returns".
    seen = " ".join(f"{c.title} {c.question} {c.text}" for c in same).lower()
    return sum(token not in seen for token in q_tokens) / len(q_tokens)


def _pick(candidates: list[_Candidate], lang: str) -> _Candidate:
    """Most confident candidate, preferring the customer's language when nearly as good.

    Question matches (FAQ, mined Q&A) give complete answers, so they win ties with passages.
    """
    ranked = sorted(candidates, key=lambda c: (-(c.confidence + (0.02 if c.group == "question"
                                                                  else 0.0))))
    best = ranked[0]
    if best.hit.chunk.lang != lang:
        same = [c for c in ranked if c.hit.chunk.lang == lang]
        if same and same[0].confidence >= best.confidence - SAME_LANGUAGE_MARGIN:
            return same[0]
    return best


def best_sentences(question: str, text: str, limit: int = ANSWER_CHARS) -> str:
    """The sentences of ``text`` that share most words with the question, in their original order; those
    that were on different lines (a heading, list items, table rows) stay on different lines."""
    sentences = split_sentences(text)
    if len(sentences) <= 1 or len(text) <= limit:
        return text.strip()
    q_tokens = set(tokenize(question))
    scored = sorted(range(len(sentences)),
                    key=lambda i: (-len(q_tokens & set(tokenize(sentences[i]))), i))
    chosen: list[int] = []
    size = 0
    for i in scored:
        if size + len(sentences[i]) > limit and chosen:
            break
        chosen.append(i)
        size += len(sentences[i])
    glue = "" if detect_language(text) == "zh" else " "
    starts, at = [], 0
    for sentence in sentences:
        start = text.find(sentence, at)
        starts.append(start if start >= 0 else at)
        at = starts[-1] + len(sentence)
    out, last = "", None
    for i in sorted(chosen):
        if last is not None:  # a title, list item or table row stays on its own line
            out += "\n" if "\n" in text[starts[last] + len(sentences[last]):starts[i]] else glue
        out += sentences[i]
        last = i
    return out


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS - 1] + "…"


def _citations(hits: list[Hit]) -> list[Citation]:
    out = []
    for n, hit in enumerate(hits, 1):
        c = hit.chunk
        body = f"Q: {c.question} A: {c.answer}" if c.kind in ("faq", "qa") else c.text
        out.append(Citation(n, c.source or "", c.uri or "", c.title, _snippet(body),
                            round(float(hit.score), 6), c.kind, int(c.id or 0)))
    return out


def _explain(best: _Candidate | None, mode: str, threshold: float) -> dict:
    if best is None:
        return {"why": "nothing in the knowledge base matched the question", "threshold": threshold}
    reason = {
        "faq": "a stored question matches closely; its answer is returned as written",
        "extractive": "the best passage's most relevant sentences are returned",
        "abstain": "the best match is below the confidence threshold",
    }[mode]
    return {"why": reason, "threshold": threshold, "best_kind": best.hit.chunk.kind,
            "features": {k: round(v, 4) for k, v in best.features.items()},
            "retrieval": best.hit.chunk.meta.get("scores", {})}
