"""Use case: write accepted tags into XMP sidecars, and undo the last write.

Tags come from a suggest session (`suggest --write`), from a reviewed suggest file
(`apply`, `review --from`) or from answers at the review prompt. Every write goes
through one journaled `SidecarWriter` batch, which `undo` reverts.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence, TextIO

from phototag.errors import EXIT_USAGE, PhototagError
from phototag.fsio import file_kind
from phototag.library.index import Index
from phototag.library.journal import BatchInfo, undoable_batches
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


class SuggestFileError(PhototagError):
    """The file cannot be used at all (one-line reason)."""

    exit_code = EXIT_USAGE


# ------------------------------------------------------------ suggest files
def _decoded(path_b64: object) -> Optional[str]:
    """The exact path of `path_b64` (base64 of the path's bytes), or None when it is not that."""
    if not isinstance(path_b64, str) or not path_b64:
        return None
    try:
        return os.fsdecode(base64.b64decode(path_b64, validate=True))
    except (ValueError, TypeError):
        return None


def _json_records(text: str, warn) -> Iterable[tuple[int, dict]]:
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise SuggestFileError(f"not valid JSON: {error}") from None
        yield from enumerate(records, 1)
        return
    # "\n" only: str.splitlines() also splits on U+2028, U+2029 and U+0085, which JSON keeps raw in strings.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError:
            warn(f"line {number}: not a JSON object; ignored")


class _Entries:
    """Entries by photo, in file order; paths are resolved against the library root."""

    def __init__(self, root: Path):
        self.root = Path(os.path.normpath(os.path.abspath(root)))
        self.by_photo: dict[str, Entry] = {}

    def get(self, shown: str, exact: Optional[str], abs_path: Optional[str] = None) -> Entry:
        """The entry of a record: its exact path (`path_b64`), else `abs_path` when it lies in the
        library (exact for names with odd bytes written with JSON escapes), else `path` (shown)."""
        if exact is not None:
            photo = self.root / exact
        elif abs_path and os.path.isabs(abs_path) and in_library(self.root, Path(abs_path)):
            photo = Path(abs_path)
        else:
            photo = self.root / shown
        photo = Path(os.path.normpath(photo))
        return self.by_photo.setdefault(os.fsdecode(photo), Entry(photo=photo, shown=shown))


def _read_json(text: str, entries: _Entries, warn) -> None:
    for number, record in _json_records(text, warn):
        if not isinstance(record, dict) or not isinstance(record.get("path") or record.get("abs_path"), str):
            warn(f"line {number}: no path; ignored")
            continue
        exact = _decoded(record.get("path_b64"))
        if exact is None and record.get("path_b64"):
            warn(f"line {number}: path_b64 is not base64 of a path; ignored")
            continue
        entry = entries.get(record.get("path") or record["abs_path"], exact, record.get("abs_path"))
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
    reader = csv.DictReader(io.StringIO(text, newline=""))  # the csv module's own line ends, quoted ones kept
    if not reader.fieldnames or not {"path", "tag"} <= set(reader.fieldnames):
        raise SuggestFileError("neither JSON Lines nor a CSV with a 'path,tag,...' header")
    for row in reader:
        number = reader.line_num  # a quoted field may span lines
        shown, tag = (row.get("path") or "").strip(), (row.get("tag") or "").strip()
        if not shown or not tag:
            warn(f"line {number}: empty path or tag; ignored")
            continue
        exact = _decoded((row.get("path_b64") or "").strip())
        if exact is None and (row.get("path_b64") or "").strip():
            warn(f"line {number}: path_b64 is not base64 of a path; ignored")
            continue
        entry = entries.get(shown, exact)
        score = row.get("score")
        try:
            score = float(score) if score not in (None, "") else None
        except ValueError:
            score = None
        entry.suggestions.append({"tag": tag, "score": score, "source": row.get("source") or None})


def read_suggest_file(path: Path, library: Path, warn: Callable[[str], None]) -> list[Entry]:
    """Parse a suggest JSON Lines or CSV file: its entries in file order, paths resolved against `library`.

    A record's exact path is `path_b64` (base64 of the bytes of the path relative to the
    library, which `suggest` writes beside the printable `path`); files without it give
    `path`, or an `abs_path` inside the library. Entries for the same photo are merged.
    Records that cannot be used are reported through `warn` ("line N: why") and skipped (the
    command line counts them as skipped: exit 3); a file that cannot be used at all
    raises SuggestFileError (its message names the file). Whether a photo may be written is decided later (`writable`).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
        entries = _Entries(library)
        if text.lstrip().startswith(("{", "[")):
            _read_json(text, entries, warn)
        else:
            _read_csv(text, entries, warn)
    except (OSError, UnicodeDecodeError) as error:
        raise SuggestFileError(f"cannot read {display_path(path)}: {error}") from None
    except SuggestFileError as error:
        raise SuggestFileError(f"{display_path(path)}: {error}") from None
    if not entries.by_photo:
        raise SuggestFileError(f"{display_path(path)}: no photos in the file")
    return list(entries.by_photo.values())


# ------------------------------------------------------------ writing
def in_library(root: Path, photo: Path) -> bool:
    """Whether `photo` names a path under `root` ('..' resolved lexically).

    A suggest file may only name photos of the library. Where that path leads through
    symbolic links is the writer's check (SidecarWriter refuses a folder that resolves
    outside the root unless follow_links), so a crafted `/etc/x.jpg` or `../x.jpg` is
    refused here even with --follow-links.
    """
    root_s, photo_s = os.path.normpath(os.path.abspath(root)), os.path.normpath(os.path.abspath(photo))
    try:
        return os.path.commonpath([root_s, photo_s]) == root_s
    except ValueError:
        return False


def writable(root: Path, photo: Path, reporter: Reporter, consequence: str) -> bool:
    """Whether tags of a suggest file may go to `photo` (named in the library, present); when not, it is reported
    skipped."""
    if not in_library(root, photo):
        reporter.skip(photo, f"not in the library {display_path(root)}; {consequence}")
        return False
    if not photo.is_file():
        try:
            reason = f"not a regular file: {file_kind(photo.stat().st_mode)}; {consequence}"
        except OSError:
            reason = "photo not found"
        reporter.skip(photo, reason)
        return False
    return True


def open_writer(
    index: Index,
    command: str,
    reporter: Reporter,
    style: str = "darktable",
    dry_run: bool = False,
    diff_out: Optional[TextIO] = None,
    follow_links: bool = False,
    replace_links: bool = False,
) -> SidecarWriter:
    """One journaled write batch (use it as a context manager); `phototag undo` reverts it.

    Nothing outside the library root is created or changed unless `follow_links` (--follow-links:
    photos in folders that links lead to); a symlinked sidecar is skipped unless `replace_links`
    (--replace-links: the link is replaced by a regular file)."""
    return SidecarWriter(
        index,
        command,
        dry_run=dry_run,
        style=style,
        reporter=reporter,
        diff_out=diff_out,
        follow_links=follow_links,
        replace_links=replace_links,
    )


def write_results(writer: SidecarWriter, results: Sequence, model_id: str) -> int:
    """Write every suggestion of suggest results; returns how many photos' sidecars changed."""
    changed = 0
    for result in results:
        if result.suggestions:
            change = writer.add_tags(result.photo.path, [s.tag for s in result.suggestions], model=model_id)
            changed += bool(change.changed)
    return changed


def write_entries(
    writer: SidecarWriter,
    root: Path,
    entries: Sequence[Entry],
    reporter: Reporter,
    advance: Callable[[int], None],
    written_form: Callable[[str], str] = lambda tag: tag,
) -> None:
    """Write every tag left in `entries` (a reviewed suggest file), each as `written_form` gives it
    (phototag.app.vocabulary: the owner's vocabulary); photos not in `root` or gone are skipped."""
    for entry in entries:
        advance(1)
        if writable(root, entry.photo, reporter, "not written") and entry.tags:
            writer.add_tags(entry.photo, list(dict.fromkeys(map(written_form, entry.tags))), model=entry.model)


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


def undo_history(index: Index) -> list[BatchInfo]:
    """The write batches `undo` can still revert, newest first (older ones were pruned: library.journal)."""
    return undoable_batches(index)
