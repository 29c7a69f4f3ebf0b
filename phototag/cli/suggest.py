"""`phototag suggest DIR`: tag suggestions for the photos of a library."""

from __future__ import annotations

import base64
import csv
import json
import sys
import time
from contextlib import nullcontext
from typing import Annotated, Optional

import typer

from phototag.app.cluster import cluster_session, require_ray
from phototag.app.suggest import SuggestOptions, SuggestSession
from phototag.app.write import open_writer, write_results
from phototag.cli.app import app
from phototag.cli.common import EXIT_USAGE, RunLog, fail, open_index, out_console
from phototag.cli.options import (
    IndexOpt,
    JsonOpt,
    LibraryArg,
    QuietOpt,
    ReplaceLinksOpt,
    SidecarStyleOpt,
    VerboseOpt,
    ray_option,
    with_suggest_options,
)
from phototag.reporting import display_path


@app.command()
@with_suggest_options
def suggest(
    library: LibraryArg,
    # --all, --top-k, --min-score, --device, --backbone, --history, --model, ... (cli/options.py)
    options: SuggestOptions,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print CSV (path,tag,score,source) to stdout.")] = False,
    json_out: JsonOpt = False,
    write: Annotated[
        bool,
        typer.Option("--write", help="Write the suggestions into XMP sidecars (journaled; `phototag undo` reverts)."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --write: show what would change, change nothing.")
    ] = False,
    sidecar_style: SidecarStyleOpt = "darktable",
    replace_links: ReplaceLinksOpt = False,
    ray: ray_option("Decode and run the backbone") = None,
    index_path: IndexOpt = None,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Suggest tags for photos: in your own vocabulary when the library has keywords, general tags otherwise.

    Scans DIR first (only what changed), then ranks tags for each untagged photo
    (--all: every photo) and never repeats a tag the photo already has.

    Examples:
      [bold]phototag suggest ~/Pictures --top-k 3[/]
      [bold]phototag suggest ~/Pictures --json > s.jsonl[/]
      [bold]phototag suggest ~/Pictures --write --dry-run[/]
    """
    if json_out and csv_out:
        raise fail("choose one of --json and --csv", EXIT_USAGE)
    if dry_run and not write:
        raise fail("--dry-run only makes sense with --write", EXIT_USAGE)
    if ray:
        require_ray()  # one line on how to install it, before any work
    runlog = RunLog("suggest", verbose=verbose, quiet=quiet)
    output = _Output(json_out, csv_out)
    try:
        with open_index(library, index_path, runlog) as index:
            _run(index, options, runlog, output, sidecar_style if write else None, dry_run, replace_links, ray)
    finally:
        runlog.close()
    raise typer.Exit(runlog.exit_code)


def _run(
    index,
    options: SuggestOptions,
    runlog: RunLog,
    output: "_Output",
    write_style: Optional[str],
    dry_run: bool,
    replace_links: bool,
    ray: Optional[str] = None,
) -> None:
    """Suggest, render and, given a sidecar style (--write), write; the closing summary on stderr.
    With `ray` (an address), the features are computed on that Ray cluster first."""
    session = cluster_session(index, options, runlog, ray) if ray else SuggestSession(index, options, runlog)
    if not session.targets:
        what = "no photos" if not session.photos else "no untagged photos (--all includes tagged ones)"
        runlog.summary(f"No photos to suggest for: the library has {what}.")
        return
    session.load()
    output.start(session.model_id, _model_line(session))
    suggested = written = 0
    started = time.perf_counter()  # photos/s of the work itself, not of loading the model
    # --dry-run diffs go to stderr when stdout carries JSON/CSV, so the data stays parseable.
    diff_out = sys.stderr if output.mode != "table" else None
    writer = (
        open_writer(index, "suggest", runlog, write_style, dry_run, diff_out, options.follow_links, replace_links)
        if write_style
        else nullcontext()
    )
    with writer:
        for results in session.results():
            output.add(results)
            suggested += len(results)
            if write_style:
                written += write_results(writer, results, session.model_id)
    elapsed = time.perf_counter() - started
    output.finish()
    if not runlog.quiet and not runlog.verbose:  # (with --verbose RunLog already printed them as they happened)
        for shown, reason in runlog.skipped.items():
            runlog.show_warning(f"skipped {shown}: {reason}")
    rate = suggested / elapsed if elapsed > 0 else 0.0
    used = f"model {session.model_id}, backbone {session.backbone} on {session.extractor.device}"
    if session.extractor.gpu_decoder is not None:
        used += f", JPEGs decoded on the GPU ({session.extractor.gpu_decoder.backend})"
    if write_style:
        used += f"; {written} photo(s) {'would be ' if dry_run else ''}written"
    runlog.summary(f"suggestions for {suggested} of {len(session.photos)} photo(s) ({rate:,.1f} photos/s); {used}")


def _model_line(session: SuggestSession) -> str:
    """The one line of the table output that names the model in use and how to choose another."""
    mode = session.recommender.mode
    if mode == "personal":
        return f"model: personal model {session.personal.id} (`phototag models DIR` lists and chooses models)"
    if mode == "owner":
        tagged = len(session.history.tagged_photos())
        return (
            f"model: no personal model; the general model ranked with your {tagged} tagged photo(s) "
            "(`phototag models DIR` lists and chooses models)"
        )
    return "model: the general model alone (no photo of the library is tagged yet)"


def _path_b64(photo) -> str:
    """The exact bytes of the photo's path in the library, base64: `path` and `abs_path` are printable
    forms (odd bytes of non-UTF-8 names escaped), this is what `apply` and `review --from` use."""
    return base64.b64encode(photo.rel).decode("ascii")


class _Output:
    """JSON Lines and CSV stream out as results come; the table is printed at the end.

    Machine-readable output is always valid UTF-8, whatever the file names (`_path_b64`)."""

    def __init__(self, json_out: bool, csv_out: bool):
        self.mode = "json" if json_out else "csv" if csv_out else "table"
        self.model_id = ""
        self.rows: list = []

    def start(self, model_id: str, model_line: str = "") -> None:
        self.model_id, self.model_line = model_id, model_line
        if self.mode == "csv":
            self.csv = csv.writer(sys.stdout, lineterminator="\n")
            self.csv.writerow(["path", "tag", "score", "source", "path_b64"])

    def add(self, results) -> None:
        if self.mode == "json":
            for r in results:
                record = {
                    "path": r.photo.display_path,
                    "abs_path": display_path(r.photo.path),
                    "path_b64": _path_b64(r.photo),
                    "present": r.present,
                    "suggestions": [s.as_dict() for s in r.suggestions],
                    "model": self.model_id,
                }
                sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        elif self.mode == "csv":
            for r in results:
                for s in r.suggestions:
                    self.csv.writerow([r.photo.display_path, s.tag, f"{s.score:.4f}", s.source, _path_b64(r.photo)])
        else:
            self.rows.extend(results)
        sys.stdout.flush()

    def finish(self) -> None:
        if self.mode == "table":
            out_console.print(suggestion_table(self.rows, self.model_id, out_console.width))
            if self.model_line:
                from rich.text import Text

                out_console.print(Text(self.model_line, style="dim"))


def suggestion_table(results, model_id: str, width: int):
    """The suggestions as a person reads them, `width` columns wide: one line per suggestion (tag, score,
    where it came from), photo names shortened in the middle to fit, the photos' own tags only when some
    have tags (--all). In a file or a pipe (`width` huge) nothing is shortened."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from phototag.cli.common import shorten_middle, source_label, source_meanings
    from phototag.reporting import escape_controls

    names = [escape_controls(r.photo.display_path) for r in results]
    present = [escape_controls(", ".join(r.present)) for r in results]
    tags = [escape_controls(s.tag) for r in results for s in r.suggestions] + ["nothing convincing"]
    sources = [source_label(s.source) for r in results for s in r.suggestions]
    widths = _fit(width, names, tags, sources, present if any(present) else None)
    table = Table(
        title=f"Suggestions ({model_id})", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )
    table.add_column("photo", no_wrap=True, width=widths[0])
    table.add_column("tag", no_wrap=True, overflow="ellipsis", width=widths[1])
    table.add_column("score", justify="right", no_wrap=True, width=5)
    table.add_column("from", no_wrap=True, overflow="ellipsis", width=widths[2])
    if any(present):  # (untagged photos only, the default: a column that would always be empty)
        table.add_column("has", style="dim", overflow="ellipsis", width=widths[3])
    used: dict[str, None] = {}
    for name, tagged, r in zip(names, present, results):
        tags, scores, sources = Text(), Text(style="cyan"), Text(style="dim")
        for i, s in enumerate(r.suggestions):
            learnt = {"personal", "probe"} & set(s.source.split("+"))  # your personal model spoke for it
            tags.append(("\n" if i else "") + escape_controls(s.tag), style="bold" if learnt else "")
            scores.append(("\n" if i else "") + f"{s.score:.2f}")
            sources.append(("\n" if i else "") + source_label(s.source))
            used.update(dict.fromkeys(source_label(s.source).split("+")))
        shown = Text(shorten_middle(name, widths[0])) if widths[0] else Text(name)
        row = [shown, tags if r.suggestions else Text("nothing convincing", style="dim"), scores, sources]
        table.add_row(*row, *([Text(tagged)] if any(present) else []), end_section=True)
    known = source_meanings()
    meanings = [f"{label}: {known[label]}" for label in used if label in known]
    if meanings:
        table.caption, table.caption_justify = "from: " + " · ".join(meanings), "left"
    return table


def _fit(width: int, names: list[str], tags: list[str], sources: list[str], present: Optional[list[str]]) -> list:
    """Column widths (photo, tag, from, already tagged) for a table `width` columns wide; None where the
    content fits as it is (a wide terminal, a file)."""
    from rich.cells import cell_len

    longest = [max(map(cell_len, cells), default=4) for cells in (names, tags, sources, present or [""])]
    gaps = 3 * (4 if present is None else 5) - 3  # padding and divider between columns
    if sum(longest) + 5 + gaps <= width:
        return [None] * 4
    source = min(longest[2], 14)
    room = max(30, width - 5 - gaps - source)  # photo, tag and the photos' own tags share the rest
    shares = (5, 4, 0) if present is None else (4, 3, 2)
    photo = min(longest[0], max(12, room * shares[0] // sum(shares)))
    tagged = min(longest[3], (room - photo) * shares[2] // (shares[1] + shares[2])) if present is not None else 0
    return [photo, room - photo - tagged, source, tagged or None]
