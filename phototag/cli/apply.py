"""`phototag apply FILE`: write the tags of a reviewed suggest file into XMP sidecars.

FILE is what `phototag suggest DIR --json` (JSON Lines) or `--csv` printed,
after the person deleted the suggestions they reject. Every suggestion left in
it is written. Relative paths are resolved against `--library DIR`; without
it, a JSON Lines file locates the library from each record's `abs_path`.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Iterable, Optional

import typer

from phototag.cli.app import app
from phototag.cli.common import (
    EXIT_USAGE,
    IndexOpt,
    QuietOpt,
    RunLog,
    VerboseOpt,
    display_path,
    err_console,
    fail,
    open_index,
    progress,
)

SidecarStyleOpt = Annotated[
    str,
    typer.Option(
        "--sidecar-style",
        help="Name of NEW sidecars when the folder has no convention yet: darktable (IMG.CR2.xmp) or lightroom (IMG.xmp).",
        case_sensitive=False,
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", "-n", help="Change nothing; print a unified diff of every sidecar change.")
]
LibraryOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--library",
        "-l",
        help="Library root that the paths in FILE are relative to (default: from abs_path in JSON Lines).",
        exists=True,
        file_okay=False,
        resolve_path=True,
    ),
]


@dataclass
class Entry:
    """One photo of a suggest file."""

    photo: Path
    shown: str
    suggestions: list[dict] = field(default_factory=list)  # {"tag", "score", "source"}
    present: list[str] = field(default_factory=list)
    model: Optional[str] = None

    @property
    def tags(self) -> list[str]:
        return list(dict.fromkeys(s["tag"] for s in self.suggestions))


class SuggestFileError(Exception):
    """The file cannot be used at all (one-line reason)."""


def check_style(style: str) -> str:
    from phototag.library.sidecar_names import SIDECAR_STYLES

    value = style.lower()
    if value not in SIDECAR_STYLES:
        raise fail(f"--sidecar-style must be darktable or lightroom, not {style!r}", EXIT_USAGE)
    return value


def _library_from(abs_path: str, rel: str) -> Optional[Path]:
    """The root that `rel` is relative to: `abs_path` less as many components as `rel` has.

    (Compared by count, not text: `path` is a display form in which odd bytes are escaped.)
    """
    abs_parts, rel_parts = Path(abs_path).parts, Path(rel).parts
    if not rel_parts or len(rel_parts) >= len(abs_parts):
        return None
    return Path(*abs_parts[: -len(rel_parts)])


def _json_records(text: str, warn) -> Iterable[tuple[int, dict]]:
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise SuggestFileError(f"not valid JSON: {error}") from None
        yield from enumerate(records, 1)
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError:
            warn(f"line {number}: not a JSON object; ignored")


def read_suggest_file(path: Path, library: Optional[Path], warn) -> tuple[Path, list[Entry]]:
    """Parse a suggest JSON Lines or CSV file. Returns (library root, entries in file order).

    Entries for the same photo are merged. Bad lines are reported through `warn`
    and skipped; a file that cannot be used at all raises SuggestFileError.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise SuggestFileError(f"cannot read {display_path(path)}: {error}") from None
    entries: dict[str, Entry] = {}
    root = library

    def entry_for(rel: str, abs_path: Optional[str]) -> Entry:
        nonlocal root
        if root is None and abs_path:
            root = _library_from(abs_path, rel) if not os.path.isabs(rel) else Path(abs_path).parent
        if root is None:
            raise SuggestFileError("paths are relative: pass --library DIR (the folder you ran suggest on)")
        if library is None and abs_path:
            photo = Path(abs_path)  # exact, even for names that are not valid UTF-8
        else:
            photo = Path(rel) if os.path.isabs(rel) else root / rel
        photo = Path(os.path.normpath(photo))
        key = os.fsdecode(photo)
        if key not in entries:
            entries[key] = Entry(photo=photo, shown=rel)
        return entries[key]

    if text.lstrip().startswith(("{", "[")):
        for number, record in _json_records(text, warn):
            if not isinstance(record, dict) or not isinstance(record.get("path") or record.get("abs_path"), str):
                warn(f"line {number}: no path; ignored")
                continue
            rel = record.get("path") or record["abs_path"]
            entry = entry_for(rel, record.get("abs_path"))
            entry.model = record.get("model") or entry.model
            entry.present = [t for t in record.get("present") or [] if isinstance(t, str)]
            for suggestion in record.get("suggestions") or []:
                if isinstance(suggestion, str):
                    suggestion = {"tag": suggestion}
                if isinstance(suggestion, dict) and isinstance(suggestion.get("tag"), str) and suggestion["tag"].strip():
                    entry.suggestions.append(
                        {"tag": suggestion["tag"], "score": suggestion.get("score"), "source": suggestion.get("source")}
                    )
    else:
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or not {"path", "tag"} <= set(reader.fieldnames):
            raise SuggestFileError("neither JSON Lines nor a CSV with a 'path,tag,...' header")
        for number, row in enumerate(reader, 2):
            rel, tag = (row.get("path") or "").strip(), (row.get("tag") or "").strip()
            if not rel or not tag:
                warn(f"line {number}: empty path or tag; ignored")
                continue
            entry = entry_for(rel, None)
            score = row.get("score")
            try:
                score = float(score) if score not in (None, "") else None
            except ValueError:
                score = None
            entry.suggestions.append({"tag": tag, "score": score, "source": row.get("source") or None})
    if root is None:
        raise SuggestFileError("no photos in the file")
    return Path(os.path.normpath(root)), list(entries.values())


