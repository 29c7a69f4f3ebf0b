"""`phototag apply FILE`: write the tags of a reviewed suggest file into XMP sidecars.

FILE is what `phototag suggest DIR --json` (JSON Lines) or `--csv` printed,
after the person deleted the suggestions they reject. Every suggestion left in
it is written. `--library DIR` is required: paths are resolved against it, and
a record naming a photo outside it is skipped with the reason (a file cannot
choose where phototag writes). Links: README "Links".
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from phototag.cli.app import app
from phototag.cli.common import EXIT_USAGE, RunLog, fail, open_index, progress
from phototag.cli.options import DryRunOpt, FollowLinksOpt, IndexOpt, QuietOpt, ReplaceLinksOpt, SidecarStyleOpt, VerboseOpt
from phototag.reporting import display_path

LibraryOpt = Annotated[
    Path,
    typer.Option(
        "--library",
        "-l",
        help="Library root (required): the paths in FILE are resolved against it; photos outside it are not written.",
        exists=True,
        file_okay=False,
        resolve_path=True,
    ),
]


@app.command()
def apply(
    file: Annotated[
        Path,
        typer.Argument(help="Reviewed output of `phototag suggest --json` or `--csv`.", exists=True, dir_okay=False),
    ],
    library: LibraryOpt,
    index_path: IndexOpt = None,
    sidecar_style: SidecarStyleOpt = "darktable",
    dry_run: DryRunOpt = False,
    follow_links: FollowLinksOpt = False,
    replace_links: ReplaceLinksOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write the tags left in a reviewed suggest file into the photos' XMP sidecars.

    Run [bold]phototag suggest DIR --json > s.jsonl[/] (or --csv), delete the
    suggestions you reject, then [bold]phototag apply s.jsonl --library DIR[/]. Image files
    are never touched; [bold]phototag undo DIR[/] reverts the last write.

    Example: [bold]phototag apply s.jsonl -l ~/Pictures --dry-run[/]   or   [bold]phototag apply s.csv --library ~/Pictures[/]
    """
    from phototag.app.write import SuggestFileError, open_writer, read_suggest_file, summary, write_entries

    runlog = RunLog("apply", verbose=verbose, quiet=quiet)
    try:
        try:
            entries = read_suggest_file(file, library, runlog.record_skipper(file))
        except SuggestFileError as error:
            raise fail(f"{display_path(file)}: {error}", EXIT_USAGE) from None
        with open_index(library, index_path) as index, open_writer(
            index, "apply", runlog, sidecar_style, dry_run, follow_links=follow_links, replace_links=replace_links
        ) as writer:
            with progress(quiet or dry_run, unit="photos") as bar:  # (--dry-run prints diffs instead)
                task = bar.add_task("Writing sidecars", total=len(entries))
                write_entries(writer, library, entries, runlog, advance=lambda n: bar.advance(task, n))
        runlog.summary(summary(writer.stats, dry_run))
    finally:
        runlog.close()
    raise typer.Exit(runlog.exit_code)
