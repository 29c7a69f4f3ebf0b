"""`phototag undo DIR`: put back the sidecars of the last write batch exactly as they were."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from phototag.cli.app import app
from phototag.cli.common import RunLog, err_console, open_index, out_console, print_line
from phototag.cli.options import DryRunOpt, IndexOpt, LibraryArg, QuietOpt, VerboseOpt
from phototag.reporting import display_path


@app.command()
def undo(
    library: LibraryArg,
    index_path: IndexOpt = None,
    list_batches: Annotated[
        bool,
        typer.Option("--list", help="List the write batches that can still be undone (newest first); undo nothing."),
    ] = False,
    dry_run: DryRunOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Undo the last sidecar write (suggest --write, apply or review) in this library.

    Every sidecar it changed gets its previous content back byte for byte, and
    sidecars it created are deleted. A sidecar changed since (by your editor)
    is kept as it is and reported. Run it again to undo the batch before.
    The journal keeps the last 20 batches (and at most 256 MiB of them);
    [bold]--list[/] shows what can still be undone.

    Examples:
      [bold]phototag undo ~/Pictures --dry-run[/] (show what would be restored)
      [bold]phototag undo ~/Pictures[/]
    """
    from phototag.app.write import undo_history, undo_last_write

    if list_batches:
        with open_index(library, index_path) as index:
            _print_history(undo_history(index))
        raise typer.Exit(0)
    runlog = RunLog("undo", verbose=verbose, quiet=quiet)
    try:
        with open_index(library, index_path, runlog) as index:
            result = undo_last_write(index, runlog, dry_run=dry_run)
        if not quiet:
            if result.batch_id is None:
                err_console.print("nothing to undo: no sidecar writes recorded for this library", highlight=False)
            else:
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(result.started_at))
                verb = "would restore" if dry_run else "restored"
                print_line(
                    err_console,
                    f"batch {result.batch_id} ({result.command}, {when}): {verb} {len(result.restored)} sidecar(s),"
                    f" {'would delete' if dry_run else 'deleted'} {len(result.deleted)} created by phototag,"
                    f" kept {len(result.kept)} changed since"
                    + (f"; {len(result.relinked)} linked back to their hard link" if result.relinked else ""),
                )
                for path, reason in result.kept:
                    print_line(err_console, f"  kept {display_path(path)}: {reason}")
            runlog.print_footer()
    finally:
        runlog.close()
    raise typer.Exit(runlog.exit_code)


def _print_history(batches) -> None:
    """One line per batch that can still be undone, newest (the next `undo`) first."""
    if not batches:
        err_console.print("nothing to undo: no sidecar writes recorded for this library", highlight=False)
        return
    for batch in batches:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(batch.started_at))
        print_line(
            out_console,
            f"batch {batch.id}  {when}  {batch.command:<8} {batch.sidecars:>6,} sidecar(s)"
            f"  {batch.bytes / 1e6:>9,.1f} MB journaled",
        )
