"""Assemble /tmp/research/results.md: main table (methods x protocols, mean ± sd over the 5 splits, ratio to the
tuned Lite0 kNN per split), then every experiment's own tables."""
import json, pickle
from pathlib import Path
import numpy as np
from common import msd

R = Path("/tmp/research")
e2 = pickle.load(open(R / "cache/exp2_lite0_head+flip.pkl", "rb"))["results"]
e2b = pickle.load(open(R / "cache/exp2_lite2_head+flip__lite0_head+flip.pkl", "rb"))["results"]
e6a = pickle.load(open(R / "cache/exp6_lite0_head+flip.pkl", "rb"))["results"]
e6 = pickle.load(open(R / "cache/exp6_lite2_head+flip.pkl", "rb"))["results"]
e1 = json.load(open(R / "exp1_lite2.json"))
rows = [
    ("Owner most-frequent", e2, "owner most-frequent", e2, "owner most-frequent"),
    ("kNN k=10, cos weights, Lite0 trunk (today's eval row)", e1, "kNN k=10 cos (phototag eval) [lite0 trunk]", None, None),
    ("**kNN tuned, Lite0 head+flip (reference)**", e2, "knn alone", e2, "knn alone"),
    ("kNN tuned, Lite2 head+flip", e2b, "knn alone", e2b, "knn alone"),
    ("Linear probe, Lite0 head+flip", e2, "probe alone", e2, "probe alone"),
    ("Linear probe, Lite2 head+flip", e2b, "probe alone", e2b, "probe alone"),
    ("ALTReco A6 (snapshot default, Lite0 maps)", e2, "A6 alone", e2, "A6 alone"),
    ("ALTReco A1 (visual only)", e2, "A1 alone", e2, "A1 alone"),
    ("Co-occurrence P(t | kept tag)", None, None, e2, "cooc alone"),
    ("kNN with kept-tag bonus β (Lite2)", None, None, e6, "knnbeta alone"),
    ("Sequence neighbours (file order) alone", e6, "seq alone", e6, "seq alone"),
    ("Blend Lite0: kNN+probe+prior(+cooc+kNNβ partial)+A6", e6a, "stack LR(knn+probe+prior+A6)", e6a, "stack LR(knn+probe+cooc+knnbeta+prior+A6)"),
    ("Blend Lite0 … +A6+seq", e6a, "stack LR(knn+probe+prior+A6+seq)", e6a, "stack LR(knn+probe+cooc+knnc+knnbeta+prior+A6+seq)"),
    ("Blend Lite2: kNN+probe+prior (+cooc+kNNβ partial)", e6, "stack LR(knn+probe+prior)", e6, "stack LR(knn+probe+cooc+knnbeta+prior)"),
    ("Blend Lite2 … +A6", e6, "stack LR(knn+probe+prior+A6)", e6, "stack LR(knn+probe+cooc+knnbeta+prior+A6)"),
    ("Blend Lite2 … +seq (no A6)", e6, "stack LR(knn+probe+prior+seq)", e6, "stack LR(knn+probe+cooc+knnbeta+prior+seq)"),
    ("**Blend Lite2 … +A6+seq (best)**", e6, "stack LR(knn+probe+prior+A6+seq)", e6, "stack LR(knn+probe+cooc+knnc+knnbeta+prior+A6+seq)"),
]
ref = {p: np.array([m["P@5"] for m in e2[(p, "knn alone")]]) for p in ("untagged", "partial")}
get = lambda src, key, p: (src.get(key) if isinstance(src, dict) and key in src else None) if p is None else src.get((p, key))
out = ["## Main table: feedme-dev, 5 seeded 70/10/20 photo splits (363/52/103), test photos, mean ± sd over splits",
       "ratio = P@5 / tuned-kNN(Lite0 head+flip) P@5, per split, then mean ± sd. Blends: logistic regression on logit signals, fitted on the val split only.", "",
       "| method | untagged P@5 | ×kNN | R@5 | mAP | partial P@5 | ×kNN | R@5 | mAP |", "|---|---|---|---|---|---|---|---|---|"]
for label, su, ku, sp, kp in rows:
    cells = []
    for src, key, p in ((su, ku, "untagged"), (sp, kp, "partial")):
        ms = None
        if src is not None:
            ms = src[key] if src is e1 else src.get((p, key))
        if not ms:
            cells += ["–"] * 4; continue
        r = np.array([m["P@5"] for m in ms]) / ref[p]
        cells += [msd([m["P@5"] for m in ms]), f"{r.mean():.2f} ± {r.std(ddof=1):.2f}", msd([m["R@5"] for m in ms]), msd([m["mAP"] for m in ms])]
    out.append(f"| {label} | " + " | ".join(cells) + " |")
parts = ["\n".join(out)]
for f in ("exp1_lite2.md", "exp2_lite0_head+flip.md", "exp2_lite2_head+flip__lite0_head+flip.md", "exp3_lite0_head+flip.md",
          "exp6_lite0_head+flip.md", "exp6_lite2_head+flip.md", "exp4_filler.md", "exp5_variants.md", "exp7_openclipart.md", "bench.log"):
    if (R / f).exists():
        parts.append(f"\n## {f}\n" + (R / f).read_text())
(R / "results.md").write_text("\n".join(parts) + "\n")
print(parts[0])
