"""Fluent answers from a model, grounded in the retrieved passages, with a fallback that never fails.

The extractive answer comes first and decides *whether* to answer (its calibrated confidence): the
model only rewrites an answer kefu already has sources for. Then:

1. the customer's message and the passages lose their instruction-like sentences (``guard.neutralise``);
2. PII is replaced by placeholders when the model is not on this machine;
3. each generator of the chain is tried; its reply must not say NO_ANSWER, leak the system prompt,
   switch language, or contain unsupported sentences (those are dropped, ``grounding.check``);
4. if nothing usable comes back, the extractive answer is returned, with the reason in its explanation.
"""
from __future__ import annotations

import logging
import re
from dataclasses import replace
from urllib.parse import urlparse

from kefu.dialog.answer import Answer
from kefu.llm import guard, prompt
from kefu.llm.base import Generator, GeneratorError
from kefu.llm.grounding import check
from kefu.nlp.text import detect_language

log = logging.getLogger("kefu.llm")
MAX_SOURCES = 3
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class Composer:
    """One tenant's chain of generators plus the checks around them."""

    def __init__(self, store, embedder, generators: list[Generator], *, max_tokens: int = 300,
                 temperature: float = 0.2, redact: bool = True) -> None:
        self.store = store
        self.embedder = embedder
        self.generators = generators
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.redact = redact

    @property
    def enabled(self) -> bool:
        return bool(self.generators)

    def compose(self, tenant: str, question: str, answer: Answer, *, emotion: str = "neutral",
                history: list[tuple[str, str]] | None = None) -> Answer:
        """The generated answer, or ``answer`` itself (explaining why) when no model gives a usable one."""
        if not self.generators or answer.mode == "abstain" or not answer.citations:
            return answer
        clean_q, removed_q = guard.neutralise(question)
        if not clean_q:
            return _fallback(answer, "the message was only instructions to the model; not sent")
        sources, removed_s = self._sources(tenant, answer)
        if not sources:
            return _fallback(answer, "no source text to ground a generated answer")
        redactor = guard.Redactor() if self.redact else None
        if redactor:
            clean_q = redactor.redact(clean_q)
            sources = [(redactor.redact(t), redactor.redact(x)) for t, x in sources]
            history = [(r, redactor.redact(x)) for r, x in history or []]
        messages = prompt.answer_messages(clean_q, sources, lang=answer.language, emotion=emotion,
                                          history=history)
        guarded = {"instructions_removed": {"question": removed_q, "sources": removed_s},
                   "pii_redacted": len(redactor.mapping) if redactor else 0}
        failures = []
        for gen in self.generators:
            try:
                out = gen.generate(messages, max_tokens=self.max_tokens, temperature=self.temperature)
            except GeneratorError as exc:
                failures.append(f"{gen.name}: {exc}")
                log.warning("generator failed; falling back", extra={"fields": {"generator": gen.name}})
                continue
            text = redactor.restore(out.text) if redactor else out.text
            if out.finish_reason == "length":  # cut off: the last sentence is unfinished
                text = _complete_sentences(text)
            verdict = self._verdict(text, messages[0]["content"], [s[1] for s in sources], answer.language,
                                    redactor, clean_q)
            if isinstance(verdict, str):
                failures.append(f"{gen.name}: {verdict}")
                continue
            grounding, kept = verdict
            return replace(answer, answer=kept, mode="generated", explanation={
                **answer.explanation, "why": "a model rewrote the retrieved sources; every sentence kept is "
                "supported by the source it cites",
                "generator": {"name": gen.name, "model": out.model, "ms": round(out.ms, 1),
                              "tokens": {"prompt": out.prompt_tokens, "completion": out.completion_tokens},
                              "failures": failures},
                "grounding": {"supported_ratio": round(grounding.supported_ratio, 4),
                              "citation_accuracy": None if grounding.citation_accuracy is None
                              else round(grounding.citation_accuracy, 4),
                              "sentences": len(grounding.sentences),
                              "dropped": sum(not s.supported for s in grounding.sentences)},
                "guard": guarded, "extractive_answer": answer.answer})
        return _fallback(answer, "; ".join(failures) or "no generator", guarded)

    def rewrite(self, previous: str, follow_up: str) -> str | None:
        """A standalone version of a follow-up question from the first working generator, or ``None``."""
        if not self.generators or guard.injection_reasons(follow_up):
            return None
        for gen in self.generators:
            try:
                out = gen.generate(prompt.rewrite_messages(previous, follow_up), max_tokens=60, temperature=0.0)
            except GeneratorError:
                continue
            text = out.text.strip().strip('"“”').splitlines()[0].strip() if out.text.strip() else ""
            if 3 <= len(text) <= 300 and detect_language(text) == detect_language(follow_up) \
                    and not guard.injection_reasons(text):
                return text
        return None

    def _sources(self, tenant: str, answer: Answer) -> tuple[list[tuple[str, str]], int]:
        ids = [c.chunk_id for c in answer.citations[:MAX_SOURCES]]
        chunks = {c.id: c for c in self.store.get_chunks(tenant, ids)}
        out, removed = [], 0
        for cid in ids:
            chunk = chunks.get(cid)
            if chunk is None:
                continue
            body = f"Q: {chunk.question}\nA: {chunk.answer}" if chunk.kind in ("faq", "qa") else chunk.text
            clean, n = guard.neutralise(body)
            removed += n
            out.append((chunk.title, clean))
        return out, removed

    def _verdict(self, text: str, system: str, passages: list[str], lang: str, redactor, question: str = ""):
        text = text.strip()
        if not text or prompt.NO_ANSWER in text:
            return "the model found no answer in the sources"
        if guard.leaks(text, system):
            return "the reply repeated the system prompt"
        # placeholders the customer never gave ([PHONE_2]) and the knowledge base's own ([BANK_CARD])
        text = re.sub(r"\[[A-Z][A-Z_]*(?:_\d+)?\]", "", text)
        if redactor:
            passages = [redactor.restore(p) for p in passages]
        grounding = check(text, passages, embedder=self.embedder, question=question)
        kept = grounding.kept_text(lang)
        if not kept:
            return "no sentence of the reply was supported by its sources"
        if detect_language(kept) != lang:
            return f"the reply was not in the customer's language ({lang})"
        return grounding, kept


def _complete_sentences(text: str) -> str:
    """``text`` up to its last sentence end (a reply cut off by max_tokens ends mid-sentence)."""
    ends = [m.end() for m in re.finditer(r"[。！？!?.](?:\s*\[\d{1,2}\])*", text)]
    return text[:ends[-1]] if ends else text


def _fallback(answer: Answer, reason: str, guarded: dict | None = None) -> Answer:
    explanation = {**answer.explanation, "generator_fallback": reason}
    if guarded:
        explanation["guard"] = guarded
    return replace(answer, explanation=explanation)


def build_chain(config, names: str | None = None) -> list[Generator]:
    """Generators named in ``names`` (comma-separated; default: setting ``generator``), each from config."""
    from kefu.registry import resolve

    chain = []
    for name in [n.strip() for n in (config.generator if names is None else names).split(",") if n.strip()]:
        if name == "extractive":
            continue
        cls = resolve("generator", name)
        chain.append(cls.from_config(config) if hasattr(cls, "from_config") else cls())
    return chain


def should_redact(config) -> bool:
    if config.llm_redact != "auto":
        return config.llm_redact == "always"
    generators = {n.strip() for n in config.generator.split(",") if n.strip()}
    if generators <= {"llamacpp", "extractive"}:
        return False
    return (urlparse(config.llm_base_url).hostname or "") not in LOOPBACK

