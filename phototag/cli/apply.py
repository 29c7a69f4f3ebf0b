"""`phototag apply FILE`: write the tags of a reviewed suggest file into XMP sidecars.

FILE is what `phototag suggest DIR --json` (JSON Lines) or `--csv` printed,
after the person deleted the suggestions they reject. Every suggestion left in
it is written, in the owner's vocabulary (phototag.app.vocabulary, as the reviews
write typed tags). `--library DIR` is required: paths are resolved against it, and
a record naming a photo outside it is skipped with the reason (a file cannot
choose where phototag writes). Without FILE, the accepted tags a review kept and
did not write (Ctrl-C in `review --web`) are written. Links: README "Links".
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from phototag.cli.app import app
from phototag.cli.common import RunLog, open_index, progress
from phototag.cli.options import (
    DryRunOpt,
    FollowLinksOpt,
    IndexOpt,
    QuietOpt,
    ReplaceLinksOpt,
    SidecarStyleOpt,
    VerboseOpt,
)

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
    library: LibraryOpt,
    file: Annotated[
        Optional[Path],
        typer.Argument(
            help="Reviewed output of `phototag suggest --json` or `--csv`. Without it: the accepted tags a review"
            " kept and did not write.",
            exists=True,
            dir_okay=False,
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
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

    Without FILE, [bold]phototag apply -l DIR[/] writes the tags you accepted in a review
    ([bold]phototag review DIR --web[/]) and did not write yet. Tags are written in your
    vocabulary: [bold]flower[/] becomes [bold]Nature|Flower[/] when that is how you tag.

    Example: [bold]phototag apply s.jsonl -l ~/Pictures --dry-run[/]   or
    [bold]phototag apply s.csv --library ~/Pictures[/]   or   [bold]phototag apply -l ~/Pictures[/]
    """
    from phototag.app.review import write_kept
    from phototag.app.scan import scan
    from phototag.app.vocabulary import Vocabulary
    from phototag.app.write import open_writer, read_suggest_file, summary, write_entries

    runlog = RunLog("apply", verbose=verbose, quiet=quiet)
    try:
        entries = read_suggest_file(file, library, runlog.record_skipper(file)) if file is not None else None
        with (
            open_index(library, index_path, runlog) as index,
            open_writer(
                index, "apply", runlog, sidecar_style, dry_run, follow_links=follow_links, replace_links=replace_links
            ) as writer,
        ):
            scan(index, runlog, follow_links=follow_links)  # the owner's vocabulary, as it is now
            with progress(quiet or dry_run, unit="photos") as bar:  # (--dry-run prints diffs instead)
                task = bar.add_task("Writing sidecars", total=len(entries) if entries is not None else None)
                if entries is None:
                    write_kept(writer, index, advance=lambda n: bar.advance(task, n))
                else:
                    vocabulary = Vocabulary.of_index(index)
                    advance = lambda n: bar.advance(task, n)  # noqa: E731
                    write_entries(writer, library, entries, runlog, advance, vocabulary.written_form)
        runlog.summary(summary(writer.stats, dry_run))
    finally:
        runlog.close()
    raise typer.Exit(runlog.exit_code)
