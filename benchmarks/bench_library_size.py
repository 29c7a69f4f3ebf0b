#!/usr/bin/env python3
"""Can a score be trusted at every library size? (issue #19)

From a real tagged library, builds libraries with 1, 3, 10, 30, 100 and 300 tagged photos (seeded draws; the
other photos are the untagged ones, their true tags known) and ranks the untagged photos the way `phototag
suggest` does without a personal model (phototag.evaluate.suggest_rows.OwnerRanking: the blend fitted on the tagged
photos, each left out in turn). Per size, pooled over the seeds:

  offers/photo   suggestions shown at suggest's defaults (--top-k, --min-score) per untagged photo
  precision      the share of those the owner really gave the photo (photos with no tag the library knows
                 count: whatever they are offered is wrong)
  ECE            expected calibration error (10 equal-width bins) of each photo's five best-scored tags
                 (phototag.evaluate.calibration: what the score says against how often it is right)
  P@5, kNN P@5   over the photos with a tag of the library's vocabulary; the kNN signal alone with its
                 parameters (k, temperature) tuned on these very photos (an optimistic baseline)
  never-together the share of offered tag pairs (two offers on one photo) that no tagged photo carries together
  P@5 no nbrs    the same blend with the neighbours signal's term left out (item 5: neighbours must not cost)

    OMP_NUM_THREADS=1 python benchmarks/bench_library_size.py --library /work/shared/corpora/feedme-dev \\
        --index /tmp/fd.db --name feedme-dev
    OMP_NUM_THREADS=1 python benchmarks/bench_library_size.py --library /tmp/openclipart-dev/nicu-buculei \\
        --index /tmp/oc-nicu.db --name openclipart-nicu-buculei

Features come from the index's cache (by content fingerprint); the first run on a library computes them.
Writes benchmarks/results/bench_library_size_<name>[_<tag>].json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from phototag.app.scan import scan  # noqa: E402
from phototag.app.suggest import SuggestOptions  # noqa: E402
from phototag.evaluate.baselines import precision_at, tune_signal  # noqa: E402
from phototag.evaluate.suggest_rows import OwnerRanking  # noqa: E402
from phototag.library.history import TagHistory, normalise  # noqa: E402
from phototag.library.index import Index  # noqa: E402
from phototag.model.choices import DEFAULT_BACKBONE  # noqa: E402
from phototag.model.evidence import LibraryLooks, build_queries, general_readout  # noqa: E402
from phototag.model.features import library_features  # noqa: E402
from phototag.reporting import CollectingReporter  # noqa: E402

TOP_K, MIN_SCORE = SuggestOptions().top_k, SuggestOptions().min_score  # suggest's defaults
BINS = 10


def calibration_error(scores: np.ndarray, hits: np.ndarray, bins: int = BINS) -> float:
    """ECE with equal-width bins (the same definition as phototag.evaluate.calibration, when it exists)."""
    try:
        from phototag.evaluate.calibration import expected_calibration_error
    except ImportError:  # the code before issue #19 has no such module
        edges = np.minimum((scores * bins).astype(int), bins - 1)
        total = 0.0
        for b in range(bins):
            inside = edges == b
            if inside.any():
                total += inside.sum() * abs(scores[inside].mean() - hits[inside].mean())
        return float(total / max(len(scores), 1))
    return expected_calibration_error(scores, hits, bins)


def labels_of(photos, history: TagHistory, candidates) -> np.ndarray:
    position = {normalise(tag): i for i, tag in enumerate(candidates)}
    out = np.zeros((len(photos), len(candidates)), dtype=np.float32)
    for row, photo in enumerate(photos):
        for key in history.photo_keys(photo):
            if key in position:
                out[row, position[key]] = 1.0
    return out


def one_draw(everything: TagHistory, photos, looks, size: int, seed: int, max_queries: int) -> dict:
    """One library with `size` tagged photos; what suggest does for (at most `max_queries` of) the rest."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(photos))
    tagged = [photos[i] for i in order[:size]]
    queries = [photos[i] for i in order[size:]][:max_queries]
    history = TagHistory(tagged)
    owner = OwnerRanking(history, tagged, looks, seed)
    candidates = owner.candidates
    present = [[] for _ in queries]
    scores = owner.scores(queries, present)
    truth = [set(everything.photo_keys(p)) for p in queries]
    keys = [normalise(t) for t in candidates]
    top = np.argsort(-scores, axis=1, kind="stable")[:, :TOP_K]
    top_scores = np.take_along_axis(scores, top, axis=1)
    hits = np.array([[keys[j] in truth[r] for j in row] for r, row in enumerate(top)], dtype=float)
    offered = top_scores >= MIN_SCORE
    pairs = never = 0
    together = owner.gallery.together
    for r in range(len(queries)):
        chosen = top[r][offered[r]]
        for a in range(len(chosen)):
            for b in range(a + 1, len(chosen)):
                pairs += 1
                never += together[chosen[a], chosen[b]] == 0
    labels = labels_of(queries, everything, candidates)
    # the registry's knn signal alone, its parameters tuned on these very photos (phototag.evaluate.baselines)
    knn_queries = build_queries(queries, present, looks.of(queries).trunk, history=history)
    knn = tune_signal("knn", owner.gallery, knn_queries, labels)
    blend = owner.blend
    without = {mode: {k: v for k, v in w.items() if k != "neighbours"} for mode, w in blend.weights.items()}
    saved = blend.weights
    blend.weights = without
    no_neighbours = owner.scores(queries, present)
    blend.weights = saved
    return {
        "photos": len(queries),
        "vocabulary": len(candidates),
        "offers": int(offered.sum()),
        "right": int((hits * offered).sum()),
        "top_scores": top_scores.ravel().tolist(),
        "top_hits": hits.ravel().tolist(),
        "scored_photos": int((labels.sum(axis=1) > 0).sum()),
        "p5": precision_at(scores, labels),
        "p5_no_neighbours": precision_at(no_neighbours, labels),
        "knn_p5": knn.val_p5,
        "knn": knn.describe(),
        "pairs": pairs,
        "never_together": int(never),
        "blend": blend.to_json(),
    }


