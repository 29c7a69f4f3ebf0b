"""Per-split signal matrices (val and test rows, train = gallery/fit), cached to /tmp/research/cache/signals_*.npz."""
import os, sys
import numpy as np, torch
from common import *

torch.set_num_threads(1)
KNN_GRID = [(k, w, p) for k in (10, 20, 30, 50, 75, 100, 150) for w, ps in (("pow", (1, 4, 8)), ("softmax", (0.05, 0.1, 0.2))) for p in ps]


def softmax(z): z = z - z.max(1, keepdims=True); e = np.exp(z); return e / e.sum(1, keepdims=True)


def feature_views(name):
    """(averaged view used for kNN/test, list of views used to train the probe)."""
    bb, kind = name.split(" ", 1)
    if bb == "lite0+lite2":
        a = [feature_views(f"{b} {kind}") for b in ("lite0", "lite2")]
        return np.hstack([l2n(a[0][0]), l2n(a[1][0])]), [np.hstack([l2n(x), l2n(y)]) for x, y in zip(a[0][1], a[1][1])]
    F = np.load(f"/tmp/research/cache/feedme_{bb}.npz")
    base = kind.replace("+flip", "")
    get = (lambda s: np.sqrt(softmax(F["logits" + s]))) if base == "probs^.5" else (lambda s: F[base + s])
    if "+flip" in kind:
        if base == "probs^.5":
            avg = np.sqrt((softmax(F["logits"]) + softmax(F["logits_f"])) / 2)
        else:
            avg = (F[base] + F[base + "_f"]) / 2
        return avg, [get(""), get("_f")]
    return get(""), [get("")]


def tune_knn(X, tr, va, Ytr, Yva):
    Str = l2n(X[tr]) @ l2n(X[tr]).T; np.fill_diagonal(Str, -np.inf)
    Sva = l2n(X[va]) @ l2n(X[tr]).T
    best = None
    for k, w, p in KNN_GRID:
        m = sum(metrics(knn_from_S(S, Ytr, k, w, p), Y)["P@5"] * len(Y) for S, Y in ((Sva, Yva), (Str, Ytr))) / (len(tr) + len(va))
        if best is None or m > best[0]: best = (m, k, w, p)
    return best[1:]


def knn_from_S(S, Ytr, k, weight, param):
    nn = np.argpartition(-S, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(S, nn, axis=1)
    w = np.exp((s - s.max(1, keepdims=True)) / param) if weight == "softmax" else np.clip(s, 0, None) ** param
    w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
    return np.einsum("nk,nkv->nv", w, Ytr[nn])


def fit_probe(views_tr, Ytr, lam, posw, iters=150):
    X = np.vstack(views_tr); Y = np.vstack([Ytr] * len(views_tr))
    mu, sd = X.mean(0), X.std(0) + 1e-6
    Xt = torch.tensor((X - mu) / sd, dtype=torch.float32); Yt = torch.tensor(Y)
    npos = Yt.sum(0).clamp(min=1)
    pw = ((len(Yt) - npos) / npos) ** posw
    p0 = torch.tensor(prior(Ytr), dtype=torch.float32)
    W = torch.zeros(X.shape[1], Y.shape[1], requires_grad=True)
    b = torch.log(p0 / (1 - p0)).clone().requires_grad_(True)
    opt = torch.optim.LBFGS([W, b], lr=1, max_iter=iters, history_size=20, line_search_fn="strong_wolfe")
    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(Xt @ W + b, Yt, pos_weight=pw) + lam * (W * W).sum()
        loss.backward(); return loss
    opt.step(closure)
    Wd, bd = W.detach().numpy(), b.detach().numpy()
    return lambda Xq: 1 / (1 + np.exp(-(((Xq - mu) / sd) @ Wd + bd)))


PROBE_GRID = [(lam, pw) for lam in (1e-4, 1e-3, 1e-2) for pw in (0.0, 0.5)]


def build(feature, seed):
    path = f"/tmp/research/cache/signals_{feature.replace(' ', '_')}_s{seed}.npz"
    if os.path.exists(path):
        return dict(np.load(path, allow_pickle=True))
    man, tags, owners, groups, _ = load_library()
    X, views = feature_views(feature)
    tr, va, te = split(groups, seed); V = vocabulary(tags, tr)
    Ytr, Yva, Yte = (label_matrix(tags, i, V) for i in (tr, va, te))
    out = dict(V=np.array(V), Yva=Yva, Yte=Yte, prior=prior(Ytr))
    k, w, p = tune_knn(X, tr, va, Ytr, Yva); out["knn_cfg"] = np.array([k, w, p], dtype=object)
    for nm, idx in (("va", va), ("te", te)):
        out[f"knn_{nm}"] = knn_scores(X[tr], Ytr, X[idx], k, w, p)
    best = None
    for lam, pw in PROBE_GRID:
        f = fit_probe([v[tr] for v in views], Ytr, lam, pw)
        m = metrics(f(X[va]), Yva)["P@5"]
        if best is None or m > best[0]: best = (m, lam, pw, f)
    out["probe_cfg"] = np.array(best[1:3])
    out["probe_va"], out["probe_te"] = best[3](X[va]), best[3](X[te])
    # partial protocol: one kept tag per photo, co-occurrence and kNN among photos with the kept tag
    for nm, idx, s in (("va", va, seed + 100), ("te", te, seed)):
        kept = partial_keep(tags, idx, s); out[f"kept_{nm}"] = np.array(kept)
        out[f"cooc_{nm}"] = cooc_scores(tags, tr, V, kept, alpha=1.0)
        out[f"knnc_{nm}"] = knn_cond_scores(X[tr], Ytr, X[idx], tags, tr, kept, k=min(int(k), 30), param=0.1)
    np.savez(path, **out)
    return out


if __name__ == "__main__":
    for seed in SEEDS:
        o = build(sys.argv[1], seed)
        print(sys.argv[1], seed, "knn", o["knn_cfg"], "probe", o["probe_cfg"],
              "test P@5 knn %.3f probe %.3f" % (metrics(o["knn_te"], o["Yte"])["P@5"], metrics(o["probe_te"], o["Yte"])["P@5"]), flush=True)
