"""Per-library empirical-Bayes history prior (LOO likelihood over supported pairs), then the size table."""
import sys, dataclasses, types
sys.path.insert(0, "/work/main"); sys.path.insert(0, "/work/main/benchmarks")
import numpy as np
import bench_library_size as B
import phototag.model.signals as S
from phototag.app.scan import scan
from phototag.library.history import TagHistory, normalise
from phototag.library.index import Index
from phototag.model.evidence import LibraryLooks, general_readout, candidate_vocabulary
from phototag.model.features import library_features
from phototag.reporting import CollectingReporter
from pathlib import Path

PULL = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
GRID = [(pp, r) for pp in (1.0, 2.0, 5.0, 10.0, 20.0) for r in (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)]

def fit_prior(tagged, history):
    cands = candidate_vocabulary(history)
    pos = {normalise(t): i for i, t in enumerate(cands)}
    y = np.zeros((len(tagged), len(cands)))
    for r, p in enumerate(tagged):
        for k in history.photo_keys(p):
            if k in pos: y[r, pos[k]] = 1
    n = len(tagged)
    if n < 3: return 10.0, 0.02, None
    c = y.sum(0)[None, :] - y
    mask = c > 0
    best = None
    for pp, r in GRID:
        p = (c + pp * r) / (n - 1 + pp)
        ll = (y * np.log(p) + (1 - y) * np.log1p(-p))[mask].sum()
        ll -= PULL * (np.log(pp / 10) ** 2 + np.log(r / 0.02) ** 2)
        if best is None or ll > best[0]: best = (ll, pp, r)
    return best[1], best[2], int(mask.sum())

lib, db = sys.argv[1], sys.argv[2]
with Index.for_library(Path(lib), Path(db)) as index:
    scan(index, CollectingReporter())
    everything = TagHistory([p for p in index.photos() if p.status == "ok"])
    photos = sorted(everything.tagged_photos(), key=lambda p: p.display_path)
    features, extractor = library_features(index, photos, "lite2", "auto", CollectingReporter())
photos = [p for p in photos if p.fingerprint in features]
looks = LibraryLooks(general_readout(extractor.backbone), photos, features)
base = S.REGISTRY[S.PRIOR]
out = []
for size in (3, 10, 30):
    draws, chosen = [], []
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(photos))
        tagged = [photos[i] for i in order[:size]]
        pp, r, pairs = fit_prior(tagged, TagHistory(tagged))
        chosen.append((pp, r))
        S.REGISTRY[S.PRIOR] = dataclasses.replace(base, parameters=types.MappingProxyType({"prior_photos": pp, "prior_rate": r}))
        draws.append(B.one_draw(everything, photos, looks, size, seed, 200))
    S.REGISTRY[S.PRIOR] = base
    s = B.summarise(draws)
    out.append(f"{size}: ECE {s['ece']:.3f} off {s['offers']} prec {s['precision']} p5 {s['p5']:.3f} {chosen}")
print(Path(lib).name, PULL, " | ".join(out), flush=True)
