"""A tenant's own words, to put right what the recogniser heard as a homophone of one (住销 → 注销).

Whisper writes a domain word it does not expect as characters that sound the same: 质检 as 至减, 注销 as 住销,
增值税 as 增直税. ``Lexicon.correct`` replaces a run of characters whose toneless pinyin is exactly that of a
word of the tenant's knowledge base, when the run is not a word itself. The guards were set on Chinese text
from other domains (SMP2017 and CrossWOZ, 1,667 messages: none changed) and keep it from rewriting text:

* the run must be whole tokens of the transcript's own segmentation (no straddling a word boundary), each a
  single character or a word jieba's dictionary does not know, and none a function character (的, 是, 吗 …);
* the knowledge-base word must be rare in general Chinese (jieba's frequency under ``COMMON``): whisper gets
  common words right by itself, and 好吗 must not become 号码;
* a person's name (jieba's part-of-speech ``nr``: 我叫朱晓 is not 注销) and a knowledge-base word with a numeral
  in it (七天 sounds like the name 齐天, 两天 like 梁天) are never touched.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from kefu.nlp.text import segmenter
from kefu.store.base import CHUNK_KINDS
from kefu.voice.pinyin import HAN

COMMON = 3000  # jieba's frequency of 人工 is 2,816, of 已经 51,289
FUNCTION_CHARS = frozenset("的得地了着过吗呢吧啊呀么嘛是在和与或也就都还很不没有"
                           "我你他她它们这那个一会想时再要能去来到给把被对让说看从谁哪什怎")
NUMERALS = frozenset("零一二三四五六七八九十两百千万亿几")
MAX_TEXTS = 20_000  # chunks read per tenant: a very large knowledge base is sampled by its first ones
HOTWORDS = 10  # words whisper is told to expect (20 helped in-domain more but cost out-of-domain: README)
_HAN_RUN = re.compile(HAN.pattern + "+")


def _sound(word: str) -> tuple[str, ...]:
    from pypinyin import lazy_pinyin

    return tuple(lazy_pinyin(word))


class Lexicon:
    """The words (2–4 Chinese characters) of a knowledge base, by sound."""

    def __init__(self, words: Counter[str]) -> None:
        freq = segmenter().dt.FREQ
        self.words = frozenset(words)
        self._hotwords = _distinctive(words, freq)
        self._by_sound: dict[tuple[str, ...], str] = {}
        for word, count in words.most_common():  # the most used of two same-sounding words wins
            general = freq.get(word, 0)
            if general >= COMMON or (general == 0 and count < 2) or NUMERALS.intersection(word):
                continue  # common, a one-off segmentation, or a number (七天 / the name 齐天)
            self._by_sound.setdefault(_sound(word), word)

    def __len__(self) -> int:
        return len(self._by_sound)

    def hotwords(self, count: int = HOTWORDS) -> list[str]:
        """The knowledge base's most distinctive words (frequent in it, rare in general Chinese), for the
        recogniser to expect (whisper's ``hotwords``)."""
        return self._hotwords[:count]

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Lexicon:
        jieba, words = segmenter(), Counter()
        for text in texts:
            for run in _HAN_RUN.findall(text or ""):
                words.update(w for w in jieba.cut(run) if 2 <= len(w) <= 4)
        return cls(words)

    @classmethod
    def of_tenant(cls, store, tenant: str) -> Lexicon:
        """The words of ``tenant``'s chunks (text, question, answer, title)."""
        chunks = store.list_chunks(tenant, list(CHUNK_KINDS), MAX_TEXTS)
        return cls.from_texts(t for c in chunks for t in (c.text, c.question, c.answer, c.title))

    def correct(self, text: str) -> str:
        """``text`` with each homophone of a knowledge-base word replaced by the word."""
        if not self._by_sound or not _HAN_RUN.search(text):
            return text
        return _HAN_RUN.sub(lambda m: self._run(m.group()), text)

    def _run(self, run: str) -> str:
        jieba, freq = segmenter(), segmenter().dt.FREQ
        starts, loose, pos = set(), set(), 0
        for token in jieba.cut(run, HMM=False):
            starts.add(pos)
            if (len(token) == 1 and token not in FUNCTION_CHARS) or (len(token) > 1 and not freq.get(token)):
                loose.update(range(pos, pos + len(token)))
            pos += len(token)
        starts.add(pos)
        sounds = names = None
        out, i = [], 0
        while i < len(run):
            for n in (4, 3, 2):
                piece = run[i:i + n]
                if len(piece) < n or i + n not in starts or i not in starts or piece in self.words:
                    continue
                if not all(k in loose for k in range(i, i + n)):
                    continue
                if sounds is None:
                    from pypinyin import lazy_pinyin

                    sounds = lazy_pinyin(run)
                word = self._by_sound.get(tuple(sounds[i:i + n]))
                if word is not None and names is None:
                    names = _names(run)
                if word is not None and not names.intersection(range(i, i + n)):
                    out.append(word)
                    i += n
                    break
            else:
                out.append(run[i])
                i += 1
        return "".join(out)


def _distinctive(words: Counter[str], freq: dict[str, int]) -> list[str]:
    """Words of jieba's dictionary (not the segmentation slips its HMM makes of unknown text) used at least 3
    times, rare in general Chinese, without numerals or function characters; by uses over the square root of
    the general frequency."""
    scored = [(count / (1 + freq[word]) ** 0.5, word) for word, count in words.items()
              if count >= 3 and 0 < freq.get(word, 0) < COMMON
              and not NUMERALS.intersection(word) and not FUNCTION_CHARS.intersection(word)]
    return [word for _, word in sorted(scored, key=lambda sw: (-sw[0], sw[1]))]


def _names(run: str) -> set[int]:
    """Positions in ``run`` of the characters of people's names (jieba's part-of-speech tagger)."""
    from jieba import posseg

    segmenter()
    found, pos = set(), 0
    for token in posseg.cut(run):
        if token.flag.startswith("nr"):
            found.update(range(pos, pos + len(token.word)))
        pos += len(token.word)
    return found


__all__ = ["Lexicon"]
