"""`phototag scan DIR`: read the keywords you already gave into the local index."""

from __future__ import annotations

import json
import os
import sys

import typer
from rich.table import Table

from phototag.app.cluster import cluster_scan, require_ray
from phototag.cli.app import app
from phototag.cli.common import RunLog, err_console, open_index, print_line
from phototag.cli.options import (
    FollowLinksOpt,
    IndexOpt,
    JsonOpt,
    LibraryArg,
    OwnerFromOpt,
    QuietOpt,
    VerboseOpt,
    ray_option,
)
from phototag.reporting import display_path


def print_summary(summary, runlog: RunLog) -> None:
    if runlog.quiet:
        return
    table = Table(title="Scan summary", show_header=False, box=None, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("photos in library", f"{summary.photos:,}")
    table.add_row("read (new or changed)", f"{summary.read:,}")
    table.add_row("unchanged", f"{summary.unchanged:,}")
    if summary.removed:
        table.add_row(
            "gone from disk", f"{summary.removed:,}" + (f" ({summary.moved:,} moved)" if summary.moved else "")
        )
    table.add_row("tagged photos", f"{summary.tagged:,}")
    table.add_row("distinct keywords", f"{summary.keywords:,}")
    if summary.orphan_sidecars:
        table.add_row("sidecars without a photo", f"{len(summary.orphan_sidecars):,}")
    table.add_row("skipped", f"{len(summary.skipped):,}")
    table.add_row("speed", f"{summary.files_per_second:,.0f} files/s ({summary.seconds:.2f} s)")
    err_console.print(table)
    reasons: dict[str, int] = {}
    for reason in summary.skipped.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
        print_line(err_console, f"  skipped {count} × {reason}")
    runlog.print_footer()


def photo_record(photo, history, root) -> dict:
    """One JSON object describing a photo as the index knows it."""
    sources: dict[tuple[str, str, str], list[str]] = {}
    for keyword in photo.keywords:
        file = os.path.relpath(keyword.file, root)
        sources.setdefault((keyword.source, keyword.field, file), []).append(keyword.text)
    return {
        "type": "photo",
        "path": photo.display_path,
        "keywords": sorted(photo.metadata().flat()),
        "hierarchical": sorted({k.text for k in photo.keywords if k.is_hierarchical}),
        "tags": history.photo_tags(photo),
        "owner": history.owner_of(photo),
        "creator": photo.creator,
        "width": photo.width,
        "height": photo.height,
        "taken": photo.taken,  # local time, ISO; 'YYYY-MM-DD' when the file gives the day only
        "taken_offset": photo.taken_offset,
        "latitude": photo.latitude,
        "longitude": photo.longitude,
        "fingerprint": photo.fingerprint,
        "sources": [
            {"source": s, "field": f, "file": display_path(file), "keywords": texts}
            for (s, f, file), texts in sources.items()
        ],
    }


@app.command()
def scan(
    library: LibraryArg,
    index_path: IndexOpt = None,
    json_output: JsonOpt = False,
    owner_from: OwnerFromOpt = "library",
    follow_links: FollowLinksOpt = False,
    ray: ray_option("Read the metadata (folders split among the workers)") = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Read every keyword you already gave your photos into the local index.

    Walks DIR recursively (JPEG, PNG, TIFF, WebP, HEIC/HEIF, RAW…), pairs each
    photo with its XMP sidecars (IMG.xmp and IMG.CR2.xmp), and reads XMP,
    IPTC and EXIF keywords. Re-scans only read what changed.

    Example: [bold]phototag scan ~/Pictures[/]   or   [bold]phototag scan ~/Pictures --json | jq .tags[/]
    """
    from phototag.app.scan import scan as scan_index
    from phototag.library.history import TagHistory
    from phototag.library.metadata import read_photo_metadata

    if ray:
        require_ray()  # one line on how to install it, before any work
    runlog = RunLog("scan", verbose=verbose, quiet=quiet)
    try:
        with open_index(library, index_path, runlog) as index:
            if ray:
                summary = cluster_scan(index, runlog, ray, follow_links=follow_links)
            else:
                summary = scan_index(index, runlog, follow_links=follow_links)
            if json_output:
                photos = index.photos()
                history = TagHistory(photos, owner_from=owner_from)
                out = sys.stdout
                for photo in photos:
                    out.write(json.dumps(photo_record(photo, history, index.root), ensure_ascii=False) + "\n")
                for sidecar in summary.orphan_sidecars:
                    metadata = read_photo_metadata(sidecar, [])
                    out.write(
                        json.dumps(
                            {
                                "type": "sidecar",
                                "path": display_path(os.path.relpath(sidecar, library)),
                                "photo": None,
                                "keywords": sorted(metadata.flat()),
                                "hierarchical": sorted({k.text for k in metadata.keywords if k.is_hierarchical}),
                            },
                            ensure_ascii=False,
                        )
                        + "\n"
                    )
            print_summary(summary, runlog)
    finally:
        runlog.close()
    raise typer.Exit(runlog.exit_code)
