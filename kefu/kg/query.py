"""Graph question answering: entity linking + relation matching → the answer with its triple as citation.

    qa = GraphQA(graph)
    found = qa.ask("acme", "X1 Pro 保修多久?")   # GraphAnswer | None
    found.answer, found.confidence, found.triples

Linking finds the longest aliases (zh/en names, models, SKUs) in the question; matching compares the rest
of the question with each linked entity's relations (their names, words and the terms customers use for
them, see ``kefu.kg.relations``). ``prefer`` decides between a graph answer and the text answer.
"""
from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from kefu.errors import NotFoundError
from kefu.kg import relations as rel
from kefu.kg.base import Entity, GraphStore, Triple, norm_alias
from kefu.nlp.text import EN_STOPWORDS, ZH_STOPWORDS, detect_language, normalize, tokenize

EXACT, CONCEPT_TERM, WORD = 0.97, 0.93, 0.85
LEXICAL = 0.8  # a graph answer this confident named its relation in words: it may overrule a disagreeing text
UNCOVERED_COST = 0.25
# Relation by meaning (embedding cosine of e5 query vectors): accepted above MEANING_MIN with a margin over
# the runner-up; its confidence stays below a lexical match's, so a disagreeing text answer can outweigh it.
# Chosen on the benchmark's tuning questions (500 asking an attribute: all kept; 100 asking something the
# graph does not hold, "{e}适合带孩子去吗?": 20 kept, 19 of them "附近有什么好吃的", which names "nearby" anyway).
MEANING_MIN, MEANING_MARGIN, MEANING_BASE, MEANING_MAX = 0.90, 0.01, 0.55, 0.8
NOT_ASKED = frozenset({"mentions", "has_conversation", "mentioned_order", "mentioned_product", "handed_off"})
QUESTION_WORDS = frozenset(
    "多久 多长 多长时间 多少 多大 什么 几 哪 哪些 哪里 吗 呢 是 有 请问 告诉 想 知道 一下 多少钱 啥 咋 么 "
    "您好 你好 谢谢 需要 要 去 逛 玩 到 能 应该 大概 一般 怎么样 问 问下 查 查询 这款 款 的 了 是多少 是什么 吧 "
    "how long much many what which tell know want like please does do is are come comes get hi hello thanks "
    "give show".split())
MAX_VALUES = 12
_ASCII = re.compile(r"[a-z0-9]")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass
class Link:
    entity_ids: list[str]
    alias: str
    start: int
    end: int


@dataclass
class GraphAnswer:
    """An answer from the graph: the text, the triples it rests on, and how sure the match is."""

    answer: str
    language: str
    confidence: float
    entity: dict[str, Any]
    relation: str
    triples: list[Triple] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "language": self.language, "confidence": self.confidence,
                "entity": self.entity, "relation": self.relation, "triples": [t.to_dict() for t in self.triples]}


