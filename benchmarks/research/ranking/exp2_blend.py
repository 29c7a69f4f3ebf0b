"""Methods x protocols on feedme-dev: single signals and calibrated blends fitted on val only.
Usage: exp2_blend.py FEATURE [FEATURE_B]  (signals from signals.py; ALTReco scores from altreco_rows.py when present)."""
import json, os, sys
import numpy as np
from sklearn.linear_model import LogisticRegression
from common import *
from signals import build

FEAT = sys.argv[1]


def lg(s):
    s = np.clip(s, 1e-4, 1 - 1e-4); return np.log(s / (1 - s))


def stack_fit(sig_va, Yva, valid_va, C=1.0):
    Xs = np.stack([lg(s)[valid_va] for s in sig_va], 1)
    return LogisticRegression(C=C, max_iter=2000).fit(Xs, Yva[valid_va])


def stack_apply(model, sig):
    Xs = np.stack([lg(s).ravel() for s in sig], 1)
    return model.predict_proba(Xs)[:, 1].reshape(sig[0].shape)


def grid_fit(sig_va, Yva, mask_fn):
    """weights w (first fixed to 1) over logit signals maximising val P@5."""
    import itertools
    best = None
    for w in itertools.product(*[(0, 0.25, 0.5, 1, 2)] * (len(sig_va) - 1)):
        ws = (1.0,) + w
        s = mask_fn(sum(wi * lg(si) for wi, si in zip(ws, sig_va)))
        m = metrics(s, Yva)["P@5"]
        if best is None or m > best[0]: best = (m, ws)
    return best[1]


results = {}   # (protocol, method) -> list of metric dicts
blend_coefs = {}
dumps = {}
for seed in SEEDS:
    o = build(FEAT, seed)
    V = list(o["V"]); Yva, Yte = o["Yva"], o["Yte"]
    pr_va = np.tile(o["prior"], (len(Yva), 1)); pr_te = np.tile(o["prior"], (len(Yte), 1))
    sig = {"knn": (o["knn_va"], o["knn_te"]), "probe": (o["probe_va"], o["probe_te"]), "prior": (pr_va, pr_te)}
    ap = f"/tmp/research/cache/altreco_seed{seed}.npz"
    if os.path.exists(ap) and os.environ.get("ALTRECO", "1") == "1":
        A = np.load(ap)
        for v in ("A6", "A1"):
            if f"{v}_val" in A: sig[v] = (A[f"{v}_val"], A[f"{v}_test"])
    if len(sys.argv) > 2:  # a second feature set's kNN and probe as extra signals
        o2 = build(sys.argv[2], seed)
        sig["knn2"] = (o2["knn_va"], o2["knn_te"]); sig["probe2"] = (o2["probe_va"], o2["probe_te"])
    for protocol in ("untagged", "partial"):
        if protocol == "untagged":
            Tva, Tte = Yva, Yte
            mva = mte = lambda s: s
            S = dict(sig)
        else:
            kva, kte = list(o["kept_va"]), list(o["kept_te"])
            Tva, Tte = truth_partial(Yva, V, kva), truth_partial(Yte, V, kte)
            mva = lambda s, k=kva: mask_kept(s, V, k); mte = lambda s, k=kte: mask_kept(s, V, k)
            S = dict(sig); S["cooc"] = (o["cooc_va"], o["cooc_te"]); S["knn|kept"] = (o["knnc_va"], o["knnc_te"])
        valid_va = np.isfinite(mva(np.zeros_like(Tva)))
        def add(name, s):
            results.setdefault((protocol, name), []).append(metrics(mte(s), Tte))
        add("owner most-frequent", S["prior"][1])
        for name in S:
            if name != "prior":
                add(f"{name} alone", S[name][1] + 1e-6 * S["prior"][1])
        combos = [("knn", "probe", "prior")]
        if "A6" in S: combos += [("knn", "probe", "prior", "A6")]
        if "knn2" in S: combos += [("knn", "probe", "knn2", "probe2", "prior")]
        if protocol == "partial":
            combos += [("knn", "cooc", "prior"), ("knn", "probe", "cooc", "prior"), ("knn", "probe", "cooc", "knn|kept", "prior")]
            if "A6" in S: combos += [("knn", "probe", "cooc", "knn|kept", "prior", "A6")]
            if "knn2" in S: combos += [("knn", "probe", "knn2", "probe2", "cooc", "knn|kept", "prior")]
        for combo in combos:
            model = stack_fit([S[c][0] for c in combo], Tva, valid_va)
            p_te = stack_apply(model, [S[c][1] for c in combo])
            name = "stack LR(" + "+".join(combo) + ")"
            add(name, p_te)
            blend_coefs.setdefault((protocol, name), []).append(list(np.round(model.coef_[0], 2)) + [round(float(model.intercept_[0]), 2)])
            dumps[(protocol, name, seed)] = p_te
            if len(combo) <= 5:
                ws = grid_fit([S[c][0] for c in combo], Tva, mva)
                add("grid(" + "+".join(combo) + ")", sum(w * lg(S[c][1]) for w, c in zip(ws, combo)))
                blend_coefs.setdefault((protocol, "grid(" + "+".join(combo) + ")"), []).append(list(ws))
    print("seed", seed, flush=True)

lines = []
for protocol in ("untagged", "partial"):
    base = np.array([m["P@5"] for m in results[(protocol, "knn alone")]])
    lines += [f"\n### {protocol} protocol, features: {FEAT}" + (f" + {sys.argv[2]}" if len(sys.argv) > 2 else ""),
              "| method | P@5 | ×kNN (mean of per-split ratios) | R@5 | mAP | P@1 | P@10 |", "|---|---|---|---|---|---|---|"]
    for (p, name), ms in results.items():
        if p != protocol: continue
        r = np.array([m["P@5"] for m in ms]) / base[:len(ms)]
        lines.append(f"| {name} | {msd([m['P@5'] for m in ms])} | {r.mean():.3f} ± {r.std(ddof=1):.3f} | {msd([m['R@5'] for m in ms])} | {msd([m['mAP'] for m in ms])} | {msd([m['P@1'] for m in ms])} | {msd([m['P@10'] for m in ms])} |")
lines.append("\nblend coefficients per split (logit-signal weights..., intercept):")
for (p, name), cs in blend_coefs.items():
    lines.append(f"- {p} {name}: {cs}")
text = "\n".join(lines); print(text)
tag = FEAT.replace(" ", "_") + ("__" + sys.argv[2].replace(" ", "_") if len(sys.argv) > 2 else "")
open(f"/tmp/research/exp2_{tag}.md", "w").write(text + "\n")
import pickle; pickle.dump({"results": results, "dumps": dumps}, open(f"/tmp/research/cache/exp2_{tag}.pkl", "wb"))
