#!/usr/bin/env python3
"""Nearest neighbours over big galleries: exact search against vector indexes (issue 23, item 5).

The kNN signal asks, for each photo to rank, for the KNN_K (50) most similar tagged photos by cosine similarity
of their pooled trunk features (352 floats with Lite2). For galleries of 10k, 100k and 1M vectors it measures, on
this machine and in one run:

  build s        making the index (exact search has none)
  query s        searching one suggest chunk of 2,048 queries for their 50 nearest
  recall@10/@50  the share of the exact 10 / 50 nearest that the index returns (exact: 1 by definition)

exact is phototag.model.nearest.exact_search (numpy, what suggest runs up to EXACT_UP_TO); phototag is what it
runs above (NeighbourSearch: an IVF index if it passes its recall check on the gallery, else faiss's exact
search); faiss-flat is faiss's exact search, faiss-ivf the IVF index at several probe counts, faiss-hnsw, hnswlib
and usearch the HNSW graphs of those libraries. Synthetic vectors have a real library's mean and covariance, in
two geometries (GEOMETRIES: "diffuse" matches feedme-dev's similarities, "clustered" is a library of bursts).
Recall on real features comes from a real library's feature cache (each photo against the others, itself left
out), beside the same search on as many diffuse vectors. Then the crossover: exact against phototag's search
(build, check and one chunk) at sizes around the threshold.

    phototag suggest /work/shared/corpora/feedme-dev --index /tmp/ann-fe.db --all --json > /dev/null
    OMP_NUM_THREADS=2 python benchmarks/bench_vector_index.py --index /tmp/ann-fe.db --faiss-hnsw-up-to 10000
    OMP_NUM_THREADS=2 python benchmarks/bench_vector_index.py --index /tmp/ann-fe.db --sizes \
        --clustered-sizes 100000 1000000 --methods phototag --crossover \
        --output benchmarks/results/bench_vector_index_clustered.json

The first takes 20+ minutes on 2 shared cores (exact search and faiss's IVF build at 1M take minutes each); the
results file is written after each gallery size. Needs faiss-cpu, hnswlib and usearch (`pip install faiss-cpu
hnswlib usearch`); a library that is missing is skipped. Writes benchmarks/results/bench_vector_index.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sqlite3
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from phototag.library import feature_store  # noqa: E402
from phototag.model import nearest  # noqa: E402
from phototag.model.signals import KNN_K, normalised  # noqa: E402

QUERIES = 2048  # one suggest chunk
IVF_SHARES = [1 / 32, 1 / 16, 1 / 8, 1 / 4]  # shares of the IVF lists probed (--ivf-shares)


def real_vectors(index_path: Path) -> tuple[np.ndarray, str]:
    """Pooled, L2-normalised trunk features of every photo in an index's feature cache (its commonest key)."""
    connection = sqlite3.connect(f"file:{index_path}?mode=ro", uri=True)
    key, _ = connection.execute(
        "SELECT backbone, COUNT(*) FROM features GROUP BY backbone ORDER BY COUNT(*) DESC"
    ).fetchone()
    fingerprints = [row[0] for row in connection.execute("SELECT fingerprint FROM features WHERE backbone = ?", (key,))]
    maps = feature_store.get_many(types.SimpleNamespace(connection=connection), fingerprints, key)
    pooled = np.stack([maps[f].astype(np.float32).mean(axis=(1, 2)) for f in sorted(maps)])
    return normalised(pooled), key


# Synthetic geometries: photos per cluster, and the spread within one against the spread of cluster centres.
# "diffuse", drawn 516 at a time, matches feedme-dev's median similarities (best match 0.65 against 0.63, 10th
# 0.52 against 0.51, 50th 0.42 against 0.43, any two 0.27 against 0.25), and its nearest neighbours get no closer
# in a bigger gallery: the hard case for an index. "clustered" is a library of bursts and events (a best match
# of about 0.9): the easy case.
GEOMETRIES = {"diffuse": (10, 1.3), "clustered": (50, 0.5)}