class GraphQA:
    """Answers attribute and relation questions from one graph store (alias index cached per tenant)."""

    def __init__(self, graph: GraphStore, *, threshold: float = 0.5, max_question_chars: int = 2000,
                 embedder=None) -> None:
        self.graph = graph
        self.threshold = threshold
        self.max_question_chars = max_question_chars
        self.embedder = embedder  # optional: matches relations by meaning when no word names them
        self._relation_vectors: dict[str, Any] = {}
        self._index: dict[str, tuple[int, dict[str, list[str]], int]] = {}
        self._lock = threading.Lock()

    def _aliases(self, tenant: str) -> tuple[dict[str, list[str]], int]:
        version = self.graph.version(tenant)
        with self._lock:
            cached = self._index.get(tenant)
            if cached is None or cached[0] != version:
                aliases = {a: ids for a, ids in self.graph.aliases(tenant).items() if len(a) >= 2}
                cached = (version, aliases, max((len(a) for a in aliases), default=0))
                self._index[tenant] = cached
            return cached[1], cached[2]

    def link(self, tenant: str, question: str) -> list[Link]:
        """The longest non-overlapping aliases found in ``question`` (positions in its normalised form)."""
        aliases, longest = self._aliases(tenant)
        text = _norm_question(question)
        found: list[Link] = []
        for start in range(len(text)):
            if start and _ASCII.match(text[start]) and _ASCII.match(text[start - 1]):
                continue  # an English alias starts at a word boundary
            for end in range(min(len(text), start + longest), start + 1, -1):
                ids = aliases.get(text[start:end])
                if ids and not (end < len(text) and _ASCII.match(text[end - 1]) and _ASCII.match(text[end])):
                    found.append(Link(ids, text[start:end], start, end))
                    break
        found.sort(key=lambda k: (-(k.end - k.start), k.start))
        chosen: list[Link] = []
        for link in found:
            if all(link.end <= c.start or link.start >= c.end for c in chosen):
                chosen.append(link)
        return chosen

    def expansion(self, tenant: str, question: str, max_entities: int = 2, max_neighbours: int = 4) -> list[str]:
        """Words to add to a keyword search for ``question``: the other names of the entities it names
        (an English question about "X1 Pro" also finds "诺瓦X1 Pro降噪耳机") and a few neighbours' names.

        Empty when the question names no entity; never more than a few dozen words.
        """
        question = normalize(question or "")[: self.max_question_chars]
        if not question or self.graph.version(tenant) == 0:
            return []
        words: list[str] = []
        for link in self.link(tenant, question)[:max_entities]:
            for eid in dict.fromkeys(link.entity_ids[:2]):
                try:
                    entity = self.graph.get_entity(tenant, eid)
                except NotFoundError:  # removed since the alias index was read
                    continue
                words += [entity.name, *entity.aliases[:6]]
                edges = self.graph.neighbours(tenant, eid, limit=max_neighbours * 4).edges
                linked = [e for e in edges if e.object_id and e.subject == eid][:max_neighbours]
                words += [e.object_name or e.object for e in linked]
        mentioned = _norm_question(question)
        return [w for w in dict.fromkeys(words) if w and norm_alias(w) not in mentioned][:24]

    def ask(self, tenant: str, question: str) -> GraphAnswer | None:
        """The best-supported graph answer to ``question``, or ``None`` when nothing matches well enough."""
        question = normalize(question or "")[: self.max_question_chars]
        if not question:
            return None
        lang = detect_language(question)
        text = _norm_question(question)
        best: tuple[float, int, str, list[Triple], Link] | None = None
        for link in self.link(tenant, question):
            rest = text[:link.start] + " " + text[link.end:]
            for eid in dict.fromkeys(link.entity_ids):
                triples = self.graph.triples(tenant, subject=eid, limit=500)
                names = {t.relation for t in triples}
                score, length, relation, term = _match_relation(rest, names)
                if relation is not None:
                    # Words the entity and the relation leave unexplained ("…cover water damage") mean the
                    # question asks something else about them: each one costs a quarter of the confidence.
                    score *= max(0.0, 1.0 - UNCOVERED_COST * len(_uncovered(rest, _relation_terms(relation))))
                elif self.embedder is not None:
                    score, relation = self._match_by_meaning(question, link, names, lang)
                    length = 0
                if relation is None:
                    continue
                score *= 1.0 if len(link.alias) >= 4 else 0.95
                if len(set(link.entity_ids)) > 1:
                    score -= 0.1
                chosen = _pick(triples, relation, lang)
                key = (score, length + (link.end - link.start))
                if best is None or key > (best[0], best[1]):
                    best = (score, key[1], relation, chosen, link)
        if best is None or best[0] < self.threshold:
            return None
        score, _, relation, triples, link = best
        entity = self.graph.get_entity(tenant, triples[0].subject)
        return GraphAnswer(_render(display_name(entity, lang), triples, lang), lang, round(score, 4),
                           {"id": entity.id, "name": entity.name, "type": entity.type, "mention": link.alias},
                           relation, triples)


    def _match_by_meaning(self, question: str, link: Link, names: set[str], lang: str) -> tuple[float, str | None]:
        """The relation whose prototype question ("它的地址是什么？") is closest to the question, if clearly so.

        The entity mention is replaced by a pronoun so that only what is asked about it is compared.
        """
        candidates = sorted(n for n in names if n not in NOT_ASKED and len(n) <= 40)
        if not candidates:
            return 0.0, None
        text = _norm_question(question)
        asked = text[:link.start] + ("它" if lang == "zh" else "it") + text[link.end:]
        missing = [n for n in candidates if n not in self._relation_vectors]
        if missing:
            vectors = self.embedder.embed_queries([_prototype(n) for n in missing])
            self._relation_vectors.update(zip(missing, vectors))
        q = self.embedder.embed_queries([asked])[0]
        sims = sorted(((float(self._relation_vectors[n] @ q), n) for n in candidates), reverse=True)
        best, runner_up = sims[0], sims[1][0] if len(sims) > 1 else 0.0
        if best[0] < MEANING_MIN or best[0] - runner_up < MEANING_MARGIN:
            return 0.0, None
        return min(MEANING_MAX, MEANING_BASE + (best[0] - MEANING_MIN) * 2 + (best[0] - runner_up)), best[1]


