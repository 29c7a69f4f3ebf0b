"""`phototag finetune DIR`: teach phototag your vocabulary and habits (a personal model per library)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer

from phototag.cli.app import app
from phototag.cli.common import (
    Backbone,
    Device,
    EXIT_ERROR,
    EXIT_USAGE,
    IndexOpt,
    JsonOpt,
    LibraryArg,
    OwnerFromOpt,
    QuietOpt,
    RunLog,
    VerboseOpt,
    check_owner_from,
    err_console,
    fail,
    open_index,
    progress,
)

MinCountOpt = Annotated[int, typer.Option("--min-count", min=1, help="Learn only tags you used on at least this many photos.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed: same seed, same photos, same model.")]
EpochsOpt = Annotated[int, typer.Option("--epochs", min=1, help="Most passes over the photos (early stopping usually ends sooner).")]
BackboneOpt = Annotated[Backbone, typer.Option("--backbone", help="Backbone whose cached features the heads read.")]
DeviceOpt = Annotated[
    Device, typer.Option("--device", help="auto, cpu, cuda, onnx or onnx-int8 (where features are computed; the model learns that kind).")
]
LossWeightsOpt = Annotated[
    str,
    typer.Option(
        "--loss-weights",
        help="Weights of L_p (personal tags), L_g (general tags), L_r (history reconstruction), L_adv (adversarial), comma-separated. The paper uses 1,1,1,1; the default weakens the adversary (chosen on validation data, see BENCHMARKS.md).",
    ),
]
NoScanOpt = Annotated[bool, typer.Option("--no-scan", help="Use the index as it is; do not look for new or changed photos first.")]


def parse_weights(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or any(v < 0 for v in values):
        raise typer.BadParameter("four non-negative numbers: L_p,L_g,L_r,L_adv (e.g. 1,1,1,1)", param_hint="--loss-weights")
    return values  # type: ignore[return-value]


def load_features(index, photos, backbone: str, device: str, runlog: RunLog, quiet: bool):
    """Cached backbone features of `photos` (missing ones computed in batches and stored); fingerprint -> tensor."""
    from phototag.model.features import FeatureExtractor, cached_features
    from phototag.model.weights import WeightsError

    try:  # enums or their values
        extractor = FeatureExtractor(backbone=Backbone(backbone).value, device=Device(device).value)
    except (WeightsError, RuntimeError) as error:  # a damaged package, no int8 graph, --device cuda without CUDA
        raise fail(str(error))
    with progress(quiet, unit="photos") as bar:
        task = bar.add_task("Backbone features", total=len(photos))
        features = cached_features(index, photos, extractor, runlog, advance=lambda n: bar.advance(task, n))
        bar.update(task, completed=len(photos))
    return features, extractor


def epoch_line(report, total_epochs: int, prefix: str = "") -> str:
    losses = "  ".join(f"{k} {v:.4f}" for k, v in report.losses.items())
    val = "  ".join(f"val {k} {report.val[k]:.3f}" for k in ("P@1", "P@5", "R@5") if k in report.val)
    star = "  [green]best[/]" if report.best else ""
    return f"{prefix}epoch {report.epoch:>3}/{total_epochs}  {losses}  {val}  {report.seconds:.1f}s{star}"


@app.command()
def finetune(
    library: LibraryArg,
    index_path: IndexOpt = None,
    owner_from: OwnerFromOpt = "library",
    min_count: MinCountOpt = 3,
    epochs: EpochsOpt = 40,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Photos per training step.")] = 50,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Adam learning rate of the heads and of D.")] = 1e-3,
    loss_weights: LossWeightsOpt = "1,1,1,0.1",
    val_fraction: Annotated[float, typer.Option("--val-fraction", min=0.0, max=0.9, help="Share of tagged photos held out for early stopping.")] = 0.15,
    patience: Annotated[int, typer.Option("--patience", min=1, help="Stop after this many epochs without a better validation P@5.")] = 6,
    seed: SeedOpt = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run (same photos, tags and options) from its last finished epoch.")] = False,
    unfreeze_last: Annotated[
        int,
        typer.Option("--unfreeze-last", min=0, help="Also train the last N backbone stages (needs a GPU and decoding every photo each epoch; not available yet: heads train on cached features)."),
    ] = 0,
    backbone: BackboneOpt = Backbone.lite0,
    device: DeviceOpt = Device.auto,
    no_scan: NoScanOpt = False,
    json_output: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a personal model on the photos you already tagged, so suggestions use your words.

    Learns the tags you used at least --min-count times (hierarchical keywords as
    their leaves, written back with their path), holds out a validation share for
    early stopping and saves the model with the library (see [bold]phototag models[/]).
    Ctrl-C is safe: run again with --resume to continue from the last finished epoch.

    Example: [bold]phototag finetune ~/Pictures[/]   or   [bold]phototag finetune ~/Pictures --epochs 60 --seed 1[/]
    """
    weights = parse_weights(loss_weights)
    owner_from = check_owner_from(owner_from)
    if unfreeze_last:
        raise fail(
            "--unfreeze-last is not available yet: phototag trains its heads on cached backbone features; "
            "training backbone stages needs a GPU and is planned",
            EXIT_USAGE,
        )
    import torch

    from phototag.evaluate.split import split_items
    from phototag.library.history import TagHistory
    from phototag.model import checkpoint as ck
    from phototag.train.data import build_examples, choose_vocabulary, hierarchy_map, owner_histories
    from phototag.train.finetune import TrainOptions, model_kwargs, signature, train_heads

    runlog = RunLog("finetune", verbose=verbose, quiet=quiet)
    try:
        with open_index(library, index_path) as index:
            if not no_scan:
                from phototag.cli.scan import run_scan

                run_scan(index, runlog, quiet)
            history = TagHistory(index.photos(), owner_from=owner_from)
            vocabulary = choose_vocabulary(history, min_count)
            tagged = history.tagged_photos()
            if len(vocabulary) < 2 or len(tagged) < 4:
                raise fail(
                    f"too little to learn from: {len(tagged)} tagged photo(s), {len(vocabulary)} tag(s) used at least "
                    f"{min_count} times; tag more photos or lower --min-count"
                )
            features, extractor = load_features(index, tagged, backbone, device, runlog, quiet)
            photos = [p for p in tagged if p.fingerprint in features]
            if len(photos) < 4:
                raise fail("too few tagged photos could be decoded to train on")

            options = TrainOptions(
                variant="A6", epochs=epochs, batch_size=batch_size, lr=lr, loss_weights=weights, patience=patience, seed=seed
            )
            if val_fraction > 0:
                fit_part, val_part = split_items(photos, [p.fingerprint for p in photos], val_fraction, seed)
            else:
                fit_part, val_part = photos, []
            fit = build_examples(fit_part, history, history, vocabulary, features)
            val = build_examples(val_part, history, history, vocabulary, features)
            run_signature = signature(fit, val, options, vocabulary)
            state = None
            if resume:
                state = ck.load_resume_state(index, run_signature, warn=runlog.warn)
                if state is None:
                    err_console.print("[yellow]nothing to resume[/] (no saved state for these photos and options); starting afresh")
                elif not quiet:
                    err_console.print(f"resuming after epoch {state['epoch']}", highlight=False)
            else:
                ck.clear_resume_state(index)

            if not quiet:
                err_console.print(
                    f"training on {len(fit)} photos, validating on {len(val)}, vocabulary {len(vocabulary)} tags, "
                    f"{len(history.owner_counts)} owner(s), threads {torch.get_num_threads()}",
                    highlight=False,
                )
            batches = -(-len(fit) // batch_size)
            with progress(quiet, unit="steps") as bar:
                task = bar.add_task("Training", total=batches * epochs)
                if state is not None:
                    bar.update(task, completed=batches * int(state["epoch"]))

                def on_epoch(report):
                    bar.update(task, completed=batches * report.epoch)
                    if not quiet:
                        bar.console.print(epoch_line(report, epochs), highlight=False)

                try:
                    result = train_heads(
                        fit,
                        val,
                        vocabulary,
                        options,
                        on_epoch=on_epoch,
                        on_batch=lambda: bar.advance(task, 1),
                        resume_state=state,
                        save_state=lambda s: ck.save_resume_state(index, s, run_signature),
                        backbone_head=extractor.model.head,
                    )
                except KeyboardInterrupt:
                    err_console.print("interrupted; run the same command with --resume to continue from the last finished epoch")
                    raise typer.Exit(130)

            owners, histories = owner_histories(history, vocabulary)
            meta = {
                "vocabulary": vocabulary,
                "hierarchy": hierarchy_map(history, vocabulary),
                "owners": owners,
                "owner_from": owner_from,
                "model_kwargs": model_kwargs(len(vocabulary), int(fit.features.shape[1])),
                "backbone": extractor.backbone,
                "features": extractor.key,  # float or int8 trunk output: suggest feeds the heads the same kind
                "feature_pool": options.feature_pool,
                "feature_shape": list(fit.features.shape[1:]),
                "options": {**options.__dict__, "loss_weights": list(options.loss_weights), "min_count": min_count, "val_fraction": val_fraction},
                "metrics": {"validation": result.best_val, "best_epoch": result.best_epoch, "epochs_run": result.epochs_run},
                "photos": {"train": len(fit), "validation": len(val)},
                "seconds": round(result.seconds, 1),
            }
            folder = ck.save_model(index, result.model.heads.state_dict(), histories, meta)
            ck.clear_resume_state(index)
    finally:
        runlog.close()
    summary = {
        "model": folder.name,
        "path": str(folder),
        "vocabulary": len(vocabulary),
        "train_photos": len(fit),
        "validation_photos": len(val),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "validation": result.best_val,
        "seconds": round(result.seconds, 1),
    }
    if json_output:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    if not quiet:
        val_text = ", ".join(f"{k} {v:.3f}" for k, v in result.best_val.items())
        err_console.print(
            f"saved personal model [bold]{folder.name}[/] ({len(vocabulary)} tags; best epoch {result.best_epoch}"
            + (f"; validation {val_text}" if val_text else "")
            + f"; {result.seconds:.0f}s). [bold]phototag suggest[/] will use it.",
            highlight=False,
        )
        runlog.print_footer()
    raise typer.Exit(runlog.exit_code)
