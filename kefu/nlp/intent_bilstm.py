"""The seed design's intent model, an optional extra: Embedding → BiLSTM(128) → Dense softmax, trained with
Adam (needs PyTorch: ``pip install 'kefu[bilstm]'``); saved, versioned and loaded like the ensemble
(``kefu.nlp.intent``)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from kefu.errors import InputError
from kefu.nlp.embed import Embedder
from kefu.nlp.features import data_hash
from kefu.nlp.intent_base import FORMAT, OOS, IntentPrediction, _clip, _prediction, _read_card, _write_card
from kefu.nlp.intent_data import TrainingData, check_oos_recall, check_trainable, stratified_split
from kefu.nlp.intent_metrics import _decide, _pick_threshold, evaluate


def _require_torch():
    try:
        import torch
    except ImportError:
        raise InputError(
            "the bilstm intent model needs PyTorch, which is not installed",
            hint="pip install 'kefu[bilstm]' (torch==2.13.0, CPU build)",
        ) from None
    return torch


def _bilstm_module(torch, vocab_size: int, n_classes: int, dim: int, hidden: int):
    nn = torch.nn

    class Net(nn.Module):
        """Embedding → BiLSTM(hidden) → Dense softmax (the softmax lives in the loss / proba)."""

        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
            self.lstm = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
            self.dense = nn.Linear(2 * hidden, n_classes)

        def forward(self, ids, lengths):
            packed = nn.utils.rnn.pack_padded_sequence(
                self.embedding(ids), lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            _, (h, _) = self.lstm(packed)
            return self.dense(torch.cat([h[0], h[1]], dim=1))

    return Net()


class BiLSTMIntentModel:
    """The seed design, exactly: Embedding → BiLSTM(128) → Dense softmax, trained with Adam.

    Tokens are words (jieba for Chinese); the out-of-scope threshold is calibrated on validation
    data as for the ensemble. Needs the ``bilstm`` extra (torch, CPU).
    """

    kind = "bilstm"
    max_len = 48

    def __init__(
        self,
        labels: list[str],
        vocab: dict[str, int],
        state: dict[str, np.ndarray],
        threshold: float,
        card: dict[str, Any] | None = None,
        dim: int = 128,
        hidden: int = 128,
    ) -> None:
        self.labels = labels
        self.vocab = vocab
        self.state = state
        self.threshold = threshold
        self.card = card or {}
        self.dim, self.hidden = dim, hidden
        self._net = None

    @staticmethod
    def _tokens(text: str) -> list[str]:
        from kefu.nlp.text import tokenize

        return tokenize(text, stopwords=True)[: BiLSTMIntentModel.max_len] or ["<empty>"]

    def _ids(self, texts: Sequence[str]):
        torch = _require_torch()
        seqs = [[self.vocab.get(tok, 1) for tok in self._tokens(t)] for t in texts]
        lengths = torch.tensor([len(s) for s in seqs])
        ids = torch.zeros((len(seqs), int(lengths.max())), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
        return ids, lengths

    @classmethod
    def fit(
        cls,
        data: TrainingData,
        embedder: Embedder | None = None,
        *,
        val: TrainingData | None = None,
        val_fraction: float = 0.15,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 2e-3,
        dim: int = 128,
        hidden: int = 128,
        seed: int = 0,
        target_in_scope: float | None = None,
        oos_recall: float | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> BiLSTMIntentModel:
        """Train with Adam; keeps the epoch with the best validation accuracy. ``embedder`` is unused."""
        torch = _require_torch()
        say = progress or (lambda _msg: None)
        check_trainable(data)
        check_oos_recall(oos_recall, data, val)
        start = time.perf_counter()
        torch.manual_seed(seed)
        texts, y_all = _clip(data.texts), data.labels
        if val is not None:
            tr_idx, val_texts, val_y = list(range(len(texts))), _clip(val.texts), list(val.labels)
        else:
            tr_idx, va_idx = stratified_split(y_all, val_fraction, seed)
            val_texts, val_y = [texts[i] for i in va_idx], [y_all[i] for i in va_idx]
        labels = sorted(set(y_all))
        index = {lab: i for i, lab in enumerate(labels)}
        counts = Counter(tok for i in tr_idx for tok in cls._tokens(texts[i]))
        vocab = {tok: n + 2 for n, (tok, _) in enumerate(counts.most_common(50000))}  # 0 pad, 1 unknown
        model = cls(labels, vocab, {}, 0.0, dim=dim, hidden=hidden)
        net = _bilstm_module(torch, len(vocab) + 2, len(labels), dim, hidden)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        loss_fn = torch.nn.CrossEntropyLoss()
        x_ids, x_len = model._ids([texts[i] for i in tr_idx])
        y = torch.tensor([index[y_all[i]] for i in tr_idx])
        v_ids, v_len = model._ids(val_texts) if val_texts else (None, None)
        best_acc, best_state = -1.0, None
        gen = torch.Generator().manual_seed(seed)
        for epoch in range(epochs):
            net.train()
            order = torch.randperm(len(y), generator=gen)
            for b in range(0, len(y), batch_size):
                idx = order[b : b + batch_size]
                lengths = x_len[idx]
                ids = x_ids[idx][:, : int(lengths.max())]
                opt.zero_grad()
                loss = loss_fn(net(ids, lengths), y[idx])
                loss.backward()
                opt.step()
            net.eval()
            if v_ids is None:
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                continue
            with torch.no_grad():
                pred = net(v_ids, v_len).argmax(1).tolist()
            acc = float(np.mean([labels[p] == g for p, g in zip(pred, val_y)]))
            say(f"epoch {epoch + 1}/{epochs}: validation accuracy {acc:.4f}")
            if acc > best_acc:
                best_acc, best_state = acc, {k: v.detach().clone() for k, v in net.state_dict().items()}
        net.load_state_dict(best_state)
        model.state = {k: v.numpy() for k, v in best_state.items()}
        model._net = net.eval()
        metrics: dict[str, Any] = {}
        if val_texts:
            proba = model.proba(val_texts)
            model.threshold = _pick_threshold(labels, proba, np.asarray(val_y), target_in_scope, oos_recall)
            m = evaluate(val_y, _decide(labels, proba, model.threshold), top_confusions=0)
            metrics = {
                k: m[k]
                for k in ("n", "accuracy", "macro_f1", "in_scope_accuracy", "oos_recall", "oos_precision")
            }
        model.card = {
            "format": FORMAT,
            "model": cls.kind,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "labels": labels,
            "oos": {"trained_class": OOS in index, "threshold": round(model.threshold, 4),
                    "rule": f"validation OOS recall >= {oos_recall}" if oos_recall is not None else "balanced"},
            "training_data": {
                "source": data.source,
                "rows": len(data),
                "sha256": data_hash(zip(data.texts, data.labels)),
                "per_label": dict(sorted(Counter(y_all).items())),
                "dropped": data.dropped,
            },
            "hyperparameters": {
                "embedding_dim": dim,
                "lstm_hidden": hidden,
                "bidirectional": True,
                "optimizer": "adam",
                "lr": lr,
                "epochs": epochs,
                "batch_size": batch_size,
                "vocab": len(vocab),
                "seed": seed,
            },
            "validation_metrics": metrics,
            "training_seconds": round(time.perf_counter() - start, 1),
        }
        return model

    def _module(self):
        if self._net is None:
            torch = _require_torch()
            net = _bilstm_module(torch, len(self.vocab) + 2, len(self.labels), self.dim, self.hidden)
            net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in self.state.items()})
            self._net = net.eval()
        return self._net

    def bind(self, embedder: Embedder) -> BiLSTMIntentModel:
        return self

    def proba(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> np.ndarray:
        torch = _require_torch()
        net = self._module()
        out = []
        texts = _clip(texts)
        with torch.no_grad():
            for b in range(0, len(texts), 256):
                ids, lengths = self._ids(texts[b : b + 256])
                out.append(torch.softmax(net(ids, lengths), dim=1).numpy())
        return np.vstack(out) if out else np.zeros((0, len(self.labels)), dtype=np.float32)

    def predict(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> list[IntentPrediction]:
        if not len(texts):
            return []
        return [_prediction(self.labels, row, self.threshold) for row in self.proba(texts)]

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tokens = sorted(self.vocab, key=self.vocab.__getitem__)
        np.savez_compressed(
            folder / "model.npz",
            labels=np.asarray(self.labels, dtype=np.str_),
            vocab=np.asarray(tokens, dtype=np.str_),
            threshold=np.float32(self.threshold),
            dims=np.asarray([self.dim, self.hidden]),
            **{f"state__{k}": v for k, v in self.state.items()},
        )
        return _write_card(folder, self.card)

    @classmethod
    def load(cls, folder: str | Path) -> BiLSTMIntentModel:
        folder = Path(folder)
        card = _read_card(folder)
        with np.load(folder / "model.npz", allow_pickle=False) as a:
            vocab = {str(t): i + 2 for i, t in enumerate(a["vocab"])}
            state = {k[len("state__") :]: a[k] for k in a.files if k.startswith("state__")}
            dim, hidden = (int(x) for x in a["dims"])
            return cls([str(x) for x in a["labels"]], vocab, state, float(a["threshold"]), card, dim, hidden)
