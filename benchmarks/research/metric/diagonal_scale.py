"""Research (issue 21 item 2): a projection of the cached trunk features learnt from the owner's tags
(triplet loss, margin growing with the difference of tag-set overlap), used by the knn signal; P@5 on held-out."""
import sys, json, time
from pathlib import Path
sys.path.insert(0, "/work/main")
import numpy as np, torch
from phototag.app.scan import scan
from phototag.library.history import TagHistory, normalise
from phototag.library.index import Index
from phototag.model.evidence import LibraryLooks, general_readout
from phototag.model.features import library_features
from phototag.model.signals import Gallery, Queries, Place, knn_signal, prior_signal, normalised
from phototag.evaluate.baselines import precision_at
from phototag.reporting import CollectingReporter

lib, db, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
DIM, MARGIN, STEPS, LR, WD = int(sys.argv[4]) if len(sys.argv) > 4 else 128, 0.5, 300, 3e-3, 1e-4
rep = CollectingReporter()
with Index.for_library(lib, db) as index:
    scan(index, rep)
    everything = TagHistory([p for p in index.photos() if p.status == "ok"])
    photos = sorted(everything.tagged_photos(), key=lambda p: p.display_path)
    features, extractor = library_features(index, photos, "lite2", "auto", rep)
photos = [p for p in photos if p.fingerprint in features]
looks = LibraryLooks(general_readout(extractor.top), photos, features)
trunk = np.asarray(looks.of(photos).trunk, dtype=np.float32)
keys = [sorted(set(everything.photo_keys(p))) for p in photos]

def labels_for(rows, vocab):
    pos = {t: i for i, t in enumerate(vocab)}
    out = np.zeros((len(rows), len(vocab)), np.float32)
    for r, i in enumerate(rows):
        for t in keys[i]:
            if t in pos: out[r, pos[t]] = 1
    return out

def knn_p5(emb, train, test, vocab):
    gl, ql = labels_for(train, vocab), labels_for(test, vocab)
    g = Gallery(gl, emb[train], [Place("a", str(i)) for i in train], list(train))
    q = Queries(emb[test], [Place("b", str(i)) for i in test], [-1 - i for i in test], [[] for _ in test])
    self_rows = -np.ones(len(test), dtype=np.int64)
    prior = prior_signal(g, q, self_rows)
    return precision_at(knn_signal(g, q, self_rows, prior), ql)

def train_projection(x, labels, seed, steps=STEPS):
    torch.manual_seed(seed)
    x = torch.from_numpy(normalised(x)); y = torch.from_numpy(labels)
    inter = y @ y.T; union = y.sum(1, keepdim=True) + y.sum(1) - inter
    jac = torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))
    scale = torch.nn.Parameter(torch.ones(x.shape[1]))
    proj = lambda v: v * scale
    opt = torch.optim.Adam([scale], lr=1e-2)
    rng = np.random.default_rng(seed)
    for step in range(steps):
        b = torch.from_numpy(rng.choice(len(x), size=min(64, len(x)), replace=False))
        z = torch.nn.functional.normalize(proj(x[b]), dim=1)
        s = z @ z.T; j = jac[b][:, b]
        # triplets (a, p, n) with J(a,p) > J(a,n): s_an - s_ap + MARGIN * (J(a,p) - J(a,n)) <= 0
        gap = j[:, :, None] - j[:, None, :]
        viol = torch.relu(s[:, None, :] - s[:, :, None] + MARGIN * gap) * (gap > 0)
        loss = viol.sum() / (gap > 0).sum().clamp(min=1)
        loss = loss + 1e-3 * ((scale - 1) ** 2).sum()
        opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        return torch.diag(scale).numpy().copy()

res = {"raw": [], "proj": [], "concat": []}
t0 = time.time()
for seed in range(5):
    rng = np.random.default_rng(seed); order = rng.permutation(len(photos))
    cut = int(0.8 * len(photos)); train, test = list(order[:cut]), list(order[cut:])
    counts = {}
    for i in train:
        for t in keys[i]: counts[t] = counts.get(t, 0) + 1
    vocab = sorted(t for t, c in counts.items() if c >= 2)
    W = train_projection(trunk[train], labels_for(train, vocab), seed)
    raw = normalised(trunk)
    proj = normalised(raw @ W.T)
    res["raw"].append(knn_p5(raw, train, test, vocab))
    res["proj"].append(knn_p5(proj, train, test, vocab))
    res["concat"].append(knn_p5(normalised(np.hstack([raw, proj])), train, test, vocab))
    print(seed, {k: round(v[-1], 4) for k, v in res.items()}, flush=True)
summary = {k: (round(float(np.mean(v)), 4), round(float(np.std(v)), 4)) for k, v in res.items()}
print(name, "dim", DIM, summary, f"{time.time()-t0:.0f}s")
