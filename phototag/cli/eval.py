"""`phototag eval DIR`: how good would suggestions be on this library? Honest figures from a held-out split."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from phototag.cli.app import app
from phototag.cli.common import RunLog, epoch_line, err_console, fail, open_index, out_console, print_line
from phototag.cli.options import (
    IndexOpt,
    JsonOpt,
    LearningOptions,
    LibraryArg,
    QuietOpt,
    VerboseOpt,
    with_learning_options,
)
from phototag.reporting import display_path

# eval's own options (the learning ones are shared with finetune: cli/options.py)
SplitByOpt = Annotated[
    str, typer.Option("--split-by", help="Hold out whole photos, owners or folders: photo, owner or folder.")
]
TestFractionOpt = Annotated[
    float, typer.Option("--test-fraction", min=0.05, max=0.9, help="Share of tagged photos held out for testing.")
]
KnnOpt = Annotated[
    Optional[int],
    typer.Option(
        "--knn",
        min=1,
        help="k (neighbours) of the kNN row, the knn signal alone (default: k and temperature tuned on the "
        "validation photos; with --knn only the temperature).",
    ),
]
RepeatsOpt = Annotated[
    int,
    typer.Option(
        "--repeats",
        min=1,
        help="Seeded splits (seed, seed+1, ...): every row is scored on each; figures are mean ± sd.",
    ),
]
ProtocolOpt = Annotated[
    str,
    typer.Option(
        "--protocol",
        help="untagged (test photos untagged), partial (each keeps one random tag as input; predict the "
        "rest) or event (test photos with tagged training photos among their neighbours, as the neighbours "
        "signal counts them: same folder, a few photos and at most two days away).",
    ),
]
WithoutOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--without",
        metavar="SIGNALS",
        help="Also score the suggest rows with these signals left out (comma-separated, e.g. neighbours "
        "or knn,cooc; repeat for several rows): what each kind of evidence adds on your library.",
    ),
]
SignalsOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--signals",
        metavar="SIGNALS",
        help="Also score the suggest rows with only these signals (comma-separated, e.g. knn,probe; repeatable).",
    ),
]
MarkdownOpt = Annotated[bool, typer.Option("--markdown", help="Print the tables as Markdown.")]
HtmlOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--html",
        dir_okay=False,
        help="Also write one self-contained HTML page: curves, tables and example test photos with each row's top 5.",
    ),
]


@app.command("eval")
@with_learning_options
def eval_(
    library: LibraryArg,
    # --owner-from, --min-count, --epochs, --loss-weights, --seed, --backbone, --device, ... (cli/options.py)
    learning: LearningOptions,
    index_path: IndexOpt = None,
    split_by: SplitByOpt = "photo",
    test_fraction: TestFractionOpt = 0.2,
    knn: KnnOpt = None,
    repeats: RepeatsOpt = 1,
    protocol: ProtocolOpt = "untagged",
    without: WithoutOpt = None,
    signals: SignalsOpt = None,
    markdown: MarkdownOpt = False,
    html: HtmlOpt = None,
    json_output: JsonOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Measure suggestion quality: train on part of your tagged photos, predict the rest.

    One table, all rows from the same split: your library's most used tags (the
    paper's baseline), each owner's most used tags, the kNN signal alone (tags of the
    most similar tagged photos, k and temperature tuned), visual-only classifier (A1), preference without
    adversarial loss (A2), full model (A6) and full model without any history
    (cold start, A4). Precision, recall and accuracy (a hit in the top k) at
    k = 1, 3, 5, 10 and mean average precision, averaged over photos and over owners.

    Examples:
      [bold]phototag eval ~/Pictures[/]
      [bold]phototag eval ./clipart --owner-from folder --json > eval.json[/]
      [bold]phototag eval ~/Pictures --html eval.html[/]
    """
    from phototag.app.evaluate import evaluate_library

    config = _config(
        learning, split_by.lower(), test_fraction, knn, repeats, protocol.lower(), _ablations(without, signals)
    )
    if html is not None and not html.resolve().parent.is_dir():
        raise typer.BadParameter(
            f"no folder {display_path(html.resolve().parent)} to write the page into", param_hint="--html"
        )

    def on_epoch(variant: str, report) -> None:
        if verbose and not quiet:
            err_console.print(epoch_line(report, learning.epochs, prefix=f"{variant} "), highlight=False)

    runlog = RunLog("eval", verbose=verbose, quiet=quiet)
    try:
        with open_index(library, index_path, runlog) as index:
            result = evaluate_library(
                index,
                config,
                runlog,
                backbone=learning.backbone,
                device=learning.device,
                rescan=not learning.no_scan,
                follow_links=learning.follow_links,
                on_epoch=on_epoch,
            )
    finally:
        runlog.close()
    if json_output:
        _print_json(result)
    else:
        _print_tables(result, markdown, quiet)
    if html is not None:
        _write_html(result, html, f"phototag eval: {library.name}", quiet)
    if not quiet:
        _print_skipped(result)
        runlog.print_footer()
    raise typer.Exit(runlog.exit_code)


