#!/usr/bin/env python3
"""Finetune speed: N tagged photos with cached backbone features, default options, to a saved personal model.

Times what `phototag finetune DIR --no-scan` does once features are cached:
loading photos and cached features from the index, building the tensors
(leave-one-out histories), training the full model (A6, early stopping on
validation P@5) and saving the checkpoint. In the same run it trains the
visual-only classifier (A1) with the same options as the baseline, so the
ratio shows what the preference autoencoder, G and the adversarial step cost.

Needs a scanned library whose features are cached (any `phototag eval` or
`phototag finetune` run on it caches them; this script computes missing ones
first and does not count that time):

    python3 /work/shared/corpora/build_openclipart_library.py --out /tmp/openclipart-dev
    python benchmarks/bench_finetune.py --library /tmp/openclipart-dev --photos 2000   # goal: <= 300 s on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from phototag.library.history import TagHistory  # noqa: E402
from phototag.library.index import Index  # noqa: E402
from phototag.model.features import FeatureExtractor, cached_features  # noqa: E402
from phototag.reporting import CollectingReporter  # noqa: E402
from phototag.train.data import choose_vocabulary  # noqa: E402
from phototag.train.finetune import TrainOptions  # noqa: E402
from phototag.train.fit import prepare_fit, save_fitted  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", type=Path, default=Path("/tmp/openclipart-dev"))
    parser.add_argument("--index", type=Path, default=None, help="index database (default: the library's)")
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--owner-from", default="folder")
    parser.add_argument("--epochs", type=int, default=TrainOptions.epochs)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_finetune.json")
    args = parser.parse_args()
    if not args.library.is_dir():
        sys.exit(f"{args.library} is missing; build it with build_openclipart_library.py (see --help)")

    reporter = CollectingReporter()
    min_count, val_fraction, seed = 3, 0.15, 0  # finetune's defaults
    with Index.for_library(args.library, args.index) as index:
        extractor = FeatureExtractor("lite0", "cpu")
        all_tagged = TagHistory(index.photos(), args.owner_from).tagged_photos()[: args.photos]
        cached_features(index, all_tagged, extractor, reporter)  # not timed: computes only what is missing

        started = time.perf_counter()
        history = TagHistory(index.photos(), args.owner_from)
        tagged = history.tagged_photos()[: args.photos]
        history = TagHistory(tagged, args.owner_from)
        features = cached_features(index, tagged, extractor, reporter)
        photos = [p for p in tagged if p.fingerprint in features]
        vocabulary = choose_vocabulary(history, min_count)
        fitset = prepare_fit(photos, history, vocabulary, features, val_fraction, seed)
        fit, val = fitset.fit, fitset.val
        prepared = time.perf_counter() - started

        options = TrainOptions(epochs=args.epochs, seed=seed)
        result = fitset.train(options, backbone_head=extractor.top.head)
        with tempfile.TemporaryDirectory() as scratch:
            folder = save_fitted(
                Path(scratch),
                fitset,
                result,
                options,
                backbone=extractor.backbone,
                features=extractor.key,
                min_count=min_count,
                val_fraction=val_fraction,
            )
            saved_meta = json.loads((folder / "meta.json").read_text())
        total = time.perf_counter() - started

        baseline = fitset.train(replace(options, variant="A1"), backbone_head=extractor.top.head)

    per_epoch = result.seconds / max(result.epochs_run, 1)
    per_epoch_a1 = baseline.seconds / max(baseline.epochs_run, 1)
    figures = {
        "photos": len(photos),
        "train_photos": len(fit),
        "validation_photos": len(val),
        "vocabulary": len(vocabulary),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "validation_P@5": round(result.best_val.get("P@5", 0.0), 4),
        "prepare_seconds": round(prepared, 1),
        "train_seconds": round(result.seconds, 1),
        "total_seconds": round(total, 1),
        "seconds_per_epoch": round(per_epoch, 2),
        "goal_seconds": 300,
        "baseline_A1_seconds_per_epoch": round(per_epoch_a1, 2),
        "A6_over_A1_per_epoch": round(per_epoch / per_epoch_a1, 2) if per_epoch_a1 else None,
        "feature_pool": options.feature_pool,
        "saved_meta": {key: saved_meta.get(key) for key in ("backbone", "features", "feature_pool", "feature_shape")},
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    for key, value in figures.items():
        print(f"{key:32} {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
