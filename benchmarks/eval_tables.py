#!/usr/bin/env python3
"""Markdown table (mean ± sd over splits) of every row and metric of a `phototag eval --json` file, plus
each row's P@5 ratio to the kNN row (mean ± sd of the per-split ratios, as the issue-11 goals are stated).

    python benchmarks/eval_tables.py eval.json [per_photo|per_owner]
"""

import json
import sys

import numpy as np

d = json.load(open(sys.argv[1]))
average = sys.argv[2] if len(sys.argv) > 2 else "per_photo"
names = [f"{p}@{k}" for p in ("P", "R", "Acc") for k in (1, 3, 5, 10)] + ["mAP"]
split_p5 = {}
for s in d["splits"]:
    rows = {r["method"]: r for r in s["rows"]} if isinstance(s["rows"], list) else s["rows"]
    for m, r in rows.items():
        split_p5.setdefault(m, []).append(r[average]["P@5"] if average in r else r["per_photo"]["P@5"])
ratio = (
    {m: np.mean([a / b for a, b in zip(v, split_p5["knn"])]) for m, v in split_p5.items()} if "knn" in split_p5 else {}
)
ratio_sd = (
    {m: np.std([a / b for a, b in zip(v, split_p5["knn"])], ddof=1) if len(v) > 1 else 0 for m, v in split_p5.items()}
    if "knn" in split_p5
    else {}
)
print("| method | " + " | ".join(names) + " | P@5 ÷ kNN |")
print("|---" * (len(names) + 2) + "|")
for r in d["rows"]:
    sd = r.get("sd", {}).get(average, {})
    cells = [f"{r[average][n]:.3f}" + (f" ± {sd[n]:.3f}" if n in sd and len(d["splits"]) > 1 else "") for n in names]
    rr = f"{ratio[r['method']]:.3f} ± {ratio_sd[r['method']]:.3f}" if r["method"] in ratio else "–"
    print(f"| {r['label']} (`{r['method']}`) | " + " | ".join(cells) + f" | {rr} |")