def _ablations(without: Optional[list[str]], signals: Optional[list[str]]) -> list:
    """--without / --signals as eval's ablations (a usage error for a signal the ranking does not have)."""
    from phototag.evaluate.result import Ablation
    from phototag.model.signals import signal_names

    ablations = []
    for values, only, option in ((without or [], False, "--without"), (signals or [], True, "--signals")):
        for value in values:
            names = tuple(dict.fromkeys(name.strip().lower() for name in value.split(",") if name.strip()))
            unknown = [name for name in names if name not in signal_names()]
            if unknown or not names:
                named = ", ".join(unknown) or "named"
                raise typer.BadParameter(
                    f"no signal {named}; the signals are {', '.join(signal_names())}", param_hint=option
                )
            ablations.append(Ablation(names, only))
    return ablations


def _config(
    learning: LearningOptions, split_by: str, test_fraction: float, knn, repeats: int, protocol: str, ablations=()
):
    """The EvalConfig of the options (a usage error for an unknown split or protocol)."""
    from phototag.app.evaluate import EvalConfig
    from phototag.evaluate.protocols import PROTOCOLS
    from phototag.train.options import TrainOptions
    from phototag.train.split import SPLIT_MODES

    if split_by not in SPLIT_MODES:
        raise typer.BadParameter(f"must be one of {', '.join(SPLIT_MODES)}", param_hint="--split-by")
    if protocol not in PROTOCOLS:
        raise typer.BadParameter(f"must be one of {', '.join(PROTOCOLS)}", param_hint="--protocol")
    return EvalConfig(
        split_by=split_by,
        test_fraction=test_fraction,
        min_count=learning.min_count,
        owner_from=learning.owner_from,
        knn_k=knn,
        seed=learning.seed,
        repeats=repeats,
        protocol=protocol,
        ablations=tuple(ablations),
        train=TrainOptions(epochs=learning.epochs, loss_weights=learning.weights(), seed=learning.seed),
    )


def _write_html(result, path: Path, title: str, quiet: bool) -> None:
    from phototag.evaluate.html_report import html_report
    from phototag.fsio import atomic_write

    try:
        atomic_write(path, html_report(result, title).encode("utf-8"))
    except OSError as error:
        raise fail(f"cannot write {display_path(path)}: {error.strerror or error}")
    if not quiet:
        err_console.print(f"wrote the report {display_path(path)}", highlight=False, markup=False)


def _print_skipped(result) -> None:
    """Without PyTorch: the rows left out and how to get them, in one line (stderr)."""
    from phototag.evaluate.report import skipped_line

    line = skipped_line(result)
    if line is not None:
        print_line(err_console, line)


def _print_json(result) -> None:
    from phototag.evaluate.report import calibration_rows, relative_gain

    payload = result.to_json()
    payload["calibration"] = {
        key: {"ece": round(ece, 4), "tags": count, "reliability": result.reliability(key)}
        for key, ece, count in calibration_rows(result)
    }
    payload["relative_gain_P@5"] = {
        "per_photo": relative_gain(result, "P@5", "per_photo"),
        "per_owner": relative_gain(result, "P@5", "per_owner"),
    }
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


def _print_tables(result, markdown: bool, quiet: bool) -> None:
    from phototag.evaluate.report import (
        calibration_markdown,
        calibration_rows,
        markdown_table,
        reference_row,
        relative_gain,
        rich_tables,
        summary,
    )

    counts, line = result.counts, summary(result)
    if markdown:  # data for a file: written as is, never wrapped to a console's width
        sys.stdout.write(line + "\n")
        for average, title in (("per_photo", "Mean over photos"), ("per_owner", "Mean over owners")):
            sys.stdout.write(f"\n{title}\n\n" + markdown_table(result, average) + "\n")
        if calibration_rows(result):
            title = "Calibration (does a score of 0.8 mean right 8 times in 10?)"
            sys.stdout.write(f"\n{title}\n\n" + calibration_markdown(result) + "\n")
    else:
        for average in ("per_photo", "per_owner") if counts["owners"] > 1 else ("per_photo",):
            for table in rich_tables(result, average, out_console):
                out_console.print(table)
        print_line(err_console, line)
        for key, ece, count in calibration_rows(result):
            print_line(err_console, f"{key}: expected calibration error {ece:.3f} (10 bins, {count} best-scored tags)")
    gains = {key: gain for key, gain in relative_gain(result, "P@5").items() if " " not in key}  # not an ablation
    if gains and not quiet:
        print_line(err_console, closing_line(result, reference_row(result), gains))


def closing_line(result, reference: str, gains: dict[str, float]) -> str:
    """The reference row against the best other row, in words: 'phototag suggest (after finetune): P@5 0.270
    (the share of its top 5 tags that are right), 33% lower than the best other row, Library most-frequent
    (paper's Baseline) (0.403)'."""
    from phototag.evaluate.result import row_label

    best = min(gains, key=gains.get)  # the other row with the highest P@5
    ours, theirs = (result.results[key].per_photo["P@5"] for key in (reference, best))
    gain = gains[best]
    if abs(gain) < 0.005:
        compared = "as many as"
    elif gain == float("inf"):
        compared = "more than"
    else:
        compared = f"{abs(gain):.0%} {'higher' if gain > 0 else 'lower'} than"
    return (
        f"{row_label(reference)}: P@5 {ours:.3f} (the share of its top 5 tags that are right),"
        f" {compared} the best other row, {row_label(best)} ({theirs:.3f})"
    )