def inside(root: Path, photo: Path) -> bool:
    """Lexically under root ('..' resolved, symlinks not: the walker follows linked folders)."""
    root_s, photo_s = os.path.normpath(os.path.abspath(root)), os.path.normpath(os.path.abspath(photo))
    try:
        return os.path.commonpath([root_s, photo_s]) == root_s
    except ValueError:
        return False


def print_write_summary(stats, runlog: RunLog, dry_run: bool) -> None:
    if runlog.quiet:
        return
    verb = "would change" if dry_run else "changed"
    err_console.print(
        f"{stats.photos:,} photo(s): {verb} {stats.sidecars_written:,} sidecar(s)"
        f" ({stats.sidecars_created:,} new), {stats.tags_added:,} tag(s) added,"
        f" {stats.unchanged:,} already up to date, {stats.skipped:,} skipped",
        highlight=False,
        markup=False,
    )
    runlog.print_footer()


@app.command()
def apply(
    file: Annotated[
        Path,
        typer.Argument(help="Reviewed output of `phototag suggest --json` or `--csv`.", exists=True, dir_okay=False),
    ],
    library: LibraryOpt = None,
    index_path: IndexOpt = None,
    sidecar_style: SidecarStyleOpt = "darktable",
    dry_run: DryRunOpt = False,
    verbose: VerboseOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write the tags left in a reviewed suggest file into the photos' XMP sidecars.

    Run [bold]phototag suggest DIR --json > s.jsonl[/] (or --csv), delete the
    suggestions you reject, then [bold]phototag apply s.jsonl[/]. Image files are
    never touched; [bold]phototag undo DIR[/] reverts the last write.

    Example: [bold]phototag apply s.jsonl --dry-run[/]   or   [bold]phototag apply s.csv --library ~/Pictures[/]
    """
    from phototag.library.sidecar import SidecarWriter

    style = check_style(sidecar_style)
    runlog = RunLog("apply", verbose=verbose, quiet=quiet)
    try:
        try:
            root, entries = read_suggest_file(file, library, runlog.warn)
        except SuggestFileError as error:
            raise fail(f"{display_path(file)}: {error}", EXIT_USAGE) from None
        with open_index(root, index_path) as index:
            with SidecarWriter(index, "apply", dry_run=dry_run, style=style, reporter=runlog) as writer, progress(
                quiet or dry_run, unit="photos"
            ) as bar:
                task = bar.add_task("Writing sidecars", total=len(entries))
                for entry in entries:
                    bar.advance(task)
                    if not inside(root, entry.photo):
                        runlog.skip(entry.photo, f"outside the library {display_path(root)}; not written")
                        continue
                    if not entry.photo.is_file():
                        runlog.skip(entry.photo, "photo not found")
                        continue
                    if entry.tags:
                        writer.add_tags(entry.photo, entry.tags, model=entry.model)
        print_write_summary(writer.stats, runlog, dry_run)
    finally:
        runlog.close()
    raise typer.Exit(runlog.exit_code)
