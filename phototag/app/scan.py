"""Use case: bring a library's index in step with its folder (every command that reads the library starts here)."""

from __future__ import annotations

from phototag.library.index import Index
from phototag.library.scan import ScanSummary, scan_library
from phototag.reporting import Reporter


def scan(index: Index, reporter: Reporter, follow_links: bool = False, read_all=None) -> ScanSummary:
    """Incremental scan: only new or changed files are read. Skips and warnings go to `reporter`.

    `follow_links` (--follow-links): also walk folders that symbolic links in the library lead to;
    without it each such link is reported as skipped. `read_all`: who reads the changed files (scan --ray)."""
    with reporter.progress("Scanning", None, unit="files") as task:
        return scan_library(
            index, reporter, on_total=task.total, advance=task.advance, follow_links=follow_links, read_all=read_all
        )
