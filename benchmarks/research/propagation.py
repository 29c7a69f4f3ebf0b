"""Study (issue 21 item 3): tag evidence propagated over the similarity graph of all photos, against kNN votes.

    OMP_NUM_THREADS=1 python benchmarks/research/propagation.py --library /work/shared/corpora/feedme-dev --index /tmp/fe_l2i8.db

Each of 5 seeded splits holds out 20 % (--test-fraction) of the tagged photos as untagged queries (min count 3, as eval). Both
methods read the pooled trunk features that suggest's kNN reads (Looks.trunk, default backbone and device):
  knn          cosine kNN votes over the tagged photos (k and weighting as eval's tuned kNN chooses on
               validation photos: here a grid of k in {10, 20, 40, 80}, weights cos^p, p in {1, 2, 4, 8})
  propagation  label propagation (Zhou et al. 2004) over a symmetric kNN graph of ALL photos, tagged and
               held out: F <- alpha * S F + (1 - alpha) * Y, S = D^-1/2 W D^-1/2, Y the tagged photos' tags;
               k, alpha chosen on the same validation photos
  both         the mean of the two score matrices (each normalised per photo to sum to one)
Prints P@5 per split and writes benchmarks/results/research_propagation.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from phototag.library.history import TagHistory  # noqa: E402
from phototag.library.index import Index  # noqa: E402
from phototag.model.choices import DEFAULT_BACKBONE  # noqa: E402
from phototag.model.evidence import LibraryLooks, general_readout  # noqa: E402
from phototag.model.features import library_features  # noqa: E402
from phototag.reporting import CollectingReporter  # noqa: E402


def p_at_5(scores: np.ndarray, truth: np.ndarray) -> float:
    top = np.argsort(-scores, axis=1)[:, :5]
    return float(np.take_along_axis(truth, top, axis=1).sum(axis=1).mean() / 5)


def knn_scores(x_gallery, y_gallery, x_query, k, power):
    sims = x_query @ x_gallery.T
    idx = np.argsort(-sims, axis=1)[:, :k]
    w = np.clip(np.take_along_axis(sims, idx, axis=1), 0, None) ** power
    return np.einsum("qk,qkt->qt", w, y_gallery[idx]) / np.maximum(w.sum(axis=1, keepdims=True), 1e-9)


def propagate(x_all, y_all, k, alpha, steps=20):
    sims = x_all @ x_all.T
    np.fill_diagonal(sims, -np.inf)
    idx = np.argsort(-sims, axis=1)[:, :k]
    w = np.zeros_like(sims)
    rows = np.arange(len(x_all))[:, None]
    w[rows, idx] = np.clip(sims[rows, idx], 0, None)
    w = np.maximum(w, w.T)  # symmetric graph
    d = w.sum(axis=1)
    d[d == 0] = 1
    s = w / np.sqrt(d)[:, None] / np.sqrt(d)[None, :]
    f = y_all.copy()
    for _ in range(steps):
        f = alpha * (s @ f) + (1 - alpha) * y_all
    return f


def normalised(m):
    return m / np.maximum(m.sum(axis=1, keepdims=True), 1e-9)


def one_split(x, y, seed, test_fraction=0.2):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_test = int(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    n_val = len(train) * 15 // 100
    val, fit = train[:n_val], train[n_val:]
    keep = y[train].sum(axis=0) >= 3
    yy = y[:, keep]

    def choose(method_grid, run):
        best = max(method_grid, key=lambda params: p_at_5(run(fit, val, *params), yy[val]))
        return best

    def run_knn(gallery, queries, k, power):
        return knn_scores(x[gallery], yy[gallery], x[queries], k, power)

    def run_prop(gallery, queries, k, alpha):
        labels = np.zeros_like(yy)
        labels[gallery] = yy[gallery]
        f = propagate(x, labels, k, alpha)  # every photo in the graph; only `gallery` carries tags
        return f[queries]

    knn_params = choose(list(itertools.product([10, 20, 40, 80], [1, 2, 4, 8])), run_knn)
    prop_params = choose(list(itertools.product([10, 20, 40], [0.5, 0.8, 0.9, 0.99])), run_prop)
    knn = run_knn(train, test, *knn_params)
    prop = run_prop(train, test, *prop_params)
    both = normalised(knn) + normalised(prop)
    truth = yy[test]
    return {
        "seed": seed,
        "knn": {"P@5": p_at_5(knn, truth), "k": knn_params[0], "power": knn_params[1]},
        "propagation": {"P@5": p_at_5(prop, truth), "k": prop_params[0], "alpha": prop_params[1]},
        "both": {"P@5": p_at_5(both, truth)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--name", default="feedme-dev")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--test-fraction", type=float, default=0.2, help="share of the tagged photos held out as untagged")
    args = parser.parse_args()
    reporter = CollectingReporter()
    with Index.for_library(args.library, args.index) as index:
        history = TagHistory([p for p in index.photos() if p.status == "ok"])
        photos = sorted(history.tagged_photos(), key=lambda p: p.display_path)
        features, extractor = library_features(index, photos, DEFAULT_BACKBONE, "auto", reporter)
    photos = [p for p in photos if p.fingerprint in features]
    looks = LibraryLooks(general_readout(extractor.top), photos, features).of(photos)
    vocabulary = sorted({k for p in photos for k in history.photo_keys(p)})
    position = {t: i for i, t in enumerate(vocabulary)}
    y = np.zeros((len(photos), len(vocabulary)), dtype=np.float64)
    for row, photo in enumerate(photos):
        y[row, [position[k] for k in history.photo_keys(photo)]] = 1
    x = looks.trunk.astype(np.float64)
    splits = []
    for seed in range(args.repeats):
        splits.append(one_split(x, y, seed, args.test_fraction))
        s = splits[-1]
        print(f"seed {seed}: kNN {s['knn']['P@5']:.3f} (k={s['knn']['k']}, cos^{s['knn']['power']})  "
              f"propagation {s['propagation']['P@5']:.3f} (k={s['propagation']['k']}, alpha={s['propagation']['alpha']})  "
              f"both {s['both']['P@5']:.3f}", flush=True)
    means = {m: float(np.mean([s[m]["P@5"] for s in splits])) for m in ("knn", "propagation", "both")}
    print("mean P@5: " + ", ".join(f"{m} {v:.3f}" for m, v in means.items()))
    out = REPO / "benchmarks" / "results" / f"research_propagation_{args.name}_test{args.test_fraction:g}.json"
    out.write_text(json.dumps({"library": str(args.library), "test_fraction": args.test_fraction, "features": extractor.key, "means": means, "splits": splits}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