def _prototype(relation: str) -> str:
    """A question asking for ``relation`` of "it", in Chinese (e5 is cross-lingual)."""
    found = rel.concept(relation)
    label = rel.CONCEPTS[found]["label"][0] if found else " ".join(rel.words(relation))
    return f"它的{label}是什么？"


def display_name(entity: Entity, lang: str) -> str:
    """The entity's name in ``lang``: for Chinese its longest alias written in Chinese, if it has one."""
    if lang == "zh" and not _CJK.search(entity.name):
        chinese = [a for a in entity.aliases if _CJK.search(a)]
        if chinese:
            return max(chinese, key=len)
    return entity.name


def _norm_question(question: str) -> str:
    """Like ``norm_alias`` but keeps every position (only case, width and spaces change)."""
    return " ".join(unicodedata.normalize("NFKC", question).lower().split())


def _relation_terms(relation: str) -> list[str]:
    """Every word that asks for ``relation``, longest first."""
    found = rel.concept(relation)
    terms = [relation.strip().lower(), *(t.lower() for t in rel.CONCEPTS[found]["terms"] if found),
             *(w for w in rel.words(relation) if len(w) >= 3)]
    return sorted(set(terms), key=len, reverse=True)


def _uncovered(rest: str, terms: list[str]) -> list[str]:
    """Content words of the question outside the entity mention and the words asking for the relation."""
    for term in terms:
        if _ASCII.match(term[:1]) or _ASCII.match(term[-1:]):
            rest = re.sub(r"(?<![a-z0-9])" + re.escape(term) + r"(?![a-z0-9])", " ", rest)
        else:
            rest = rest.replace(term, " ")
    return [t for t in tokenize(rest, stopwords=True) if t not in QUESTION_WORDS and t not in EN_STOPWORDS
            and t not in ZH_STOPWORDS and not t.isdigit()]


def _contains(text: str, term: str) -> bool:
    if _ASCII.match(term[:1]) or _ASCII.match(term[-1:]):
        return re.search(r"(?<![a-z0-9])" + re.escape(term) + r"(?![a-z0-9])", text) is not None
    return term in text


def _match_relation(rest: str, relation_names: set[str]) -> tuple[float, int, str | None, str]:
    """The relation the rest of the question asks for: (score, matched length, name, matched term)."""
    best: tuple[float, int, str | None, str] = (0.0, 0, None, "")
    for name in sorted(relation_names):
        own = name.strip().lower()
        found_concept = rel.concept(name)
        candidates = [(EXACT, own)]
        if found_concept:
            candidates += [(CONCEPT_TERM, t.lower()) for t in rel.CONCEPTS[found_concept]["terms"]]
        candidates += [(WORD, w) for w in rel.words(name) if len(w) >= 3 and w not in rel.UNIT_WORDS]
        for score, term in candidates:
            if term and _contains(rest, term) and (score, len(term)) > best[:2]:
                best = (score, len(term), name, term)
    return best


