"""Baselines and features: owner most-frequent, kNN (k=10, cos weights: phototag's), tuned kNN per feature set.
kNN's k and weighting are chosen per split on P@5 over val (gallery = train) plus leave-one-out on train."""
import json, sys
import numpy as np
from common import *

man, tags, owners, groups, F0 = load_library()
feats = {}
def softmax(z): z = z - z.max(1, keepdims=True); e = np.exp(z); return e / e.sum(1, keepdims=True)
for name, F in (("lite0", F0), ("lite2", np.load("/tmp/research/cache/feedme_lite2.npz") if len(sys.argv) > 1 else None)):
    if F is None: continue
    feats[f"{name} trunk"] = F["trunk"]
    feats[f"{name} head"] = F["head"]
    feats[f"{name} logits"] = F["logits"]
    feats[f"{name} probs^.5"] = np.sqrt(softmax(F["logits"]))
    feats[f"{name} head+flip"] = (F["head"] + F["head_f"]) / 2
    feats[f"{name} trunk+flip"] = (F["trunk"] + F["trunk_f"]) / 2
    feats[f"{name} probs^.5+flip"] = np.sqrt((softmax(F["logits"]) + softmax(F["logits_f"])) / 2)
if "lite2 head+flip" in feats:
    feats["lite0+lite2 head+flip"] = np.hstack([l2n(feats["lite0 head+flip"]), l2n(feats["lite2 head+flip"])])

GRID = [(k, w, p) for k in (5, 10, 15, 20, 30, 50, 75, 100, 150) for w, ps in (("pow", (0, 1, 4, 16)), ("softmax", (0.02, 0.05, 0.1, 0.2, 0.5))) for p in ps]
rows = {}
chosen = {}
for seed in SEEDS:
    tr, va, te = split(groups, seed); V = vocabulary(tags, tr)
    Ytr, Yva, Yte = (label_matrix(tags, i, V) for i in (tr, va, te))
    pr = prior(Ytr)
    rows.setdefault("owner most-frequent", []).append(metrics(np.tile(pr, (len(te), 1)), Yte))
    for fname, X in feats.items():
        if fname == "lite0 trunk":  # phototag's kNN row: trunk pooled, k=10, cosine weights
            rows.setdefault("kNN k=10 cos (phototag eval) [lite0 trunk]", []).append(metrics(knn_scores(X[tr], Ytr, X[te], 10, "pow", 1) + 1e-6 * pr, Yte))
        best = None
        for k, w, p in GRID:
            sv = knn_scores(X[tr], Ytr, X[va], k, w, p) + 1e-6 * pr
            sl = knn_scores(X[tr], Ytr, X[tr], k, w, p, exclude_self=True) + 1e-6 * pr
            m = (metrics(sv, Yva)["P@5"] * len(va) + metrics(sl, Ytr)["P@5"] * len(tr)) / (len(va) + len(tr))
            if best is None or m > best[0]: best = (m, k, w, p)
        _, k, w, p = best
        chosen.setdefault(fname, []).append((k, w, p))
        rows.setdefault(f"kNN tuned [{fname}]", []).append(metrics(knn_scores(X[tr], Ytr, X[te], k, w, p) + 1e-6 * pr, Yte))
    print("seed", seed, "done", flush=True)

out = ["| method | P@5 | R@5 | mAP | P@1 | chosen (k, weighting, param) per split |", "|---|---|---|---|---|---|"]
for name, ms in rows.items():
    fname = name[name.find("[") + 1:-1] if name.startswith("kNN tuned") else None
    out.append(f"| {name} | {msd([m['P@5'] for m in ms])} | {msd([m['R@5'] for m in ms])} | {msd([m['mAP'] for m in ms])} | {msd([m['P@1'] for m in ms])} | {chosen.get(fname, '') if fname else ''} |")
text = "\n".join(out)
print(text)
open(f"/tmp/research/exp1_{'lite2' if len(sys.argv) > 1 else 'lite0'}.md", "w").write(text + "\n")
json.dump({k: v for k, v in rows.items()}, open(f"/tmp/research/exp1_{'lite2' if len(sys.argv) > 1 else 'lite0'}.json", "w"))
