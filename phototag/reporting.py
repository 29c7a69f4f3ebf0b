"""How long-running work tells the person what is happening, without knowing who is listening.

Library, imaging, model, training and evaluation code receive a `Reporter` and call
`warn`, `skip`, `incomplete`, `info` and `progress`; the command line implements it with rich
(`phototag.cli.common.RunLog`), tests with `CollectingReporter`. This module imports
nothing from phototag, so every layer may use it.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Protocol


class Progress(Protocol):
    """One task's progress: `advance` by a count, `total` once it is known."""

    def advance(self, n: int = 1) -> None: ...

    def total(self, total: Optional[int]) -> None: ...

    def completed(self, done: int) -> None: ...


class Reporter(Protocol):
    """Where warnings, skipped files, notes and progress of a run go."""

    def warn(self, message: str) -> None: ...

    def skip(self, path: Path | str | bytes, reason: str) -> None: ...

    def incomplete(self, path: Path | str | bytes, reason: str) -> None:
        """A file was read, but not all of its keywords (a refused sidecar, too many keywords)."""
        ...

    def info(self, message: str) -> None: ...

    def progress(
        self, description: str, total: Optional[int] = None, unit: str = "files"
    ):  # -> ContextManager[Progress]
        ...


def one_line(text: object) -> str:
    """A message as one line: runs of white space (newlines included) folded to one space."""
    return " ".join(str(text).split())


# Characters that would break a line or drive the terminal: C0 controls, DEL, C1 controls, the
# Unicode line and paragraph separators, and lone surrogates (undecodable bytes of file names).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte: show the byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: object) -> str:
    """Text safe for one line of a terminal or a log: control characters shown escaped (a newline
    as \\n, ESC as \\x1b), so a file name can neither break the line nor send escape sequences."""
    return _CONTROLS.sub(_escaped, str(text))


def display_path(path: Path | str | bytes) -> str:
    """A printable path: undecodable bytes of odd file names are shown escaped, never crash output."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", "backslashreplace")


class _CountingProgress:
    def __init__(self, description: str, total: Optional[int]):
        self.description = description
        self.total_count = total
        self.done = 0

    def advance(self, n: int = 1) -> None:
        self.done += n

    def total(self, total: Optional[int]) -> None:
        self.total_count = total

    def completed(self, done: int) -> None:
        self.done = done


@dataclass
class CollectingReporter:
    """A Reporter that only remembers: for tests, benchmarks and library callers that print nothing."""

    warnings: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # display path -> reason
    unread: dict[str, str] = field(default_factory=dict)  # display path -> why some keywords were not read
    notes: list[str] = field(default_factory=list)
    tasks: list[_CountingProgress] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.warnings.append(one_line(message))

    def skip(self, path: Path | str | bytes, reason: str) -> None:
        shown = display_path(path)
        self.skipped[shown] = one_line(reason)
        self.warn(f"skipped {shown}: {reason}")

    def incomplete(self, path: Path | str | bytes, reason: str) -> None:
        self.unread[display_path(path)] = one_line(reason)

    def info(self, message: str) -> None:
        self.notes.append(one_line(message))

    @contextmanager
    def progress(
        self, description: str, total: Optional[int] = None, unit: str = "files"
    ) -> Iterator[_CountingProgress]:
        task = _CountingProgress(description, total)
        self.tasks.append(task)
        yield task


# A reporter for callers that want nothing reported (warnings still collected, never printed).
def quiet_reporter() -> CollectingReporter:
    return CollectingReporter()
