"""Filler and calibration of the best blend: threshold on the calibrated score vs suggestions per photo and
precision; reliability bins (predicted score vs observed hit rate). Usage: exp4_filler.py PICKLE 'UNTAGGED METHOD' 'PARTIAL METHOD' FEATURE"""
import pickle, sys
import numpy as np
from common import *
from signals import build

pk, methods, FEAT = sys.argv[1], {"untagged": sys.argv[2], "partial": sys.argv[3]}, sys.argv[4]
D = pickle.load(open(pk, "rb"))["dumps"]
lines = [f"\n### Filler: top-5 limited to calibrated score ≥ τ (test photos, 5 splits pooled; features {FEAT})"]
for protocol, method in methods.items():
    lines += [f"\n{protocol}: `{method}`", "| τ | suggestions/photo | precision of shown | photos with none | hits/photo | P@5 (slots) |", "|---|---|---|---|---|---|"]
    PS, HS, P10, H10, K10, KH10 = [], [], [], [], [], []
    for seed in SEEDS:
        o = build(FEAT, seed); V = list(o["V"])
        p = D[(protocol, method, seed)]; t = o["Yte"]; knn = o["knn_te"]
        if protocol == "partial":
            kept = list(o["kept_te"]); t = truth_partial(t, V, kept); p = mask_kept(p, V, kept); knn = mask_kept(knn, V, kept)
        keep = t.sum(1) > 0; p, t, knn = p[keep], t[keep], knn[keep]
        o5 = np.argsort(-p, 1)[:, :5]; PS.append(np.take_along_axis(p, o5, 1)); HS.append(np.take_along_axis(t, o5, 1))
        o10 = np.argsort(-p, 1)[:, :10]; P10.append(np.take_along_axis(p, o10, 1).ravel()); H10.append(np.take_along_axis(t, o10, 1).ravel())
        k10i = np.argsort(-knn, 1)[:, :10]; K10.append(np.take_along_axis(knn, k10i, 1).ravel()); KH10.append(np.take_along_axis(t, k10i, 1).ravel())
    ps, hs = np.vstack(PS), np.vstack(HS)
    p10, h10, k10, kh10 = (np.concatenate(x) for x in (P10, H10, K10, KH10))
    for tau in (0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6):
        shown = ps >= tau; n = shown.sum(1)
        lines.append(f"| {tau} | {n.mean():.2f} | {(hs * shown).sum() / max(shown.sum(), 1):.3f} | {(n == 0).mean():.1%} | {(hs * shown).sum(1).mean():.2f} | {(hs * shown).sum(1).mean() / 5:.3f} |")
    lines += [f"\nReliability ({protocol}), all (photo, tag) pairs in each photo's top 10:", "| score bin | pairs | mean score (blend) | observed hit rate (blend) | pairs (kNN votes) | mean kNN vote | observed (kNN) |", "|---|---|---|---|---|---|---|"]
    edges = [0, .1, .2, .3, .4, .5, .6, .8, 1.01]; ece = ecek = 0
    for a, b in zip(edges, edges[1:]):
        m = (p10 >= a) & (p10 < b); mk = (k10 >= a) & (k10 < b)
        ece += m.sum() * abs(p10[m].mean() - h10[m].mean()) if m.any() else 0
        ecek += mk.sum() * abs(k10[mk].mean() - kh10[mk].mean()) if mk.any() else 0
        f = lambda x, mm: f"{x[mm].mean():.3f}" if mm.any() else "-"
        lines.append(f"| [{a:.1f}, {min(b, 1):.1f}) | {m.sum()} | {f(p10, m)} | {f(h10, m)} | {mk.sum()} | {f(k10, mk)} | {f(kh10, mk)} |")
    lines.append(f"\nExpected calibration error over top-10 pairs: blend {ece / len(p10):.3f}, raw kNN votes {ecek / len(k10):.3f}")
text = "\n".join(lines); print(text)
open("/tmp/research/exp4_filler.md", "w").write(text + "\n")
