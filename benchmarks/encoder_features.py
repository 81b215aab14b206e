"""Do other read-outs of the frozen encoder help intent accuracy? BANKING77, validation-chosen.

The shipped intent head reads the mean of e5-small's last layer ("query: " prefix). With the ONNX
engine every layer's hidden states are one graph output away, so this ablation tries the common
alternatives for frozen encoders: adding a middle layer, concatenating or averaging the last four,
the first token, all twelve layers, and the "passage: " prefix as a second view. Each variant is a
logistic regression on standardised features; C is chosen on a stratified 15 % validation split,
then the head is refit on all training data and the test set is scored once.

    python benchmarks/encoder_features.py          # ~5 minutes on 2 cores
"""
from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, write_results  # noqa: E402
from nlu import load_banking77  # noqa: E402

CS = (0.05, 0.2, 1.0)


def layer_reader():
    """A function texts, prefix -> (mean-pooled [n, 12, 384], first token [n, 12, 384])."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from kefu.nlp.e5_onnx import E5Onnx, _graph

    model = E5Onnx(threads=1)
    proto = onnx.load_from_string(_graph(model.file))
    for layer in range(model.file.layers):
        proto.graph.output.append(helper.make_tensor_value_info(f"l{layer}.oln.out", TensorProto.FLOAT,
                                                                ["B", "L", model.dim]))
    layer_outputs = [f"l{layer}.oln.out" for layer in range(model.file.layers)]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])

    def batch(windows):
        length = max(len(w) for w in windows)
        ids = np.zeros((len(windows), length), dtype=np.int64)
        mask = np.zeros((len(windows), length), dtype=np.float32)
        for row, w in enumerate(windows):
            ids[row, :len(w)], mask[row, :len(w)] = w, 1.0
        x = model._embed_rows(ids) + model._pos[:length][None] + model._type
        outs = session.run(layer_outputs, {"embeddings": x.astype(np.float32),
                                           "mask_bias": ((mask - 1.0) * 1e30)[:, None, None, :]})
        pooled = [(h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True) for h in outs]
        return np.stack(pooled, 1), np.stack([h[:, 0] for h in outs], 1)

    def read(texts, prefix):
        toks = [[model.file.bos, *model.tokenize(prefix + t)[:510], model.file.eos] for t in texts]
        order = np.argsort([len(t) for t in toks])
        groups = [order[i:i + 64] for i in range(0, len(order), 64)]
        mean = np.zeros((len(texts), model.file.layers, model.dim), np.float32)
        first = np.zeros_like(mean)
        with ThreadPoolExecutor(2) as pool:
            for idx, (m, f) in zip(groups, pool.map(lambda g: batch([toks[i] for i in g]), groups)):
                mean[idx], first[idx] = m, f
        return mean, first

    return read


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


VARIANTS = {
    "last layer, mean (shipped)": lambda q, qf, p: unit(q[:, 11]),
    "last + layer 9": lambda q, qf, p: np.hstack([unit(q[:, 11]), unit(q[:, 9])]),
    "last + layer 7": lambda q, qf, p: np.hstack([unit(q[:, 11]), unit(q[:, 7])]),
    "last four, concatenated": lambda q, qf, p: np.hstack([unit(q[:, i]) for i in (8, 9, 10, 11)]),
    "last four, averaged": lambda q, qf, p: unit(q[:, 8:12].mean(1)),
    "last + first token": lambda q, qf, p: np.hstack([unit(q[:, 11]), unit(qf[:, 11])]),
    "all twelve, concatenated": lambda q, qf, p: np.hstack([unit(q[:, i]) for i in range(12)]),
    "query + passage prefix views": lambda q, qf, p: np.hstack([unit(q[:, 11]), unit(p[:, 11])]),
}


def main() -> int:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    train, test = load_banking77("train"), load_banking77("test")
    read = layer_reader()
    feats = {}
    for name, rows in (("train", train), ("test", test)):
        texts = [t for t, _ in rows]
        q, qf = read(texts, "query: ")
        p, _ = read(texts, "passage: ")
        feats[name] = (q, qf, p)
    y_train = np.array([lab for _, lab in train])
    y_test = np.array([lab for _, lab in test])
    tr, va = train_test_split(np.arange(len(train)), test_size=0.15, stratify=y_train, random_state=0)
    rows, out = [], {}
    for name, make in VARIANTS.items():
        x_all, x_test = make(*feats["train"]), make(*feats["test"])

        def fit(idx, c, x_all=x_all):
            scaler = StandardScaler().fit(x_all[idx])
            head = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(x_all[idx]), y_train[idx])
            return scaler, head

        val = {}
        for c in CS:
            scaler, head = fit(tr, c)
            val[c] = float((head.predict(scaler.transform(x_all[va])) == y_train[va]).mean())
        best = max(CS, key=lambda c: val[c])
        scaler, head = fit(np.arange(len(train)), best)
        acc = float((head.predict(scaler.transform(x_test)) == y_test).mean())
        out[name] = {"dim": int(x_all.shape[1]), "c": best, "val_accuracy": round(100 * val[best], 2),
                     "test_accuracy": round(100 * acc, 2)}
        rows.append([name, x_all.shape[1], best, out[name]["val_accuracy"], out[name]["test_accuracy"]])
    print_table("BANKING77: logistic regression on read-outs of the frozen encoder",
                ["features", "dim", "C (val)", "val acc", "test acc"], rows)
    write_results("encoder-features", {"banking77": out,
                                       "note": "one logistic-regression head per variant; the shipped "
                                               "intent model adds a char TF-IDF head (93.54 on test)",
                                       "seconds": round(time.perf_counter() - start, 1)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
