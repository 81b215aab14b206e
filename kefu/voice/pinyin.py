"""Mandarin text as pinyin words, the front end shared by the Mandarin voices (espeak, fastspeech2, kokoro).

    pinyin_words("你好，世界")                      # [["ni3", "hao3"], ",", ["shi4", "jie4"]]
    pinyin_words("展览馆", tone_sandhi=True)        # [["zhan2", "lan2", "guan3"]]
"""
from __future__ import annotations

import re

from kefu.voice.base import VoiceUnavailableError

PUNCT = {"，": ",", "、": ",", "；": ";", "：": ":", "。": ".", "！": "!", "？": "?", "…": "...", "—": ",",
         "（": ",", "）": ",", "“": "", "”": "", "‘": "", "’": "", "《": "", "》": "",
         ",": ",", ";": ";", ":": ":", ".": ".", "!": "!", "?": "?"}
HAN = re.compile(r"[\u3400-\u9fff]")
CLAUSE = re.compile(r"[，,、；;：:。.！!？?…\n]+")  # where the Mandarin voices cut their syntheses


def sandhi(syllables: list[str]) -> list[str]:
    """Third-tone sandhi within a word (``ni3 hao3`` → ``ni2 hao3``); 一 and 不 are left to the voice."""
    out = list(syllables)
    for i in range(len(out) - 1):  # a run of third tones: all but the last become second (展览馆)
        if syllables[i].endswith("3") and syllables[i + 1].endswith("3"):
            out[i] = out[i][:-1] + "2"
    return out


def pinyin_pairs(text: str) -> list[str | list[tuple[str, str]]]:
    """Like ``pinyin_words`` (no sandhi), each Chinese word as ``(character, syllable)`` pairs, for rules
    that depend on the character (一 and 不, not their homophones 衣 or 部)."""
    try:
        from pypinyin import Style, lazy_pinyin
    except ImportError as exc:
        raise VoiceUnavailableError("pypinyin is not installed (pip install 'kefu[voice]')") from exc
    from kefu.nlp.text import segmenter

    out: list[str | list[tuple[str, str]]] = []
    for word in segmenter().lcut(text or ""):
        if word in PUNCT:
            out.append(PUNCT[word])
            continue
        chars = HAN.findall(word)
        if not chars:
            continue
        # One item per character (unknown ones as ""), so the readings line up with the characters;
        # the word is read as a whole for pypinyin's phrase-level readings (银行 hang2, 行走 xing2).
        syllables = lazy_pinyin("".join(chars), style=Style.TONE3, neutral_tone_with_five=True,
                                errors=lambda unknown: [""] * len(unknown))
        pairs = [(c, s) for c, s in zip(chars, syllables, strict=False) if s[-1:].isdigit()]
        if pairs:
            out.append(pairs)
    return out


def pinyin_words(text: str, *, tone_sandhi: bool = False) -> list[str | list[str]]:
    """The jieba words of ``text`` in order: a punctuation mark as its ASCII form (a ``str``, possibly
    empty for quotes), a Chinese word as its syllables with tone numbers (neutral tone ``5``). Anything
    else (Latin letters, digits, symbols) is dropped: ``Speaker`` hands the Mandarin voice Han text only,
    with numbers already written out."""
    out: list[str | list[str]] = []
    for word in pinyin_pairs(text):
        if isinstance(word, str):
            out.append(word)
            continue
        syllables = [s for _, s in word]
        out.append(sandhi(syllables) if tone_sandhi else syllables)
    return out
