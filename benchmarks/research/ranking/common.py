"""Shared pieces of the issue-11 experiments: data, seeded splits, vectorised metrics, signals."""
import hashlib, json
from collections import Counter
from pathlib import Path
import numpy as np

FEEDME = Path("/work/shared/corpora/feedme-dev")
SEEDS = (0, 1, 2, 3, 4)
EPS = 1e-6


def load_library(lib=FEEDME, feats="/tmp/research/cache/feedme_lite0.npz"):
    man = [json.loads(l) for l in open(Path(lib) / "manifest.jsonl")]
    F = np.load(feats)
    assert list(F["ids"]) == [m["path"] for m in man]
    tags = [sorted({" ".join(t.split()).casefold() for t in m["tags"]}) for m in man]
    owners = [m.get("owner", "x") for m in man]
    groups = [hashlib.sha256(open(Path(lib) / m["path"], "rb").read()).hexdigest() for m in man]
    return man, tags, owners, groups, F


def split(groups, seed, fracs=(0.7, 0.1, 0.2)):
    """train/val/test index arrays by photo (byte-identical copies stay together)."""
    distinct = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(distinct))
    members = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    n = len(groups); parts = ([], [], []); cut = np.cumsum(fracs) * n
    filled = 0
    for o in order:
        idx = members[distinct[o]]
        p = 0 if filled < cut[0] else (1 if filled < cut[1] else 2)
        parts[p].extend(idx); filled += len(idx)
    return [np.array(sorted(p)) for p in parts]


def vocabulary(tags, train, min_count=3):
    c = Counter(t for i in train for t in tags[i])
    return [t for t, n in sorted(c.items(), key=lambda x: (-x[1], x[0])) if n >= min_count]


def label_matrix(tags, idx, vocab):
    pos = {t: j for j, t in enumerate(vocab)}
    Y = np.zeros((len(idx), len(vocab)), dtype=np.float32)
    for r, i in enumerate(idx):
        for t in tags[i]:
            if t in pos:
                Y[r, pos[t]] = 1
    return Y


def partial_keep(tags, idx, seed):
    """One random kept tag per photo (uniform over all its tags)."""
    rng = np.random.default_rng(10_000 + seed)
    return [tags[i][rng.integers(len(tags[i]))] for i in idx]


def metrics(scores, Y, ks=(1, 3, 5, 10)):
    """Mean P@k, R@k, Acc@k, mAP (full ranking) over photos with >= 1 true tag. scores: -inf = never ranked."""
    keep = Y.sum(1) > 0
    S, Y = scores[keep], Y[keep]
    order = np.argsort(-S, axis=1, kind="stable")
    hits = np.take_along_axis(Y, order, axis=1)
    ranked_ok = np.isfinite(np.take_along_axis(S, order, axis=1))
    hits = hits * ranked_ok
    cum = np.cumsum(hits, axis=1); npos = Y.sum(1)
    out = {}
    for k in ks:
        out[f"P@{k}"] = float((cum[:, k - 1] / k).mean())
        out[f"R@{k}"] = float((cum[:, k - 1] / npos).mean())
        out[f"Acc@{k}"] = float((cum[:, k - 1] > 0).mean())
    prec = cum / np.arange(1, hits.shape[1] + 1)
    out["mAP"] = float(((prec * hits).sum(1) / npos).mean())
    out["n"] = int(keep.sum())
    return out


def l2n(X):
    X = np.asarray(X, dtype=np.float64)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def knn_scores(Xtr, Ytr, Xq, k, weight="softmax", param=0.05, exclude_self=False):
    """Weighted kNN label transfer on cosine similarity; returns normalised votes in [0, 1]."""
    S = l2n(Xq) @ l2n(Xtr).T
    if exclude_self:
        np.fill_diagonal(S, -np.inf)
    k = min(k, S.shape[1] - (1 if exclude_self else 0))
    nn = np.argpartition(-S, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(S, nn, axis=1)
    if weight == "softmax":
        w = np.exp((s - s.max(1, keepdims=True)) / param)
    elif weight == "pow":
        w = np.clip(s, 0, None) ** param
    else:
        w = np.ones_like(s)
    w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
    return np.einsum("nk,nkv->nv", w, Ytr[nn])


def prior(Ytr):
    return (Ytr.sum(0) + 0.5) / (len(Ytr) + 1)


def cooc_scores(tags, train, vocab, kept, alpha=1.0):
    """P(tag | kept tag) from training photos, smoothed towards the prior by alpha pseudo-photos."""
    Ytr = label_matrix(tags, train, vocab); p = prior(Ytr)
    rows = {}
    for r, i in enumerate(train):
        for t in tags[i]:
            rows.setdefault(t, []).append(r)
    out = np.empty((len(kept), len(vocab)))
    for q, t in enumerate(kept):
        r = rows.get(t, [])
        out[q] = (Ytr[r].sum(0) + alpha * p) / (len(r) + alpha)
    return out


def knn_cond_scores(Xtr, Ytr, Xq, tags, train, kept, k=20, param=0.05):
    """Visual kNN among the training photos that carry the kept tag (falls back to all when < 1)."""
    has = {}
    for r, i in enumerate(train):
        for t in tags[i]:
            has.setdefault(t, []).append(r)
    S = l2n(Xq) @ l2n(Xtr).T
    out = np.zeros((len(kept), Ytr.shape[1]))
    for q, t in enumerate(kept):
        r = np.array(has.get(t, range(len(train))))
        s = S[q, r]; kk = min(k, len(r))
        nn = np.argpartition(-s, kk - 1)[:kk]
        w = np.exp((s[nn] - s[nn].max()) / param); w /= w.sum()
        out[q] = w @ Ytr[r[nn]]
    return out


def mask_kept(scores, vocab, kept):
    scores = scores.copy(); pos = {t: j for j, t in enumerate(vocab)}
    for q, t in enumerate(kept):
        if t in pos:
            scores[q, pos[t]] = -np.inf
    return scores


def truth_partial(Y, vocab, kept):
    Y = Y.copy(); pos = {t: j for j, t in enumerate(vocab)}
    for q, t in enumerate(kept):
        if t in pos:
            Y[q, pos[t]] = 0
    return Y


def msd(values):
    v = np.asarray(values); return f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f}"
