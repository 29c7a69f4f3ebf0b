#!/usr/bin/env python3
"""Suggestion quality on a library: the `phototag eval` table, written to benchmarks/results/.

Runs exactly what `phototag eval LIBRARY --owner-from folder --json` runs, through the same use case
(app.evaluate.evaluate_library: the scan, the missing backbone features, the same split, protocol and
defaults), and writes

    benchmarks/results/eval_<name>.json   every figure, the counts, the options and the machine
    benchmarks/results/eval_<name>.md     the tables (per photo and per owner) and the command

Development library (real clip art, one folder per creator with their own tags):

    python3 /work/shared/corpora/build_openclipart_library.py --out /tmp/openclipart-dev
    python benchmarks/bench_eval.py --library /tmp/openclipart-dev --name openclipart
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

import torch  # noqa: E402

from phototag.app.evaluate import EvalConfig, evaluate_library  # noqa: E402
from phototag.evaluate.report import markdown_table, reference_row, relative_gain, splits_line  # noqa: E402
from phototag.evaluate.result import ROWS  # noqa: E402
from phototag.library.index import Index  # noqa: E402
from phototag.model.choices import DEFAULT_BACKBONE  # noqa: E402
from phototag.reporting import CollectingReporter  # noqa: E402
from phototag.train.finetune import TrainOptions  # noqa: E402


class PrintingReporter(CollectingReporter):
    """Collects warnings and skips; prints the stages ("training A6") as they start."""

    def info(self, message: str) -> None:
        super().info(message)
        print(message, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", type=Path, default=Path("/tmp/openclipart-dev"))
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--name", default="openclipart")
    parser.add_argument("--owner-from", default="folder")
    parser.add_argument("--split-by", default="photo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loss-weights", default="1,1,1,0.1", help="L_p,L_g,L_r,L_adv as in phototag eval")
    parser.add_argument(
        "--rows", default=",".join(key for key, _ in ROWS), help="which rows to compute (comma-separated keys)"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="seeded splits (seed, seed+1, ...), as phototag eval --repeats"
    )
    parser.add_argument(
        "--protocol", default="untagged", help="untagged, partial or event, as phototag eval --protocol"
    )
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="lite0 or lite2, as phototag eval --backbone")
    parser.add_argument(
        "--device", default="auto", help="auto, cpu, onnx or onnx-int8 (the features' kind), as phototag eval --device"
    )
    args = parser.parse_args()
    weights = tuple(float(x) for x in args.loss_weights.split(","))

    reporter = PrintingReporter()
    config = EvalConfig(
        split_by=args.split_by,
        owner_from=args.owner_from,
        seed=args.seed,
        repeats=args.repeats,
        protocol=args.protocol,
        train=TrainOptions(seed=args.seed, loss_weights=weights),
        rows=tuple(args.rows.split(",")),
    )

    def on_epoch(variant, report):
        print(
            f"{variant} epoch {report.epoch}: val P@5 {report.val.get('P@5', 0):.3f} ({report.seconds:.1f}s)",
            flush=True,
        )

    with Index.for_library(args.library, args.index) as index:  # scanned first, as phototag eval does
        result = evaluate_library(
            index, config, reporter, backbone=args.backbone, device=args.device, on_epoch=on_epoch
        )
    payload = result.to_json()
    payload["relative_gain_P@5"] = {a: relative_gain(result, "P@5", a) for a in ("per_photo", "per_owner")}
    payload["machine"] = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"eval_{args.name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    counts = result.counts
    options = f"--repeats {args.repeats} --protocol {args.protocol} --backbone {args.backbone} --device {args.device}"
    lines = [
        f"### `phototag eval` on {args.name} (`--owner-from {args.owner_from} --split-by {args.split_by} "
        f"--seed {args.seed} {options}`)",
        "",
        f"Command: `python benchmarks/bench_eval.py --library {args.library} --name {args.name} "
        f"--loss-weights {args.loss_weights} --rows {args.rows} {options}` "
        f"(same as `phototag eval {args.library} --owner-from {args.owner_from} --split-by {args.split_by} "
        f"--seed {args.seed} --loss-weights {args.loss_weights} {options} --json`; "
        f"{splits_line(result)}).",
        f"Photos: {counts['tagged_photos']} tagged, {counts['owners']} owners; training part {counts['train_photos']} "
        f"({counts['val_photos']} of them for early stopping), {counts['test_photos_scored']} test photos scored "
        f"({counts['test_photos_without_vocabulary_tags']} held-out photos had no tag of the training vocabulary), "
        f"vocabulary {counts['vocabulary']} tags (min count 3). Run time {result.seconds:.0f} s on "
        f"{os.cpu_count()} shared CPU cores.",
        "",
        "Mean over photos:",
        "",
        markdown_table(result, "per_photo"),
        "",
        "Mean over owners (each owner's test photos averaged first):",
        "",
        markdown_table(result, "per_owner"),
        "",
        f"{reference_row(result)} P@5 relative to each row (per photo / per owner): "
        + ", ".join(
            f"{key} {payload['relative_gain_P@5']['per_photo'][key]:+.0%} / "
            f"{payload['relative_gain_P@5']['per_owner'][key]:+.0%}"
            for key in payload["relative_gain_P@5"]["per_photo"]
        ),
        "",
        "Training (early stopping on validation P@5): "
        + ", ".join(
            f"{k}: best epoch {v['best_epoch']} of {v['epochs']}, {v['seconds']} s"
            for k, v in result.training.items()
            if "best_epoch" in v and k != "A4"
        ),
    ]
    (out / f"eval_{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
