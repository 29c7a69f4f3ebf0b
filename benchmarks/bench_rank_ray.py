#!/usr/bin/env python3
"""Ranking photos/s on the driver against `suggest --ray`'s ranking stage on a local Ray cluster (issue 23).

    python benchmarks/bench_rank_ray.py [--gallery 5000] [--targets 4096] [--workers 2]

Root only: it re-runs itself inside a private network namespace (`unshare -n`, only `lo` up), so Ray
listens on 127.0.0.1 alone. Synthetic photos and features: random Lite0 trunk maps (float16 [320, 7, 7])
stand in for the backbone's (the ranking's cost does not depend on their values), a gallery of --gallery
tagged photos over --tags tags (3 a photo, 2 owners' folders), --targets untagged photos. The recommender is
the owner-mode one suggest builds (the blend fitted on the gallery). Times, after `prepare` (gallery and
blend: the same on both sides):
  driver   Recommender.suggest over the targets in suggest's chunks (phototag.app.suggest.CHUNK), one process
  cluster  ray.put of the recommender, then cluster_stages.rank_dataset over the blend batches with --workers
           RankActors (connecting not counted; the actors' start and each one's copy are), results back
Writes benchmarks/results/bench_rank_ray.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
INSIDE = "PHOTOTAG_BENCH_RANK_INSIDE"


def library(gallery: int, targets: int, tags: int, seed: int = 0):
    from phototag.library.index import PhotoRow
    from phototag.library.keywords import Keyword

    rng = np.random.default_rng(seed)
    vocabulary = [f"tag{t:03d}" for t in range(tags)]
    photos = []
    for i in range(gallery + targets):
        rel = f"{'alice' if i % 2 else 'bob'}/e{i // 50}/p{i}.jpg"
        path = Path("/lib") / rel
        chosen = rng.choice(tags, 3, replace=False) if i < gallery else []
        keywords = [Keyword(vocabulary[t], "xmp-sidecar", "dc:subject", path) for t in chosen]
        photos.append(
            PhotoRow(
                i + 1,
                path,
                rel.encode(),
                rel,
                str(Path(rel).parent),
                1,
                1,
                f"fp{i}",
                None,
                None,
                None,
                "ok",
                None,
                keywords=keywords,
            )
        )
    features = {p.fingerprint: rng.standard_normal((320, 7, 7)).astype(np.float16) for p in photos}
    return photos[:gallery], photos[gallery:], features


def on_driver(recommender, targets, features, chunk: int) -> float:
    started = time.perf_counter()
    for first in range(0, len(targets), chunk):
        recommender.suggest(targets[first : first + chunk], features, top_k=5, min_score=0.0)
    return time.perf_counter() - started


def on_cluster(recommender, targets, features, workers: int) -> float:
    import ray

    from phototag.app.cluster_stages import rank_dataset, rank_payload
    from phototag.model.recommend import BATCH

    started = time.perf_counter()
    shared = ray.put(recommender)
    groups = [
        {"group": g, "photos": rank_payload(targets[first : first + BATCH], features)}
        for g, first in enumerate(range(0, len(targets), BATCH))
    ]
    ranked = 0
    for batch in rank_dataset(groups, shared, 5, 0.0, workers).iter_batches(batch_size=None, batch_format="numpy"):
        ranked += sum(len(pickle.loads(r)) for r in batch["results"])
    assert ranked == len(targets)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gallery", type=int, default=5000)
    parser.add_argument("--targets", type=int, default=4096)
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if os.environ.get(INSIDE) != "1":
        command = " ".join(map(str, [sys.executable, Path(__file__).resolve(), *sys.argv[1:]]))
        script = f"ip link set lo up && exec {command}"
        raise SystemExit(
            subprocess.run(["unshare", "-n", "sh", "-c", script], env={**os.environ, INSIDE: "1"}).returncode
        )
    import logging

    # A cluster ray.init starts saves a token in ~/.ray/auth_token when none is there, and every later `ray start`
    # on this machine then asks for it (tests/cluster's clusters among them): not this one's business.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray
    from ray.data import DataContext

    from phototag.app.suggest import CHUNK
    from phototag.library.history import TagHistory
    from phototag.model.recommend import Recommender

    tagged, targets, features = library(args.gallery, args.targets, args.tags)
    history = TagHistory.from_photos(tagged + targets)
    recommender = Recommender(history, "lite0", embeddings=False)
    recommender.add_gallery(tagged, features)
    started = time.perf_counter()
    recommender.prepare()
    prepare = time.perf_counter() - started
    driver = on_driver(recommender, targets, features, CHUNK)
    ray.init(num_cpus=args.workers, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    DataContext.get_current().enable_progress_bars = False
    cluster = on_cluster(recommender, targets, features, args.workers)
    again = on_cluster(recommender, targets, features, args.workers)  # (the cluster's workers warm)
    ray.shutdown()
    result = {
        "gallery": args.gallery,
        "targets": args.targets,
        "tags": args.tags,
        "workers": args.workers,
        "cores": os.cpu_count(),
        "prepare_s": round(prepare, 2),
        "driver_s": round(driver, 2),
        "driver_photos_per_s": round(args.targets / driver, 1),
        "cluster_s": round(min(cluster, again), 2),
        "cluster_photos_per_s": round(args.targets / min(cluster, again), 1),
        "cluster_first_s": round(cluster, 2),
    }
    print(json.dumps(result))
    out = REPO / "benchmarks" / "results" / "bench_rank_ray.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
