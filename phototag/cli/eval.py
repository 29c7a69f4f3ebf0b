"""`phototag eval DIR`: how good would suggestions be on this library? Honest figures from a held-out split."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer

from phototag.cli.app import app
from phototag.cli.common import RunLog, epoch_line, err_console, fail, open_index, out_console, print_line
from phototag.cli.options import (
    Backbone, BackboneOpt, Device, DeviceOpt, EpochsOpt, FollowLinksOpt, IndexOpt, JsonOpt, LibraryArg, LossWeightsOpt,
    MinCountOpt, NoScanOpt, OwnerFromOpt, QuietOpt, SeedOpt, VerboseOpt, parse_loss_weights,
)


@app.command("eval")
def eval_(
    library: LibraryArg,
    index_path: IndexOpt = None,
    split_by: Annotated[str, typer.Option("--split-by", help="Hold out whole photos, owners or folders: photo, owner or folder.")] = "photo",
    test_fraction: Annotated[float, typer.Option("--test-fraction", min=0.05, max=0.9, help="Share of tagged photos held out for testing.")] = 0.2,
    owner_from: OwnerFromOpt = "library",
    min_count: MinCountOpt = 3,
    knn: Annotated[Optional[int], typer.Option("--knn", min=1, help="Neighbours of the kNN label-transfer baseline (default: k and vote weighting chosen on the validation photos).")] = None,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Seeded splits (seed, seed+1, ...): every row is scored on each; figures are mean ± sd.")] = 1,
    protocol: Annotated[str, typer.Option("--protocol", help="untagged (test photos untagged), partial (each keeps one random tag as input; predict the rest) or event (test photos whose folder holds tagged training photos).")] = "untagged",
    epochs: EpochsOpt = 40,
    loss_weights: LossWeightsOpt = "1,1,1,0.1",
    seed: SeedOpt = 0,
    backbone: BackboneOpt = Backbone.lite0,
    device: DeviceOpt = Device.auto,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the tables as Markdown.")] = False,
    no_scan: NoScanOpt = False,
    follow_links: FollowLinksOpt = False,
    json_output: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Measure suggestion quality: train on part of your tagged photos, predict the rest.

    One table, all rows from the same split: your library's most used tags (the
    paper's baseline), each owner's most used tags, kNN label transfer from the
    most similar tagged photos, visual-only classifier (A1), preference without
    adversarial loss (A2), full model (A6) and full model without any history
    (cold start, A4). Precision, recall and accuracy (a hit in the top k) at
    k = 1, 3, 5, 10 and mean average precision, averaged over photos and over owners.

    Example: [bold]phototag eval ~/Pictures[/]   or   [bold]phototag eval ./clipart --owner-from folder --json > eval.json[/]
    """
    from phototag.app.evaluate import EvalConfig, evaluate_library
    from phototag.evaluate.protocols import PROTOCOLS
    from phototag.model.features import DeviceUnavailable
    from phototag.model.weights import WeightsError
    from phototag.train.finetune import TrainOptions
    from phototag.train.fit import NotEnoughData
    from phototag.train.split import SPLIT_MODES

    split_by, protocol = split_by.lower(), protocol.lower()
    if split_by not in SPLIT_MODES:
        raise typer.BadParameter(f"must be one of {', '.join(SPLIT_MODES)}", param_hint="--split-by")
    if protocol not in PROTOCOLS:
        raise typer.BadParameter(f"must be one of {', '.join(PROTOCOLS)}", param_hint="--protocol")
    config = EvalConfig(
        split_by=split_by,
        test_fraction=test_fraction,
        min_count=min_count,
        owner_from=owner_from,
        knn_k=knn,
        seed=seed,
        repeats=repeats,
        protocol=protocol,
        train=TrainOptions(epochs=epochs, loss_weights=parse_loss_weights(loss_weights), seed=seed),
    )

    def on_epoch(variant: str, report) -> None:
        if verbose and not quiet:
            err_console.print(epoch_line(report, epochs, prefix=f"{variant} "), highlight=False)

    runlog = RunLog("eval", verbose=verbose, quiet=quiet)
    try:
        with open_index(library, index_path) as index:
            result = evaluate_library(
                index, config, runlog, backbone=backbone.value, device=device.value, rescan=not no_scan, follow_links=follow_links, on_epoch=on_epoch
            )
    except (NotEnoughData, WeightsError, DeviceUnavailable) as error:
        raise fail(str(error))
    finally:
        runlog.close()
    if json_output:
        _print_json(result)
    else:
        _print_tables(result, markdown, quiet)
    if not quiet:
        runlog.print_footer()
    raise typer.Exit(runlog.exit_code)


def _print_json(result) -> None:
    from phototag.evaluate.report import relative_gain

    payload = result.to_json()
    payload["relative_gain_P@5"] = {
        "per_photo": relative_gain(result, "P@5", "per_photo"),
        "per_owner": relative_gain(result, "P@5", "per_owner"),
    }
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


def _print_tables(result, markdown: bool, quiet: bool) -> None:
    from phototag.evaluate.report import markdown_table, relative_gain, rich_tables, splits_line

    counts, config = result.counts, result.config
    summary = (
        f"{counts['train_photos']} training photos ({counts['val_photos']} of them for early stopping), "
        f"{counts['test_photos_scored']} test photos scored, vocabulary {counts['vocabulary']} tags, "
        f"{counts['owners']} owner(s); split by {config['split_by']}, {splits_line(result)}; {result.seconds:.0f}s"
    )
    if markdown:  # data for a file: written as is, never wrapped to a console's width
        sys.stdout.write(summary + "\n")
        for average, title in (("per_photo", "Mean over photos"), ("per_owner", "Mean over owners")):
            sys.stdout.write(f"\n{title}\n\n" + markdown_table(result, average) + "\n")
    else:
        for average in ("per_photo", "per_owner") if counts["owners"] > 1 else ("per_photo",):
            for table in rich_tables(result, average, out_console):
                out_console.print(table)
        print_line(err_console, summary)
    gains = relative_gain(result, "P@5")
    if gains and not quiet:
        worst = min(gains, key=gains.get)
        err_console.print(
            f"full model P@5 vs best other row ({worst}): {gains[worst]:+.0%} relative", highlight=False, markup=False
        )
