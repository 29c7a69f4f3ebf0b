"""Use case: write accepted tags into XMP sidecars, and undo the last write.

Tags come from a suggest session (`suggest --write`), from a reviewed suggest file
(`apply`, `review --from`) or from answers at the review prompt. Every write goes
through one journaled `SidecarWriter` batch, which `undo` reverts.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence, TextIO

from phototag.library.index import Index
from phototag.library.sidecar import SidecarWriter, UndoResult, WriterStats, undo_last_batch
from phototag.reporting import Reporter, display_path


@dataclass
class Entry:
    """One photo's suggestions: a record of a suggest file, or a suggest result."""

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


# ------------------------------------------------------------ suggest files
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


class _Entries:
    """Entries by photo, in file order; finds the library root from the first record that tells it."""

    def __init__(self, library: Optional[Path]):
        self.library = self.root = library
        self.by_photo: dict[str, Entry] = {}

    def get(self, rel: str, abs_path: Optional[str]) -> Entry:
        if self.root is None and abs_path:
            self.root = _library_from(abs_path, rel) if not os.path.isabs(rel) else Path(abs_path).parent
        if self.root is None:
            raise SuggestFileError("paths are relative: pass --library DIR (the folder you ran suggest on)")
        if self.library is None and abs_path:
            photo = Path(abs_path)  # exact, even for names that are not valid UTF-8
        else:
            photo = Path(rel) if os.path.isabs(rel) else self.root / rel
        photo = Path(os.path.normpath(photo))
        return self.by_photo.setdefault(os.fsdecode(photo), Entry(photo=photo, shown=rel))


def _read_json(text: str, entries: _Entries, warn) -> None:
    for number, record in _json_records(text, warn):
        if not isinstance(record, dict) or not isinstance(record.get("path") or record.get("abs_path"), str):
            warn(f"line {number}: no path; ignored")
            continue
        entry = entries.get(record.get("path") or record["abs_path"], record.get("abs_path"))
        entry.model = record.get("model") or entry.model
        entry.present = [t for t in record.get("present") or [] if isinstance(t, str)]
        for suggestion in record.get("suggestions") or []:
            if isinstance(suggestion, str):
                suggestion = {"tag": suggestion}
            if isinstance(suggestion, dict) and isinstance(suggestion.get("tag"), str) and suggestion["tag"].strip():
                entry.suggestions.append(
                    {"tag": suggestion["tag"], "score": suggestion.get("score"), "source": suggestion.get("source")}
                )


def _read_csv(text: str, entries: _Entries, warn) -> None:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"path", "tag"} <= set(reader.fieldnames):
        raise SuggestFileError("neither JSON Lines nor a CSV with a 'path,tag,...' header")
    for number, row in enumerate(reader, 2):
        rel, tag = (row.get("path") or "").strip(), (row.get("tag") or "").strip()
        if not rel or not tag:
            warn(f"line {number}: empty path or tag; ignored")
            continue
        entry = entries.get(rel, None)
        score = row.get("score")
        try:
            score = float(score) if score not in (None, "") else None
        except ValueError:
            score = None
        entry.suggestions.append({"tag": tag, "score": score, "source": row.get("source") or None})


def read_suggest_file(path: Path, library: Optional[Path], warn: Callable[[str], None]) -> tuple[Path, list[Entry]]:
    """Parse a suggest JSON Lines or CSV file. Returns (library root, entries in file order).

    Relative paths are resolved against `library`; without it, against the root that
    JSON records' `abs_path` reveals. Entries for the same photo are merged. Bad lines
    are reported through `warn` and skipped; a file that cannot be used at all raises
    SuggestFileError.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise SuggestFileError(f"cannot read {display_path(path)}: {error}") from None
    entries = _Entries(library)
    if text.lstrip().startswith(("{", "[")):
        _read_json(text, entries, warn)
    else:
        _read_csv(text, entries, warn)
    if entries.root is None:
        raise SuggestFileError("no photos in the file")
    return Path(os.path.normpath(entries.root)), list(entries.by_photo.values())


# ------------------------------------------------------------ writing
def inside(root: Path, photo: Path) -> bool:
    """Lexically under root ('..' resolved, symlinks not: the walker follows linked folders)."""
    root_s, photo_s = os.path.normpath(os.path.abspath(root)), os.path.normpath(os.path.abspath(photo))
    try:
        return os.path.commonpath([root_s, photo_s]) == root_s
    except ValueError:
        return False


def writable(root: Path, photo: Path, reporter: Reporter, consequence: str) -> bool:
    """Whether tags may go to `photo` (inside the library, present); when not, it is reported skipped."""
    if not inside(root, photo):
        reporter.skip(photo, f"outside the library {display_path(root)}; {consequence}")
        return False
    if not photo.is_file():
        reporter.skip(photo, "photo not found")
        return False
    return True


def open_writer(
    index: Index,
    command: str,
    reporter: Reporter,
    style: str = "darktable",
    dry_run: bool = False,
    diff_out: Optional[TextIO] = None,
) -> SidecarWriter:
    """One journaled write batch (use it as a context manager); `phototag undo` reverts it."""
    return SidecarWriter(index, command, dry_run=dry_run, style=style, reporter=reporter, diff_out=diff_out)


def write_results(writer: SidecarWriter, results: Sequence, model_id: str) -> int:
    """Write every suggestion of suggest results; returns how many photos' sidecars changed."""
    changed = 0
    for result in results:
        if result.suggestions:
            change = writer.add_tags(result.photo.path, [s.tag for s in result.suggestions], model=model_id)
            changed += bool(change.changed)
    return changed


def write_entries(
    writer: SidecarWriter, root: Path, entries: Sequence[Entry], reporter: Reporter, advance: Callable[[int], None]
) -> None:
    """Write every tag left in `entries` (a reviewed suggest file); photos outside `root` or gone are skipped."""
    for entry in entries:
        advance(1)
        if writable(root, entry.photo, reporter, "not written") and entry.tags:
            writer.add_tags(entry.photo, entry.tags, model=entry.model)


def summary(stats: WriterStats, dry_run: bool) -> str:
    """One line on what a write batch did."""
    verb = "would change" if dry_run else "changed"
    return (
        f"{stats.photos:,} photo(s): {verb} {stats.sidecars_written:,} sidecar(s)"
        f" ({stats.sidecars_created:,} new), {stats.tags_added:,} tag(s) added,"
        f" {stats.unchanged:,} already up to date, {stats.skipped:,} skipped"
    )


# ------------------------------------------------------------ undo
def undo_last_write(index: Index, reporter: Reporter, dry_run: bool = False) -> UndoResult:
    """Put back the sidecars of the last write batch not yet undone (see phototag.library.sidecar.undo_last_batch)."""
    return undo_last_batch(index, dry_run=dry_run, reporter=reporter)
