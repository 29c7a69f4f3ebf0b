"""Near-duplicate vocabulary: spelling/plural/-ing variants of one tag in top-5 lists, and collapsing them
(keep the best-scored member of a group, the next tags move up). Usage: exp5_variants.py PICKLE 'UNTAGGED METHOD' FEATURE"""
import pickle, re, sys
from collections import defaultdict
import numpy as np
from common import *
from signals import build

pk, method, FEAT = sys.argv[1], sys.argv[2], sys.argv[3]
D = pickle.load(open(pk, "rb"))["dumps"]


def base(tag):
    k = re.sub(r"[^a-z0-9]", "", tag.casefold())
    for suf, rep in (("ies", "y"), ("ves", "f"), ("sses", "ss"), ("shes", "sh"), ("ches", "ch"), ("oes", "o"), ("s", "")):
        if k.endswith(suf) and len(k) > len(suf) + 2 and not k.endswith("ss"):
            k = k[: -len(suf)] + rep; break
    m = re.match(r"(.{3,}?)([bcdfgklmnprt])?\2?ing$", k)  # eating -> eat, baking -> bak(e), chopped no
    if m and len(k) > 6:
        k = m.group(1) + (m.group(2) or "")
    return k.rstrip("e")


lines = ["\n### Near-duplicate vocabulary (spelling / plural / -ing variants, rule-based; untagged protocol)"]
groups_seen = set(); stats = defaultdict(list)
for seed in SEEDS:
    o = build(FEAT, seed); V = list(o["V"]); Y = o["Yte"]; p = D[("untagged", method, seed)]
    g = defaultdict(list)
    for j, t in enumerate(V): g[base(t)].append(j)
    groups = [m for m in g.values() if len(m) > 1]
    groups_seen.update(tuple(sorted(V[j] for j in m)) for m in groups)
    gid = np.arange(len(V))
    for m in groups: gid[m] = m[0]
    keep = Y.sum(1) > 0; p, Y = p[keep], Y[keep]
    both = [np.mean(Y[:, m].sum(1) >= 2) / max(np.mean(Y[:, m].sum(1) >= 1), 1e-9) for m in groups]
    stats["truth_both"].append(np.mean(both))
    top = np.argsort(-p, 1)[:, :5]
    stats["lists_with_dup"].append(np.mean([len(set(gid[r])) < 5 for r in top]))
    stats["P@5 raw"].append(metrics(p, Y)["P@5"])
    # collapse: demote every non-best member of a group present in the ranking
    pc = p.copy()
    for m in groups:
        sub = pc[:, m]; best = sub.argmax(1)
        for a, j in enumerate(m):
            pc[best != a, j] = -np.inf
    stats["P@5 collapsed literal"].append(metrics(pc, Y)["P@5"])
    # group-level truth: a suggestion is a hit when any member of its group is on the photo
    Yg = Y.copy()
    for m in groups: Yg[:, m] = Y[:, m].max(1, keepdims=True)
    stats["P@5 collapsed, group counts as hit"].append(metrics(pc, Yg)["P@5"])
lines.append(f"variant groups found in the vocabulary (union over splits, {len(groups_seen)}): " + "; ".join(", ".join(g) for g in sorted(groups_seen)))
lines += ["| measure | mean ± sd over splits |", "|---|---|",
          f"| share of top-5 lists with ≥ 2 variants of one tag | {msd(stats['lists_with_dup'])} |",
          f"| of test photos with a group's tag, share carrying ≥ 2 variants (owner tags both) | {msd(stats['truth_both'])} |",
          f"| P@5 raw | {msd(stats['P@5 raw'])} |",
          f"| P@5 after collapsing, scored on the owner's literal tags | {msd(stats['P@5 collapsed literal'])} |",
          f"| P@5 after collapsing, a group counts as one hit | {msd(stats['P@5 collapsed, group counts as hit'])} |"]
text = "\n".join(lines); print(text)
open("/tmp/research/exp5_variants.md", "w").write(text + "\n")