class Synthetic:
    """Vectors with a real library's mean and covariance, in clusters of about `cluster` photos."""

    def __init__(self, real: np.ndarray, cluster: int, spread: float):
        self.mean = real.mean(axis=0)
        _, values, axes = np.linalg.svd(real - self.mean, full_matrices=False)
        self.basis = (values[:, None] / np.sqrt(len(real)) * axes).astype(np.float32)  # z @ basis ~ real's covariance
        self.cluster, self.spread = cluster, spread

    def draw(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        centres = rng.standard_normal((max(1, n // self.cluster), len(self.basis)), dtype=np.float32) @ self.basis
        out = np.empty((n, self.basis.shape[1]), dtype=np.float32)
        for start in range(0, n, 100_000):
            part = min(n, start + 100_000) - start
            noise = rng.standard_normal((part, len(self.basis)), dtype=np.float32) @ self.basis
            near = centres[rng.integers(0, len(centres), part)]
            out[start : start + part] = self.mean + (near + self.spread * noise) / np.sqrt(1 + self.spread**2)
        return normalised(out)

    def gallery_and_queries(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """`size` gallery vectors and QUERIES queries from the same clusters (photos of the same events)."""
        vectors = self.draw(size + QUERIES, seed=size)
        return vectors[:size], vectors[size:]


def ordered(rows: np.ndarray, sims: np.ndarray) -> np.ndarray:
    order = np.argsort(-sims, axis=1, kind="stable")
    return np.take_along_axis(rows, order, axis=1)


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)]))


# ------------------------------------------------------------------ the candidates: build(vectors) -> search(q, k, p)
def faiss_ivf(vectors):
    index = nearest.build_ivf(vectors)

    def search(queries, k, probes):
        index.nprobe = probes
        sims, rows = index.search(queries, k)
        return rows, sims

    lists = index.nlist
    probes = sorted({max(1, round(lists * share)) for share in IVF_SHARES})
    return search, [("nprobe", p, f"{lists} lists") for p in probes]


def faiss_flat(vectors):
    """faiss's exact search (BLAS and a heap), for comparison with numpy's."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)

    def search(queries, k, _):
        sims, rows = index.search(queries, k)
        return rows, sims

    return search, [("exact", 1, "")]


def faiss_hnsw(vectors):
    import faiss

    index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 40
    index.add(vectors)

    def search(queries, k, ef):
        index.hnsw.efSearch = ef
        sims, rows = index.search(queries, k)
        return rows, sims

    return search, [("efSearch", ef, "M 32, efConstruction 40") for ef in (64, 128, 256)]


def hnswlib_graph(vectors):
    import hnswlib

    index = hnswlib.Index("ip", vectors.shape[1])
    index.init_index(len(vectors), M=16, ef_construction=100, random_seed=0)
    index.add_items(vectors, np.arange(len(vectors)), num_threads=os.cpu_count())

    def search(queries, k, ef):
        index.set_ef(max(ef, k))
        rows, distances = index.knn_query(queries, k, num_threads=os.cpu_count())
        return rows.astype(np.int64), 1 - distances

    return search, [("ef", ef, "M 16, ef_construction 100") for ef in (64, 128, 256)]


def usearch_graph(vectors):
    from usearch.index import Index

    index = Index(ndim=vectors.shape[1], metric="ip", dtype="f32")
    index.add(np.arange(len(vectors)), vectors)

    def search(queries, k, ef):
        index.expansion_search = ef
        found = index.search(queries, k)
        return found.keys.astype(np.int64), 1 - found.distances

    return search, [("expansion_search", ef, "connectivity 16, expansion_add 128") for ef in (64, 128, 256)]


def phototag_search(vectors):
    """What suggest runs above EXACT_UP_TO: IVF if it passes its recall check on the gallery, else faiss exact."""
    search = nearest.NeighbourSearch(vectors, exact_up_to=0)
    search.search(vectors[:1], 1)  # builds the index (and checks it)
    kind = type(search._index).__name__

    def run(queries, k, _):
        return search.search(queries, k)

    return run, [("index", kind, getattr(search._index, "nprobe", ""))]


METHODS = {
    "phototag": ("faiss", phototag_search),
    "faiss-flat": ("faiss", faiss_flat),
    "faiss-ivf": ("faiss", faiss_ivf),
    "faiss-hnsw": ("faiss", faiss_hnsw),
    "hnswlib": ("hnswlib", hnswlib_graph),
    "usearch": ("usearch", usearch_graph),
}


def measure_methods(gallery, queries, truth, methods, k=KNN_K, leave_self=False) -> list[dict]:
    """Each method's build time, then per search parameter its query time and recall against `truth`."""
    out = []
    for name in methods:
        module, make = METHODS[name]
        if importlib.util.find_spec(module) is None:
            print(f"  {name}: {module} not installed, skipped", file=sys.stderr)
            continue
        started = time.perf_counter()
        search, settings = make(gallery)
        build_s = time.perf_counter() - started
        for parameter, value, fixed in settings:
            started = time.perf_counter()
            rows, sims = search(queries, k + leave_self, value)
            query_s = time.perf_counter() - started
            found = ordered(rows, sims)
            if leave_self:
                found = np.array([[r for r in row if r != q][:k] for q, row in enumerate(found)])
            row = {"method": name, parameter: value, "fixed": fixed, "build_s": round(build_s, 3)}
            row |= {"query_s": round(query_s, 3), "recall@10": round(recall(found, truth, 10), 4)}
            row["recall@50"] = round(recall(found, truth, 50), 4)
            print(f"  {json.dumps(row)}", file=sys.stderr)
            out.append(row)
    return out


def exact_truth(gallery, queries, k=KNN_K, leave_self=False):
    started = time.perf_counter()
    rows, sims = nearest.exact_search(gallery, queries, k + leave_self)
    seconds = time.perf_counter() - started
    found = ordered(rows, sims)
    if leave_self:
        found = np.array([[r for r in row if r != q][:k] for q, row in enumerate(found)])
    return found, seconds


def synthetic_sizes(geometry: str, synthetic, sizes, methods) -> list[dict]:
    results = []
    for size in sizes:
        gallery, queries = synthetic.gallery_and_queries(size)
        truth, exact_s = exact_truth(gallery, queries)
        best = np.sort(np.einsum("qd,qd->q", queries, gallery[truth[:, 0]]))
        print(f"{geometry} {size:,}: exact {exact_s:.2f} s per {QUERIES}, median best cosine {np.median(best):.3f}")
        row = {"method": "exact", "build_s": 0.0, "query_s": round(exact_s, 3), "recall@10": 1.0, "recall@50": 1.0}
        entry = {"geometry": geometry, "size": size, "median_best_cosine": round(float(np.median(best)), 3)}
        results.append(entry | {"rows": [row]})
        results[-1]["rows"] += measure_methods(gallery, queries, truth, methods)
        del gallery
    return results


def crossover(synthetic, sizes) -> list[dict]:
    """Exact search against what suggest searches above EXACT_UP_TO (build, check and one chunk), per size."""
    out = []
    for size in sizes:
        gallery, queries = synthetic.gallery_and_queries(size)
        truth, exact_s = exact_truth(gallery, queries)
        started = time.perf_counter()
        search = nearest.NeighbourSearch(gallery, exact_up_to=0)
        rows, sims = search.search(queries, KNN_K)
        index_s = time.perf_counter() - started
        row = {"size": size, "exact_s": round(exact_s, 3), "index_build_and_query_s": round(index_s, 3)}
        row["recall@50"] = round(recall(ordered(rows, sims), truth, 50), 4)
        row["index"] = type(search._index).__name__
        print(f"crossover {json.dumps(row)}", file=sys.stderr)
        out.append(row)
    return out


def real_recall(real, methods) -> list[dict]:
    """Each real photo against the others: the candidates as they are set, then IVF at the probe shares of a
    big gallery (at 516 photos suggest's minimum of probes scans most lists)."""
    truth, _ = exact_truth(real, real, leave_self=True)
    rows = measure_methods(real, real, truth, methods, leave_self=True)
    lists = nearest.ivf_lists(len(real))
    index = nearest.build_ivf(real)
    for share in (1 / 8, 1 / 4, 1 / 2):
        index.nprobe = max(1, int(round(lists * share)))
        sims, found = index.search(real, KNN_K + 1)
        found = np.array([[r for r in row if r != q][:KNN_K] for q, row in enumerate(ordered(found, sims))])
        row = {"method": "faiss-ivf", "nprobe": index.nprobe, "fixed": f"{lists} lists, share {share:g}"}
        row |= {"recall@10": round(recall(found, truth, 10), 4), "recall@50": round(recall(found, truth, 50), 4)}
        print(f"  {json.dumps(row)}", file=sys.stderr)
        rows.append(row)
    return rows


def write(path: Path, figures: dict, started: float) -> None:
    figures["seconds"] = round(time.perf_counter() - started, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="an index whose feature cache holds a library")
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--clustered-sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--graphs-up-to", type=int, default=10_000, help="hnswlib and usearch only up to this size")
    parser.add_argument("--faiss-hnsw-up-to", type=int, default=100_000)
    parser.add_argument("--crossover", type=int, nargs="*", default=[10_000, 20_000, 30_000, 50_000])
    parser.add_argument("--ivf-shares", type=float, nargs="+", default=IVF_SHARES)
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "bench_vector_index.json")
    args = parser.parse_args()

    IVF_SHARES[:] = args.ivf_shares
    real, key = real_vectors(args.index)
    print(f"real features: {len(real)} photos, {real.shape[1]} floats ({key})")
    started = time.perf_counter()
    diffuse, clustered = (Synthetic(real, *GEOMETRIES[name]) for name in ("diffuse", "clustered"))
    like_real = diffuse.draw(len(real), seed=1)
    figures = {
        "dimension": int(real.shape[1]),
        "queries": QUERIES,
        "k": KNN_K,
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "platform": platform.platform(),
        "real": {"features": key, "photos": len(real), "rows": real_recall(real, args.methods)},
        "diffuse_at_real_size": real_recall(like_real, ["faiss-ivf"]),
        "crossover": crossover(diffuse, args.crossover),
        "synthetic": [],
    }
    for geometry, synthetic, sizes in (
        ("diffuse", diffuse, args.sizes),
        ("clustered", clustered, args.clustered_sizes),
    ):
        for size in sizes:
            methods = [m for m in args.methods if size <= args.graphs_up_to or m not in ("hnswlib", "usearch")]
            methods = [m for m in methods if size <= args.faiss_hnsw_up_to or m != "faiss-hnsw"]
            if geometry == "clustered":
                methods = [m for m in methods if m in ("phototag", "faiss-ivf")]
            figures["synthetic"] += synthetic_sizes(geometry, synthetic, [size], methods)
            write(args.output, figures, started)  # after each size: a stopped run keeps what it measured
    write(args.output, figures, started)
    for entry in figures["synthetic"]:
        for row in entry["rows"]:
            names = ("nprobe", "efSearch", "ef", "expansion_search", "index")
            setting = next((f"{p} {row[p]}" for p in names if p in row), "")
            print(
                f"{entry['geometry']:<9} {entry['size']:>9,}  {row['method']:<11} {setting:<22} "
                f"build {row['build_s']:8.2f} s  query {row['query_s']:7.2f} s  "
                f"recall@10 {row['recall@10']:.3f}  @50 {row['recall@50']:.3f}"
            )
    print(f"written {args.output} in {figures['seconds']} s")


if __name__ == "__main__":
    main()
