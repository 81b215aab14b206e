"""Entities and triples from the knowledge base's chunks.

* Catalogue rows (chunks of kind ``row``): one entity per row (name, Chinese name, SKU and model aliases
  such as "X1 Pro" / "诺瓦X1 Pro"), one triple per other column (``warranty_months`` → ``24``).
* Documents (passages, FAQ entries): the document is a node that ``mentions`` the known entities (alias
  match) and organisations/places found by NER (LAC for Chinese, spaCy for English); attribute sentences
  become triples through patterns: "X 的保修期是 24 个月", "the warranty of X is …", "X … 24-month warranty".

Every triple keeps its provenance: the document uri and chunk id (and the row number for tables).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from kefu.kg.base import Triple, norm_alias
from kefu.kg.relations import CONCEPTS
from kefu.kg.resolve import Resolver
from kefu.store.base import Chunk

NAME_COLUMNS = ("name", "product", "product_name", "名称", "产品", "title")
ALIAS_COLUMNS = ("name_zh", "sku", "model", "型号", "alias", "aliases", "别名")
SKIP_ALIAS = re.compile(r"\d+|.")
NER_KINDS = {"ORG": "organisation", "LOC": "place"}
_ZH_ATTR = re.compile(r"(?P<s>[A-Za-z0-9\u4e00-\u9fff][A-Za-z0-9\u4e00-\u9fff \-]{1,30}?)的(?P<r>[\u4e00-\u9fff]{2,8}?)"
                      r"(?:是|为)(?P<o>[^，。；！？,;!?\n]{1,60})")
_EN_ATTR = re.compile(r"\bthe (?P<r>[a-z][a-z ]{2,30}?) (?:of|for) (?:the )?(?P<s>[A-Za-z0-9][\w\- ]{1,40}?) "
                      r"(?:is|are) (?P<o>[^.;\n]{1,80})", re.I)
_DURATION = re.compile(r"(?P<n>\d+)\s*(?:-|\s)?(?P<u>个月|months?|年|years?|天|days?)", re.I)
_SENTENCES = re.compile(r"[^。！？；!?;\n]+(?:[。！？；!?;]|\n|$)|[^.]+(?:\.\s|$)")


def row_name(fields: dict[str, Any]) -> str | None:
    """The name column's value of a catalogue row, if it has one."""
    for key, value in fields.items():
        if str(key).strip().lower() in NAME_COLUMNS and str(value).strip():
            return str(value).strip()
    return None


def catalogue_triples(resolver: Resolver, chunks: list[Chunk], source: str) -> list[Triple]:
    """One product entity per catalogue row, one triple per other non-empty column."""
    from kefu.nlp.entities import Gazetteer

    rows = [(c, c.meta["fields"]) for c in chunks
            if isinstance(c.meta.get("fields"), dict) and row_name(c.meta["fields"])]
    if not rows:
        return []
    derived: dict[str, list[str]] = {}
    for alias, canon in Gazetteer.from_rows([f for _, f in rows]).aliases.items():
        derived.setdefault(canon, []).append(alias)
    out = []
    for chunk, fields in rows:
        name = row_name(fields) or ""
        explicit = [str(v).strip() for k, v in fields.items()
                    if str(k).strip().lower() in ALIAS_COLUMNS and str(v).strip()]
        aliases = [a for a in [*explicit, *derived.get(name, [])] if not SKIP_ALIAS.fullmatch(a.strip())]
        entity = resolver.entity(name, "product", aliases, {"sku": fields.get("sku")} if fields.get("sku") else None,
                                 define=True)
        for key, value in fields.items():
            key, value = str(key).strip(), str(value).strip()
            if not value or key.lower() in NAME_COLUMNS or key.lower() in ("name_zh", "alias", "aliases", "别名"):
                continue
            out.append(Triple(resolver.tenant, entity.id, key, value, None, source,
                              {"uri": chunk.uri, "chunk_id": chunk.id, "row": chunk.meta.get("row")}))
    return out


