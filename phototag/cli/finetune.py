"""`phototag finetune DIR`: teach phototag your vocabulary and habits (a personal model per library)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from phototag.cli.app import app
from phototag.cli.common import RunLog, epoch_line, err_console, open_index
from phototag.cli.options import (
    IndexOpt,
    JsonOpt,
    LearningOptions,
    LibraryArg,
    QuietOpt,
    VerboseOpt,
    ray_option,
    with_learning_options,
)
from phototag.errors import EXIT_INTERRUPTED, require_torch


@app.command()
@with_learning_options
def finetune(
    library: LibraryArg,
    # --owner-from, --min-count, --epochs, --loss-weights, --seed, --backbone, --device, ... (cli/options.py)
    learning: LearningOptions,
    index_path: IndexOpt = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Photos per training step.")] = 50,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Adam learning rate of the heads and of D.")] = 1e-3,
    val_fraction: Annotated[
        float,
        typer.Option("--val-fraction", min=0.0, max=0.9, help="Share of tagged photos held out for early stopping."),
    ] = 0.15,
    patience: Annotated[
        int, typer.Option("--patience", min=1, help="Stop after this many epochs without a better validation P@5.")
    ] = 6,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue an interrupted run (same photos, tags and options) from its last finished epoch."
        ),
    ] = False,
    ray: ray_option("Decode the tagged photos and run the backbone (training stays here)") = None,
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
    require_torch("phototag finetune")
    weights = learning.weights()
    if ray:
        from phototag.app.cluster import require_ray

        require_ray()  # one line on how to install it, before any work
    from phototag.app.finetune import FinetuneConfig
    from phototag.app.finetune import finetune as run_finetune
    from phototag.train.finetune import TrainOptions

    config = FinetuneConfig(
        owner_from=learning.owner_from,
        min_count=learning.min_count,
        val_fraction=val_fraction,
        train=TrainOptions(
            variant="A6",
            epochs=learning.epochs,
            batch_size=batch_size,
            lr=lr,
            loss_weights=weights,
            patience=patience,
            seed=learning.seed,
        ),
        backbone=learning.backbone,
        device=learning.device,
        resume=resume,
        rescan=not learning.no_scan,
        follow_links=learning.follow_links,
        ray=ray,
    )

    def on_epoch(report) -> None:
        if not quiet:  # printed on the progress bar's console: the line lands above the bar
            err_console.print(epoch_line(report, learning.epochs), highlight=False)

    runlog = RunLog("finetune", verbose=verbose, quiet=quiet)
    try:
        with open_index(library, index_path, runlog) as index:
            done = run_finetune(index, config, runlog, on_epoch=on_epoch)
    except KeyboardInterrupt:
        err_console.print("interrupted; run the same command with --resume to continue from the last finished epoch")
        raise typer.Exit(EXIT_INTERRUPTED)
    finally:
        runlog.close()
    _report(done, json_output, runlog, library)


def _report(done, json_output: bool, runlog: RunLog, library) -> None:
    """The summary: JSON on stdout with --json, the comparison and one line on stderr unless quiet; exits."""
    result, fitset = done.result, done.fitset
    if json_output:
        summary = {
            "model": done.folder.name,
            "path": str(done.folder),
            "vocabulary": len(fitset.vocabulary),
            "train_photos": len(fitset.fit),
            "validation_photos": len(fitset.val),
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "validation": result.best_val,
            "comparison": done.comparison.as_dict(),
            "made_default": done.made_default,
            "in_use": done.in_use,
            "seconds": round(result.seconds, 1),
            "warnings": list(runlog.warnings),  # e.g. too few validation photos to trust the figures
        }
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    if not runlog.quiet:
        val_text = ", ".join(f"{k} {v:.3f}" for k, v in result.best_val.items())
        err_console.print(
            f"saved personal model [bold]{done.folder.name}[/] ({len(fitset.vocabulary)} tags; best epoch "
            f"{result.best_epoch}" + (f"; validation {val_text}" if val_text else "") + f"; {result.seconds:.0f}s).",
            highlight=False,
        )
        err_console.print(comparison_line(done, library), highlight=False)
        runlog.print_footer()
    raise typer.Exit(runlog.exit_code)


def comparison_line(done, library) -> str:
    """Whether suggest now uses the new model, with the two held-out figures that decided it."""
    import shlex

    from rich.markup import escape

    from phototag.app.finetune import MIN_COMPARISON_PHOTOS
    from phototag.reporting import escape_controls

    c = done.comparison
    if c.photos == 0:
        figures = "personal model: no held-out photo to compare it on"
    else:
        with_p5, without_p5 = (c.as_dict()[k] for k in ("with", "without"))
        figures = f"personal model: P@5 {with_p5:.2f} on {c.photos} held-out photo(s) vs {without_p5:.2f} without it"
    if done.made_default:
        return f"{figures} — made the default: [bold]phototag suggest[/] uses it."
    if c.photos < MIN_COMPARISON_PHOTOS:
        why = f"too few to tell ({MIN_COMPARISON_PHOTOS} needed)"
    elif c.gain > 0:
        why = "not better by more than chance explains"
    else:
        why = "not better"
    kept = f"personal model {done.in_use}" if done.in_use else "no personal model"
    where = escape(escape_controls(shlex.quote(str(library))))
    return (
        f"{figures} — {why}: kept as an option, not made the default (suggest keeps {kept}; "
        f"`phototag models {where} --use {done.folder.name}` to use it anyway)."
    )
