#!/usr/bin/env python3
"""Cost of the propagation signal against the knn signal, in the same run (issue 21 item 3).

    OMP_NUM_THREADS=1 python benchmarks/bench_propagation.py --gallery 5000 --queries 2048

Random unit vectors of Lite2's trunk width stand in for features (the cost does not depend on their values):
a gallery of tagged photos, one chunk of suggest's queries (phototag.app.suggest.CHUNK), a vocabulary of
--tags tags. Times knn_signal and propagation_signal on the same inputs, the propagation twice: the first call
also builds the gallery's own graph (once per gallery), the second is what every further chunk costs. Writes
benchmarks/results/bench_propagation.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from phototag.model.signals import Gallery, Place, Queries, knn_signal, normalised, prior_signal, propagation_signal  # noqa: E402


def seconds(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gallery", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--queries", type=int, default=2048)
    parser.add_argument("--tags", type=int, default=400)
    parser.add_argument("--dimensions", type=int, default=1280)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    runs = []
    for size in args.gallery:
        vectors = normalised(rng.normal(size=(size + args.queries, args.dimensions)))
        labels = (rng.random((size, args.tags)) < 3.5 / args.tags).astype(np.float32)
        gallery = Gallery(labels, vectors[:size], [Place("f", f"{i}.jpg") for i in range(size)], list(range(size)))
        keys = [f"q{i}" for i in range(args.queries)]
        queries = Queries(vectors[size:], [Place("f", f"{k}.jpg") for k in keys], keys, [[] for _ in keys])
        self_rows = np.full(args.queries, -1)
        prior = prior_signal(gallery, queries, self_rows)
        inputs = (gallery, queries, self_rows, prior)
        knn = seconds(knn_signal, *inputs)
        first = seconds(propagation_signal, *inputs)
        again = seconds(propagation_signal, *inputs)
        knn = min(knn, seconds(knn_signal, *inputs))
        run = {
            "gallery": size,
            "queries": args.queries,
            "knn_s": round(knn, 3),
            "propagation_first_s": round(first, 3),
            "propagation_next_chunk_s": round(again, 3),
            "ms_per_photo": {
                "knn": round(1e3 * knn / args.queries, 3),
                "propagation": round(1e3 * again / args.queries, 3),
            },
            "propagation_over_knn": round(again / knn, 2),
            "first_call_over_knn": round(first / knn, 2),
        }
        print(json.dumps(run), flush=True)
        runs.append(run)
    out = REPO / "benchmarks" / "results" / "bench_propagation.json"
    machine = {"cpu_count": os.cpu_count(), "omp_threads": os.environ.get("OMP_NUM_THREADS"), "load": os.getloadavg()}
    out.write_text(
        json.dumps({"tags": args.tags, "dimensions": args.dimensions, "machine": machine, "runs": runs}, indent=1)
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
