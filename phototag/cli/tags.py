"""`phototag tags DIR`: your vocabulary, as phototag learned it from your keywords."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from phototag.cli.app import app
from phototag.cli.common import err_console, fail, open_index, out_console
from phototag.cli.options import IndexOpt, JsonOpt, LibraryArg, OwnerFromOpt, QuietOpt, VerboseOpt
from phototag.reporting import escape_controls


@app.command()
def tags(
    library: LibraryArg,
    index_path: IndexOpt = None,
    json_output: JsonOpt = False,
    owner: Annotated[Optional[str], typer.Option("--owner", help="Only this owner's tags (see --owner-from).")] = None,
    owner_from: OwnerFromOpt = "library",
    min_count: Annotated[int, typer.Option("--min-count", min=1, help="Hide tags used on fewer photos.")] = 1,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Show at most this many tags.")] = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Show your tag vocabulary: each tag, on how many photos, its share and its hierarchy.

    Reads the index built by [bold]phototag scan[/]. Spellings that differ only in
    case or spacing are one tag, shown the way you write it most often.

    Examples:
      [bold]phototag tags ~/Pictures --min-count 3[/]
      [bold]phototag tags ~/Pictures --owner-from folder --owner alice --json[/]
    """
    from phototag.library.history import TagHistory, summarise

    with open_index(library, index_path) as index:
        photos, scanned = index.photos(), index.scanned
    if not photos and not scanned:  # (an index scanned before phototag recorded scans has photos)
        raise fail(f"no photos indexed for {library}; run `phototag scan {library}` first")
    history = TagHistory(photos, owner_from=owner_from)
    if owner is not None and owner not in history.owner_counts:
        known = ", ".join(history.owner_names()[:10])
        raise fail(f"no owner named {owner!r} (with --owner-from {owner_from}); owners: {known}")
    rows = summarise(history, owner=owner, min_count=min_count)
    if limit:
        rows = rows[:limit]
    if json_output:
        typer.echo(json.dumps({"owner": owner, "owner_from": owner_from, "tags": rows}, ensure_ascii=False, indent=1))
        return
    tagged = len(history.tagged_photos())
    title = f"{len(rows)} tag(s) on {tagged:,} tagged of {len(photos):,} photos"
    if owner:
        title += f" — owner {owner}"
    # Keywords are the person's text: rich Text (never markup), control characters escaped; figures never wrap.
    table = Table(title=Text(escape_controls(title)), title_justify="left")
    table.add_column("tag", style="bold", overflow="fold")
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("share", justify="right", no_wrap=True)
    table.add_column("hierarchy", style="dim", overflow="fold")
    for row in rows:
        table.add_row(
            Text(escape_controls(row["tag"])),
            f"{row['count']:,}",
            f"{row['share']:.1%}",
            Text(escape_controls(row["hierarchy"] or "")),
        )
    out_console.print(table)
    if not quiet and not tagged:
        err_console.print("no tagged photos: tag some photos in your editor (or with phototag review) and re-scan")
    elif not quiet and not rows:
        err_console.print(f"no tag is used on {min_count} or more photos", highlight=False)
