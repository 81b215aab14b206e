"""Text utilities shared by ingest, retrieval and dialog: normalise, detect zh/en, tokenise, split."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
HAN = re.compile(r"[\u4e00-\u9fff]")  # the common Chinese characters (CJK Unified Ideographs)
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")
# Chinese sentence punctuation stays with its sentence; English needs a following space.
_SENTENCE_END = re.compile(r"(?<=[。！？；!?])(?![。！？；!?\s])\s*|(?<=[。！？；!?])\s+|"
                           r"(?<=[.;])\s+(?=[A-Z0-9\"'(\u4e00-\u9fff])|\n+")
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[.'\-][A-Za-z0-9]+)*|[\u3400-\u9fff\uf900-\ufaff]+")
# Full-width punctuation is how Chinese is written: keep it through NFKC.
_KEEP = "，！？：；（）"
_PROTECT = str.maketrans({c: chr(0xE000 + i) for i, c in enumerate(_KEEP)})
_RESTORE = str.maketrans({chr(0xE000 + i): c for i, c in enumerate(_KEEP)})

EN_STOPWORDS = frozenset(
    "a an the is are was were be been am do does did i you he she it we they me my your our their "
    "to of in on at for with and or but if so as by from this that these those there here what "
    "which who whom how can could would should will shall may might must have has had not no "
    "please hi hello thanks thank just any some about into than then its it's i'm".split()
)
ZH_STOPWORDS = frozenset("的 了 吗 呢 吧 啊 呀 是 我 你 您 他 她 它 们 在 有 和 与 就 都 也 还 要 会 能 "
                         "可以 这个 那个 这 那 请问 一下 怎么 什么 如何 为什么 哪 个".split())


def normalize(text: str) -> str:
    """NFKC (full-width letters and digits → ASCII), drop control characters, collapse spaces.

    Chinese punctuation (``，！？：；（）``) is kept as written.
    """
    text = unicodedata.normalize("NFKC", text.translate(_PROTECT)).translate(_RESTORE)
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def has_han(text: str) -> bool:
    """Whether ``text`` holds a common Chinese character."""
    return HAN.search(text) is not None


def detect_language(text: str) -> str:
    """``zh`` when Chinese characters carry the text, ``en`` otherwise (mixed counts by weight)."""
    cjk = len(_CJK.findall(text))
    words = len(_LATIN_WORD.findall(text))
    if cjk == 0:
        return "en"
    # A Chinese character carries about as much as an English word of ~1.5 characters.
    return "zh" if cjk >= words * 1.5 else "en"


@lru_cache(maxsize=1)
def segmenter():
    """jieba, quiet and with its dictionary loaded (once per process): the one Chinese word segmenter kefu
    uses, for search tokens here and for the voice's pinyin (``kefu.voice.pinyin``)."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def tokenize(text: str, *, stopwords: bool = False) -> list[str]:
    """Lower-cased word tokens; Chinese runs are segmented with jieba (search mode).

    Works on mixed text: ``"X1 Pro 保修多久"`` → ``["x1", "pro", "保修", "多久"]``.
    """
    tokens: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        piece = match.group()
        if _CJK.match(piece):
            for word in segmenter().cut_for_search(piece):
                if word.strip():
                    tokens.append(word)
        else:
            tokens.append(piece)
    if stopwords:
        return tokens
    return [t for t in tokens if t not in EN_STOPWORDS and t not in ZH_STOPWORDS] or tokens


@lru_cache(maxsize=8192)
def token_set(text: str) -> frozenset[str]:
    """``set(tokenize(text))``, remembered: retrieved passages come back turn after turn."""
    return frozenset(tokenize(text))


def split_sentences(text: str) -> list[str]:
    """Sentences for zh (。！？；) and en (. ! ? followed by space); keeps the punctuation."""
    parts = _SENTENCE_END.split(text)
    return [p.strip() for p in parts if p and p.strip()]


def char_len(text: str) -> int:
    """Length used for chunk budgets: characters, with whitespace collapsed."""
    return len(_SPACES.sub(" ", text))