def summarise(draws: list[dict]) -> dict:
    scores = np.concatenate([d["top_scores"] for d in draws])
    hits = np.concatenate([d["top_hits"] for d in draws])
    photos = sum(d["photos"] for d in draws)
    offers = sum(d["offers"] for d in draws)
    pairs = sum(d["pairs"] for d in draws)
    p5 = float(np.mean([d["p5"] for d in draws]))
    knn = float(np.mean([d["knn_p5"] for d in draws]))
    return {
        "offers_per_photo": round(offers / max(photos, 1), 3),
        "offers": offers,
        "precision": round(sum(d["right"] for d in draws) / offers, 3) if offers else None,
        "ece": round(calibration_error(scores, hits), 3),
        "mean_top_score": round(float(scores.mean()), 3) if len(scores) else None,
        "top_hit_rate": round(float(hits.mean()), 3) if len(hits) else None,
        "p5": round(p5, 3),
        "knn_p5": round(knn, 3),
        "p5_vs_knn": round(p5 / knn, 3) if knn else None,
        "p5_no_neighbours": round(float(np.mean([d["p5_no_neighbours"] for d in draws])), 3),
        "offered_pairs": pairs,
        "never_together_rate": round(sum(d["never_together"] for d in draws) / pairs, 3) if pairs else None,
        "reliability": reliability(scores, hits),
    }


def reliability(scores: np.ndarray, hits: np.ndarray, bins: int = BINS) -> list[list]:
    """The reliability diagram's points: [bin's lower edge, count, mean score, share right] per non-empty bin."""
    edges = np.minimum((scores * bins).astype(int), bins - 1)
    points = []
    for b in range(bins):
        inside = edges == b
        if inside.any():
            points.append(
                [
                    b / bins,
                    int(inside.sum()),
                    round(float(scores[inside].mean()), 3),
                    round(float(hits[inside].mean()), 3),
                ]
            )
    return points


HEADER = "| tagged | offers/photo | offers | precision | ECE | P@5 | kNN P@5 | × kNN | P@5 no nbrs | never-together |"


def row(size: int, s: dict) -> str:
    def f(value, fmt="{:.3f}"):
        return "–" if value is None else fmt.format(value)

    return (
        f"| {size} | {s['offers_per_photo']:.2f} | {s['offers']} | {f(s['precision'])} | {s['ece']:.3f} | "
        f"{s['p5']:.3f} | "
        f"{s['knn_p5']:.3f} | {f(s['p5_vs_knn'])} | {s['p5_no_neighbours']:.3f} | "
        f"{f(s['never_together_rate'])} ({s['offered_pairs']} pairs) |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", type=Path, required=True)
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--name", required=True)
    parser.add_argument("--tag", default="", help="suffix of the results file (before, after, ...)")
    parser.add_argument("--sizes", default="1,3,10,30,100,300")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-queries", type=int, default=300, help="untagged photos ranked per draw (at most)")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="lite0 or lite2 (default: suggest's)")
    parser.add_argument(
        "--device", default="auto", help="cpu, onnx, onnx-int8 or auto (the features' kind, as suggest picks)"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    reporter = CollectingReporter()
    with Index.for_library(args.library, args.index) as index:
        scan(index, reporter)
        everything = TagHistory([p for p in index.photos() if p.status == "ok"])
        photos = sorted(everything.tagged_photos(), key=lambda p: p.display_path)
        features, extractor = library_features(index, photos, args.backbone, args.device, reporter)
    photos = [p for p in photos if p.fingerprint in features]
    looks = LibraryLooks(general_readout(extractor.backbone), photos, features)
    sizes = [int(s) for s in args.sizes.split(",") if int(s) < len(photos)]
    print(f"{args.name}: {len(photos)} tagged photos with features; sizes {sizes}, {args.seeds} seeds", flush=True)
    print(HEADER, flush=True)
    print("|" + "---|" * (HEADER.count("|") - 1), flush=True)
    table = {}
    for size in sizes:
        draws = [one_draw(everything, photos, looks, size, seed, args.max_queries) for seed in range(args.seeds)]
        table[size] = {
            "summary": summarise(draws),
            "draws": [{k: v for k, v in d.items() if not k.startswith("top_")} for d in draws],
        }
        print(row(size, table[size]["summary"]), flush=True)
    out = REPO / "benchmarks" / "results" / f"bench_library_size_{args.name}{'_' + args.tag if args.tag else ''}.json"
    out.write_text(
        json.dumps(
            {
                "library": str(args.library),
                "tagged_photos": len(photos),
                "seeds": args.seeds,
                "max_queries": args.max_queries,
                "defaults": {"top_k": TOP_K, "min_score": MIN_SCORE},
                "features": extractor.key,
                "seconds": round(time.perf_counter() - started, 1),
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "omp": os.environ.get("OMP_NUM_THREADS"),
                },
                "sizes": table,
            },
            indent=1,
        )
    )
    print(f"wrote {out.relative_to(REPO)} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
