"""Stacking with more data and richer per-(photo, tag) features.
Signals for training photos are cross-fitted (kNN leave-one-out, probe 5-fold, co-occurrence and kNN|kept
leave-one-out), so the blend is fitted on train-OOF + val rows (test never seen); also the val-only fit.
Usage: exp3_stack.py FEATURE"""
import os, sys, pickle
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import HistGradientBoostingClassifier
from common import *
from signals import build, feature_views, fit_probe, knn_from_S

FEAT = sys.argv[1]
man, tags, owners, groups, _ = load_library()
X, views = feature_views(FEAT)


def lg(s):
    s = np.clip(s, 1e-4, 1 - 1e-4); return np.log(s / (1 - s))


def ranks(s):
    return np.log1p(np.argsort(np.argsort(-s, axis=1, kind="stable"), axis=1))


def oof(seed, o):
    path = f"/tmp/research/cache/oof_{FEAT.replace(' ', '_')}_s{seed}.npz"
    if os.path.exists(path): return dict(np.load(path))
    tr, va, te = split(groups, seed); V = list(o["V"]); Ytr = label_matrix(tags, tr, V)
    k, w, p = o["knn_cfg"]; k = int(k); p = float(p)
    S = l2n(X[tr]) @ l2n(X[tr]).T; np.fill_diagonal(S, -np.inf)
    knn = knn_from_S(S, Ytr, k, w, p)
    lam, pw = o["probe_cfg"]
    probe = np.zeros_like(Ytr, dtype=np.float64)
    folds = np.random.default_rng(seed).permutation(len(tr)) % 5
    for f in range(5):
        fit = fitp = fit_probe([v[tr][folds != f] for v in views], Ytr[folds != f], float(lam), float(pw))
        probe[folds == f] = fit(X[tr][folds == f])
    kept = partial_keep(tags, tr, seed + 200)
    # leave-one-out co-occurrence and kNN among training photos with the kept tag
    pr = prior(Ytr); has = {}
    for r, i in enumerate(tr):
        for t in tags[i]: has.setdefault(t, []).append(r)
    cooc = np.zeros_like(probe); knnc = np.zeros_like(probe)
    for q, t in enumerate(kept):
        r = np.array([x for x in has.get(t, []) if x != q], dtype=int)
        cooc[q] = (Ytr[r].sum(0) + pr) / (len(r) + 1)
        if len(r) == 0: r = np.array([x for x in range(len(tr)) if x != q])
        s = S[q, r]; kk = min(k, 30, len(r)); nn = np.argpartition(-s, kk - 1)[:kk]
        ww = np.exp((s[nn] - s[nn].max()) / 0.1); ww /= ww.sum(); knnc[q] = ww @ Ytr[r[nn]]
    out = dict(knn=knn, probe=probe, cooc=cooc, knnc=knnc, Y=Ytr, kept=np.array(kept))
    np.savez(path, **out); return out


def cooc_matrix(seed, V):
    tr, _, _ = split(groups, seed); Ytr = label_matrix(tags, tr, V)
    C = Ytr.T @ Ytr; np.fill_diagonal(C, 0)
    return C / np.maximum(C.sum(1, keepdims=True), 1)  # row t': distribution of co-tags


def features(sig, protocol, prior_row, Cn):
    knn, probe = sig["knn"], sig["probe"]
    pr = np.tile(prior_row, (len(knn), 1))
    cols = [lg(knn), lg(probe), np.log(pr), ranks(knn), ranks(probe), lg((knn + probe) / 2 @ Cn)]
    if protocol == "partial":
        cols += [lg(sig["cooc"]), lg(sig["knnc"]), ranks(sig["cooc"]), lg(sig["cooc"]) - np.log(pr)]
    return np.stack([c.ravel() for c in cols], 1)


results = {}; dumps = {}
for seed in SEEDS:
    o = build(FEAT, seed); V = list(o["V"]); O = oof(seed, o); Cn = cooc_matrix(seed, V)
    for protocol in ("untagged", "partial"):
        sets = {}
        for nm, sig, Y, kept in (("tr", O, O["Y"], list(O["kept"])),
                                 ("va", {"knn": o["knn_va"], "probe": o["probe_va"], "cooc": o["cooc_va"], "knnc": o["knnc_va"]}, o["Yva"], list(o["kept_va"])),
                                 ("te", {"knn": o["knn_te"], "probe": o["probe_te"], "cooc": o["cooc_te"], "knnc": o["knnc_te"]}, o["Yte"], list(o["kept_te"]))):
            T = Y if protocol == "untagged" else truth_partial(Y, V, kept)
            valid = np.ones_like(T, dtype=bool) if protocol == "untagged" else np.isfinite(mask_kept(np.zeros_like(T), V, kept))
            sets[nm] = (features(sig, protocol, o["prior"], Cn), T, valid, kept)
        Fte, Tte, _, kte = sets["te"]
        mte = (lambda s: s) if protocol == "untagged" else (lambda s: mask_kept(s, V, kte))
        for fitname, parts in (("val only", ["va"]), ("train-OOF+val", ["tr", "va"])):
            Xf = np.vstack([sets[p][0][sets[p][2].ravel()] for p in parts]); yf = np.concatenate([sets[p][1].ravel()[sets[p][2].ravel()] for p in parts])
            mu, sd = Xf.mean(0), Xf.std(0) + 1e-9
            for mname, model in (("LR", LogisticRegression(C=1.0, max_iter=3000)),
                                 ("GBM", HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=40, l2_regularization=1.0, random_state=0))):
                if mname == "GBM" and fitname == "val only": continue
                model.fit((Xf - mu) / sd, yf)
                p = model.predict_proba((Fte - mu) / sd)[:, 1].reshape(Tte.shape)
                name = f"stack {mname} rich features, fit on {fitname}"
                results.setdefault((protocol, name), []).append(metrics(mte(p), Tte))
                dumps[(protocol, name, seed)] = (p, Tte, kte, V)
        results.setdefault((protocol, "knn alone"), []).append(metrics(mte(o["knn_te"]), Tte))
    print("seed", seed, flush=True)

lines = []
for protocol in ("untagged", "partial"):
    base = np.array([m["P@5"] for m in results[(protocol, "knn alone")]])
    lines += [f"\n### {protocol} protocol, features: {FEAT} (exp3: richer stacking)", "| method | P@5 | ×kNN | R@5 | mAP | P@1 | P@10 |", "|---|---|---|---|---|---|---|"]
    for (pp, name), ms in results.items():
        if pp != protocol: continue
        r = np.array([m["P@5"] for m in ms]) / base
        lines.append(f"| {name} | {msd([m['P@5'] for m in ms])} | {r.mean():.3f} ± {r.std(ddof=1):.3f} | {msd([m['R@5'] for m in ms])} | {msd([m['mAP'] for m in ms])} | {msd([m['P@1'] for m in ms])} | {msd([m['P@10'] for m in ms])} |")
text = "\n".join(lines); print(text)
open(f"/tmp/research/exp3_{FEAT.replace(' ', '_')}.md", "w").write(text + "\n")
pickle.dump({"results": results, "dumps": dumps}, open(f"/tmp/research/cache/exp3_{FEAT.replace(' ', '_')}.pkl", "wb"))
