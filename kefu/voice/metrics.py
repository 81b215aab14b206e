"""Recognition error rates: word error rate (English) and character error rate (Chinese).

Text is normalised first (case, punctuation, full-width forms, spaces), and numbers are compared as
spoken words in both texts (``$19.99`` and "nineteen dollars and ninety-nine cents" agree), so a
transcript is not penalised for writing digits where the reference spells them out.
"""
from __future__ import annotations

import re
import unicodedata

from kefu.voice.text_norm import speakable


def edit_distance(a: list[str] | str, b: list[str] | str) -> int:
    """Levenshtein distance between two sequences."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def en_words(text: str) -> list[str]:
    """Lower-case words of English text with numbers, prices, dates read out."""
    text = speakable(unicodedata.normalize("NFKC", text), "en").lower().replace("-", " ")
    return re.findall(r"[a-z0-9']+", text)


def zh_chars(text: str) -> list[str]:
    """Characters of Chinese text (Han, letters, digits read out), no punctuation or spaces."""
    text = speakable(unicodedata.normalize("NFKC", text), "zh").lower()
    return [c for c in text if c.isalnum()]


def wer(reference: str, hypothesis: str) -> tuple[int, int]:
    """``(errors, reference words)``; divide the sums over a corpus for its WER."""
    ref, hyp = en_words(reference), en_words(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def cer(reference: str, hypothesis: str) -> tuple[int, int]:
    """``(errors, reference characters)`` for Chinese."""
    ref, hyp = zh_chars(reference), zh_chars(hypothesis)
    return edit_distance(ref, hyp), len(ref)