def _pick(triples: list[Triple], relation: str, lang: str) -> list[Triple]:
    """The triples answering ``relation``: those of every relation sharing its concept, preferred first.

    Language variants (``description`` / ``description_zh``) keep only the one in the question's language.
    """
    group = rel.concept(relation)
    names = {t.relation for t in triples if t.relation == relation or (group and rel.concept(t.relation) == group)}
    zh_variants = {n for n in names if n.lower().endswith("_zh")}
    if zh_variants:
        names = zh_variants if lang == "zh" else names - zh_variants
    preferred = rel.PREFERRED_SUFFIX.get(lang, ())
    order = sorted(names, key=lambda n: (not n.lower().endswith(preferred), n != relation, n))
    out, seen = [], set()
    for name in order:
        for t in [t for t in triples if t.relation == name][:MAX_VALUES]:
            if (t.relation, t.object) not in seen:  # the same fact from two sources is cited once
                seen.add((t.relation, t.object))
                out.append(t)
    return out


def _render(name: str, triples: list[Triple], lang: str) -> str:
    values = list(dict.fromkeys(rel.render_value(t.relation, t.object, lang).rstrip("。. ") for t in triples))
    label = rel.label(triples[0].relation, lang)
    if lang == "zh":
        return f"{name}的{label}：{'；'.join(values)}。"
    return f"{label[:1].upper() + label[1:]} of {name}: {'; '.join(values)}."


__all__ = ["GraphAnswer", "GraphQA", "Link"]


def graph_citations(found: GraphAnswer, start: int = 1) -> list:
    """Citations (source ``kg``) for the triples a graph answer rests on."""
    from kefu.dialog.answer import Citation

    out = []
    for n, t in enumerate(found.triples[:MAX_VALUES], start):
        where = t.provenance.get("uri") or t.provenance.get("file") or t.source
        line = t.provenance.get("line") or t.provenance.get("row")
        uri = f"{where}:{line}" if line else where
        out.append(Citation(n, "kg", str(uri), found.entity["name"], f"{t.subject_name or found.entity['name']} —"
                            f"{t.relation}→ {t.object}"[:160], found.confidence, "triple",
                            int(t.provenance.get("chunk_id") or 0)))
    return out


def prefer(text, found: GraphAnswer | None, threshold: float):
    """The graph answer when it is confident and better supported than the text answer, else ``text``.

    Better supported: the text answer abstained, does not state the graph's value, or states it only among
    a passage's other sentences (extractive) while the graph states exactly the fact asked for. A curated
    FAQ answer that states the same value with more confidence keeps precedence. The explanation says which
    won and why.
    """
    if found is None or found.confidence < threshold:
        return text
    why = _why_graph(text, found)
    if why is None:
        text.explanation["graph"] = {"considered": found.answer, "confidence": found.confidence,
                                     "why_not": "the text answer is better supported (a stored FAQ answer with "
                                                "the same value, or a more confident answer that disagrees)"}
        return text
    from kefu.dialog.answer import Answer

    citations = graph_citations(found)
    citations += [c.__class__(**{**c.__dict__, "n": len(citations) + i}) for i, c in enumerate(text.citations[:3], 1)]
    return Answer(found.answer, found.language, found.confidence, citations, "graph",
                  explanation={"why": f"a knowledge-graph fact answers the question ({why})",
                               "threshold": threshold, "graph": {"entity": found.entity, "relation": found.relation},
                               "text_answer": {"mode": text.mode, "confidence": text.confidence}})


def _why_graph(text, found: GraphAnswer) -> str | None:
    """Why the graph answer is better supported than ``text`` (``None`` when it is not)."""
    if text.mode == "abstain":
        return "the text answer abstained"
    body = _squash(text.answer)
    if not any(_squash(t.object)[:60] in body for t in found.triples):
        if found.confidence >= min(text.confidence, LEXICAL):
            return "the text answer does not state the graph's value"
        return None
    if found.confidence >= text.confidence:
        return "the graph answer is at least as confident"
    if text.mode != "faq":
        return "both state the value; the passage says much else, the graph states the fact asked for"
    return None


def _squash(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).lower().split())
