"""`phototag undo DIR`: put back the sidecars of the last write batch exactly as they were."""

from __future__ import annotations

import time

import typer

from phototag.cli.app import app
from phototag.cli.common import RunLog, err_console, open_index, print_line
from phototag.cli.options import DryRunOpt, IndexOpt, LibraryArg, QuietOpt, VerboseOpt
from phototag.reporting import display_path


@app.command()
def undo(
    library: LibraryArg,
    index_path: IndexOpt = None,
    dry_run: DryRunOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Undo the last sidecar write (suggest --write, apply or review) in this library.

    Every sidecar it changed gets its previous content back byte for byte, and
    sidecars it created are deleted. A sidecar changed since (by your editor)
    is kept as it is and reported. Run it again to undo the batch before.

    Example: [bold]phototag undo ~/Pictures --dry-run[/] (show what would be restored), then [bold]phototag undo ~/Pictures[/]
    """
    from phototag.app.write import undo_last_write

    runlog = RunLog("undo", verbose=verbose, quiet=quiet)
    try:
        with open_index(library, index_path) as index:
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