class DocumentExtractor:
    """Triples from document chunks: mentions of known entities, NER organisations/places, attribute patterns."""

    def __init__(self, *, ner: bool = True) -> None:
        self.ner = ner
        self._extractor = None

    def _entities(self, text: str):
        if not self.ner:
            return []
        if self._extractor is None:
            from kefu.nlp.entities import EntityExtractor

            self._extractor = EntityExtractor(None, ner=True)
        out = []
        for e in self._extractor.extract(text):
            name = re.sub(r"^(?:the|a|an|our|your)\s+", "", e.text.strip(), flags=re.I)
            if e.type in NER_KINDS and len(name) >= 2:
                out.append((name, NER_KINDS[e.type]))
        return out

    def triples(self, resolver: Resolver, title: str, chunks: Iterable[Chunk], source: str,
                aliases: dict[str, list[str]]) -> list[Triple]:
        """Triples for one document's chunks (``aliases``: the graph's alias index, for linking)."""
        chunks = list(chunks)
        if not chunks:
            return []
        doc = resolver.entity(title or chunks[0].uri or source, "document", meta={"uri": chunks[0].uri})
        out: list[Triple] = []
        longest = max((len(a) for a in aliases), default=0)
        for chunk in chunks:
            text = " ".join(filter(None, (chunk.question, chunk.answer if chunk.kind == "faq" else chunk.text)))
            prov = {"uri": chunk.uri, "chunk_id": chunk.id}
            linked = find_aliases(text, aliases, longest)
            mentions = [resolver.refer(alias) for alias, ids in linked if len(set(ids)) == 1]
            mentions += [resolver.refer(name, kind) for name, kind in self._entities(text)]
            for eid, name in mentions:
                if eid != doc.id:
                    out.append(Triple(resolver.tenant, doc.id, "mentions", name, eid, source, prov))
            out += _patterns(resolver, text, source, prov, aliases, longest)
        return out


def _patterns(resolver: Resolver, text: str, source: str, prov: dict, aliases: dict[str, list[str]],
              longest: int) -> list[Triple]:
    out = []
    for pattern in (_ZH_ATTR, _EN_ATTR):
        for m in pattern.finditer(text):
            subject = resolver.lookup(m.group("s").strip())
            if subject is None:
                continue
            out.append(Triple(resolver.tenant, subject, m.group("r").strip().lower(), m.group("o").strip(" ，,"),
                              None, source, {**prov, "pattern": "attribute"}))
    warranty_terms = CONCEPTS["warranty"]["terms"]
    for sentence in _SENTENCES.findall(text):
        low = sentence.lower()
        if not any(t in low for t in warranty_terms):
            continue
        linked = [ids[0] for _, ids in find_aliases(sentence, aliases, longest) if len(set(ids)) == 1]
        duration = _DURATION.search(sentence)
        if len(set(linked)) == 1 and duration:
            out.append(Triple(resolver.tenant, linked[0], "warranty", duration.group().strip(), None, source,
                              {**prov, "pattern": "warranty"}))
    return out


def find_aliases(text: str, aliases: dict[str, list[str]], longest: int) -> list[tuple[str, list[str]]]:
    """Longest non-overlapping known aliases in ``text`` (English ones on word boundaries)."""
    low = " ".join(norm_alias(text).split()) if text else ""
    found: list[tuple[int, int, str]] = []
    i = 0
    while i < len(low):
        hit = None
        if not (i and low[i].isascii() and low[i].isalnum() and low[i - 1].isascii() and low[i - 1].isalnum()):
            for end in range(min(len(low), i + longest), i + 1, -1):
                piece = low[i:end]
                if piece in aliases and not (end < len(low) and low[end - 1].isascii() and low[end - 1].isalnum()
                                             and low[end].isascii() and low[end].isalnum()):
                    hit = (i, end, piece)
                    break
        if hit:
            found.append(hit)
            i = hit[1]
        else:
            i += 1
    return [(piece, aliases[piece]) for _, _, piece in found]
