"""openclipart dev library (multi-owner, owner = first folder): the same methods with owner-aware signals.
5 seeded 70/10/20 photo splits; per-photo and per-owner means. Usage: exp7_openclipart.py [FEATURE_NPZ]"""
import json, pickle, sys
from collections import defaultdict
import numpy as np
from sklearn.linear_model import LogisticRegression
from common import *
from signals import tune_knn, fit_probe, PROBE_GRID, knn_from_S

LIB = Path("/tmp/research/openclipart")
man = [json.loads(l) for l in open(LIB / "manifest.jsonl")]
F = np.load(sys.argv[1] if len(sys.argv) > 1 else "/tmp/research/cache/oc_lite0.npz")
assert list(F["ids"]) == [m["path"] for m in man]
tags = [sorted({" ".join(t.split()).casefold() for t in m["tags"]}) for m in man]
owner = np.array([m["path"].split("/")[0] for m in man])
groups = [m["path"] for m in man]  # byte-identical SVGs were removed by the builder
X = (F["head"] + F["head_f"]) / 2; views = [F["head"], F["head_f"]]


def lg(s):
    s = np.clip(s, 1e-4, 1 - 1e-4); return np.log(s / (1 - s))


def owner_prior(tr, q, Ytr, alpha=1.0):
    lib = prior(Ytr); out = np.empty((len(q), Ytr.shape[1]))
    by = defaultdict(list)
    for r, i in enumerate(tr): by[owner[i]].append(r)
    for n, i in enumerate(q):
        r = [x for x in by[owner[i]] if tr[x] != i]
        out[n] = (Ytr[r].sum(0) + alpha * lib) / (len(r) + alpha)
    return out


def knn_own(tr, q, Ytr, k=10, T=0.1):
    S = l2n(X[q]) @ l2n(X[tr]).T
    same = owner[q][:, None] == owner[tr][None, :]
    S = np.where(same, S, -np.inf)
    kk = min(k, int(same.sum(1).min())) if same.sum(1).min() > 0 else 1
    nn = np.argpartition(-S, kk - 1, axis=1)[:, :kk]; s = np.take_along_axis(S, nn, 1)
    w = np.exp((s - np.nanmax(s, 1, keepdims=True)) / T); w[~np.isfinite(s)] = 0
    w /= np.maximum(w.sum(1, keepdims=True), 1e-12)
    return (np.einsum("nk,nkv->nv", w, Ytr[nn]) * kk + prior(Ytr)) / (kk + 1)


def per_owner(s, Y, q):
    keep = Y.sum(1) > 0; vals = defaultdict(list)
    out = {}
    for o in sorted(set(owner[q][keep])):
        sel = (owner[q] == o) & keep
        m = metrics(s[sel], Y[sel])
        for k_, v in m.items(): vals[k_].append(v)
    return {k_: float(np.mean(v)) for k_, v in vals.items()}


results = defaultdict(list)
for seed in SEEDS:
    tr, va, te = split(groups, seed); V = vocabulary(tags, tr)
    Ytr, Yva, Yte = (label_matrix(tags, i, V) for i in (tr, va, te))
    k, w, p = tune_knn(X, tr, va, Ytr, Yva)
    best = None
    for lam, pw in PROBE_GRID:
        f = fit_probe([v[tr] for v in views], Ytr, lam, pw)
        m_ = metrics(f(X[va]), Yva)["P@5"]
        if best is None or m_ > best[0]: best = (m_, lam, pw, f)
    lib = prior(Ytr)
    sig = {}
    for nm, q in (("va", va), ("te", te)):
        sig[nm] = {"knn": knn_scores(X[tr], Ytr, X[q], k, w, p), "probe": best[3](X[q]), "owner": owner_prior(tr, q, Ytr),
                   "lib": np.tile(lib, (len(q), 1)), "knn_own": knn_own(tr, q, Ytr), "knn10": knn_scores(F["trunk"][tr], Ytr, F["trunk"][q], 10, "pow", 1)}
        kept = partial_keep(tags, q, seed + (100 if nm == "va" else 0)); sig[nm]["kept"] = kept
        sig[nm]["cooc"] = cooc_scores(tags, tr, V, kept)
        sig[nm]["knnc"] = knn_cond_scores(X[tr], Ytr, X[q], tags, tr, kept, k=min(int(k), 30), param=0.1)
    for protocol in ("untagged", "partial"):
        if protocol == "untagged":
            Tva, Tte, mv, mt = Yva, Yte, (lambda s: s), (lambda s: s)
        else:
            kv, kt = sig["va"]["kept"], sig["te"]["kept"]
            Tva, Tte = truth_partial(Yva, V, kv), truth_partial(Yte, V, kt)
            mv, mt = (lambda s, kv=kv: mask_kept(s, V, kv)), (lambda s, kt=kt: mask_kept(s, V, kt))
        T = sig["te"]
        def add(name, s):
            s = mt(s); results[(protocol, name, "photo")].append(metrics(s, Tte)); results[(protocol, name, "owner")].append(per_owner(s, Tte, te))
        add("library most-frequent", T["lib"]); add("owner most-frequent", T["owner"] + 1e-6 * T["lib"])
        add("kNN k=10 cos [trunk] (phototag eval)", T["knn10"] + 1e-6 * T["lib"])
        add("kNN tuned", T["knn"] + 1e-6 * T["lib"]); add("probe", T["probe"]); add("kNN within owner", T["knn_own"])
        if protocol == "partial": add("cooc", T["cooc"]); add("kNN|kept", T["knnc"])
        combos = [("knn", "probe", "owner", "lib"), ("knn", "probe", "knn_own", "owner", "lib")]
        if protocol == "partial": combos.append(("knn", "probe", "knn_own", "owner", "lib", "cooc", "knnc"))
        valid = np.isfinite(mv(np.zeros_like(Tva)))
        for c in combos:
            mdl = LogisticRegression(C=1.0, max_iter=3000).fit(np.stack([lg(sig["va"][x])[valid] for x in c], 1), Tva[valid])
            pt = mdl.predict_proba(np.stack([lg(T[x]).ravel() for x in c], 1))[:, 1].reshape(Tte.shape)
            add("stack LR(" + "+".join(c) + ")", pt)
            results[(protocol, "coefs " + "+".join(c), "x")].append(list(np.round(mdl.coef_[0], 2)))
    print("seed", seed, "knn", (k, w, p), "probe", best[1:3], flush=True)

lines = [f"\n### openclipart dev ({len(man)} images, {len(set(owner))} owners), Lite0 head+flip, 5 photo splits"]
for protocol in ("untagged", "partial"):
    lines += [f"\n{protocol}", "| method | P@5 per photo | P@5 per owner | R@5 per photo | mAP per photo | mAP per owner |", "|---|---|---|---|---|---|"]
    names = [n for (pp, n, u) in results if pp == protocol and u == "photo"]
    for n in names:
        a, b = results[(protocol, n, "photo")], results[(protocol, n, "owner")]
        lines.append(f"| {n} | {msd([m['P@5'] for m in a])} | {msd([m['P@5'] for m in b])} | {msd([m['R@5'] for m in a])} | {msd([m['mAP'] for m in a])} | {msd([m['mAP'] for m in b])} |")
    for (pp, n, u), v in results.items():
        if pp == protocol and u == "x": lines.append(f"- {n}: {[list(map(float, c)) for c in v]}")
text = "\n".join(lines); print(text)
open("/tmp/research/exp7_openclipart.md", "w").write(text + "\n")
