"""What every command shares: exit codes, consoles, run logging, progress bars, errors, the index.

Options are defined once in phototag.cli.options.

Data (tables, JSON, CSV) goes to stdout; progress, warnings and summaries go to
stderr, so `phototag tags DIR --json | jq` always works.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer
from rich.console import Console, ConsoleDimensions
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from phototag.errors import EXIT_ERROR, EXIT_INCOMPLETE, EXIT_INDEX, EXIT_OK, EXIT_USAGE  # noqa: F401 (re-exported)
from phototag.fsio import private_dir, private_file
from phototag.reporting import display_path, escape_controls

# Exit codes: phototag.errors (documented in README "Exit codes"). Warnings alone do not change the
# code: they are counted in the closing line and written to the log file.

# Columns of a console that is a file or a pipe (and no COLUMNS asks otherwise): a table there
# is as wide as its content, never wrapped to a terminal size nobody is looking at.
WIDE = 10_000


class _Console(Console):
    """A rich console that is WIDE columns wide when it is not a terminal and COLUMNS is unset."""

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        if self._width is None and not self.is_terminal and "COLUMNS" not in os.environ:
            return ConsoleDimensions(WIDE, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)


# NO_COLOR is honoured by rich itself; stderr so stdout stays pure data.
err_console = _Console(stderr=True)
out_console = _Console()


def print_line(console: Console, message: object, label: str = "", style: str = "") -> None:
    """One line, whatever it holds: control characters escaped (a newline in a file name shows as
    \\n, an escape sequence as \\x1b...), no rich markup or emoji codes, never wrapped."""
    text = Text.assemble((label, style), " " if label else "", escape_controls(message))
    console.print(text, soft_wrap=True, highlight=False)


def log_dir() -> Path:
    from platformdirs import user_log_path

    return Path(os.environ.get("PHOTOTAG_LOG_DIR") or user_log_path("phototag", appauthor=False))


@dataclass
class RunLog:
    """The command line's phototag.reporting.Reporter: warnings to a log file (and the terminal with
    --verbose), one line each with control characters escaped; skipped files and files whose keywords
    were not all read decide the exit code; rich progress bars on stderr."""

    command: str
    verbose: bool = False
    quiet: bool = False
    warnings: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # path -> reason
    unread: dict[str, str] = field(default_factory=dict)  # path -> why not all its keywords were read
    _logger: Optional[logging.Logger] = None
    path: Optional[Path] = None
    log_failed: bool = False  # the log file could not be written: warnings go to stderr

    def _open(self) -> logging.Logger:
        if self._logger is None:
            # A logger of its own, outside logging's global registry: no other run's (or library's)
            # handlers reach it, and a later RunLog that happens to get the same id() starts clean.
            logger = logging.Logger(f"phototag.run.{self.command}", logging.INFO)
            logger.propagate = False
            self._logger = logger
            try:
                directory = log_dir()
                private_dir(directory)
                path = directory / f"{self.command}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
                private_file(path)
                handler = _LogFile(path, self._log_failed)
            except OSError as error:
                self._log_failed(error)
            else:
                handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
                logger.addHandler(handler)
                self.path = path
        return self._logger

    def _log_failed(self, error: BaseException) -> None:
        """The log cannot be written: say so once, then show every warning on stderr; the work goes on."""
        if self.log_failed:
            return
        where = getattr(error, "filename", None) or self.path or log_dir()
        self.log_failed, self.path = True, None
        why = getattr(error, "strerror", None) or error
        self.show_warning(f"cannot write the log file ({display_path(where)}: {why}); warnings go to the terminal only")

    def warn(self, message: str) -> None:
        message = escape_controls(message)
        self.warnings.append(message)
        self._open().warning(message)
        if self.verbose or self.log_failed:
            self.show_warning(message)

    def show_warning(self, message: str) -> None:
        """A warning line on stderr (unless quiet), not logged again."""
        if not self.quiet:
            print_line(err_console, message, "warning:", "yellow")

    def skip(self, path: Path | str, reason: str) -> None:
        shown, reason = escape_controls(display_path(path)), escape_controls(reason)
        self.skipped[shown] = reason
        self.warn(f"skipped {shown}: {reason}")

    def record_skipper(self, file: Path) -> Callable[[str], None]:
        """For read_suggest_file: a record of `file` that cannot be used ("line N: why") is a skipped entry (exit 3)."""

        def skip_record(message: str) -> None:
            where, _, reason = message.partition(": ")
            self.skip(f"{display_path(file)} {where}", reason)

        return skip_record

    def incomplete(self, path: Path | str, reason: str) -> None:
        shown, reason = escape_controls(display_path(path)), escape_controls(reason)
        self.unread[shown] = reason
        self._open().warning(f"{shown}: {reason}")
        if self.log_failed:
            self.show_warning(f"{shown}: {reason}")

    def info(self, message: str) -> None:
        """A note for the person (stderr), unless quiet."""
        if not self.quiet:
            print_line(err_console, message)

    @contextmanager
    def progress(self, description: str, total: Optional[int] = None, unit: str = "files") -> Iterator["_RichTask"]:
        """One rich progress bar (phototag.reporting.Progress), shown only on a terminal and when not quiet."""
        with progress(self.quiet, unit=unit) as bar:
            task = bar.add_task(description, total=total)
            yield _RichTask(bar, task)

    def close(self) -> None:
        if self._logger is not None:
            for handler in list(self._logger.handlers):
                self._logger.removeHandler(handler)
                try:
                    handler.close()
                except OSError as error:  # the last lines could not be flushed (a full disk)
                    self._log_failed(error)

    @property
    def exit_code(self) -> int:
        return EXIT_INCOMPLETE if self.skipped or self.unread else EXIT_OK

    def summary(self, message: str) -> None:
        """The closing line of a command (stderr, unless quiet), then where warnings went."""
        self.info(message)
        self.print_footer()

    def print_footer(self) -> None:
        """Count the warnings, skipped files and files not fully read, and say where the details went."""
        if self.quiet or not (self.warnings or self.unread):
            return
        counts = f"{len(self.warnings)} warning(s), {len(self.skipped)} file(s) skipped"
        if self.unread:
            counts += f", {len(self.unread)} file(s) whose keywords were not all read"
        print_line(err_console, f"{counts}; details in {self.path}" if self.path else f"{counts} (shown above)")


class _LogFile(logging.FileHandler):
    """The run's log file; a write that fails (disk full) calls `on_error` once instead of printing a traceback."""

    def __init__(self, path: Path, on_error):
        super().__init__(path, mode="a", encoding="utf-8")
        self.on_error = on_error

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        self.on_error(sys.exc_info()[1] or OSError("cannot write the log"))


class _RichTask:
    """phototag.reporting.Progress on a rich progress bar."""

    def __init__(self, bar: Progress, task):
        self.bar, self.task = bar, task

    def advance(self, n: int = 1) -> None:
        self.bar.advance(self.task, n)

    def total(self, total: Optional[int]) -> None:
        self.bar.update(self.task, total=total)

    def completed(self, done: int) -> None:
        self.bar.update(self.task, completed=done)

    def print(self, message: str) -> None:
        """A line above the bar (e.g. one per training epoch)."""
        self.bar.console.print(message, highlight=False)


def progress(quiet: bool, unit: str = "files") -> Progress:
    """A rich progress bar with a rate column; disabled when quiet or not a terminal."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task):  # type: ignore[override]
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} {unit}/s" if speed else f"- {unit}/s", style="cyan")

    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet or not err_console.is_terminal,
        transient=False,
    )


def shorten_middle(text: str, width: int) -> str:
    """`text` in at most `width` terminal cells, cut in the middle ('holiday/…/lake-at-dusk.jpg'):
    the start and, longer, the end (a file name) stay whole words of it; never wrapped."""
    from rich.cells import cell_len

    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail_cells = (width - 1) * 3 // 5  # the end says more (the file name); the start says where
    head, tail = "", ""
    for char in reversed(text):
        if cell_len(tail) + cell_len(char) > tail_cells:
            break
        tail = char + tail
    for char in text:
        if cell_len(head) + cell_len(char) + cell_len(tail) + 1 > width:
            break
        head += char
    return f"{head}…{tail}"


def source_meanings() -> dict[str, str]:
    """Each signal's short label in a table column ("kNN") and what it means ("similar photos"), from the
    ranking's registry (phototag.model.signals)."""
    from phototag.model.signals import REGISTRY

    return {signal.label: signal.meaning for signal in REGISTRY.values()}


def source_label(source: Optional[str]) -> str:
    """'neighbours+knn' -> 'nearby+kNN' (a signal the registry does not know shows as itself)."""
    from phototag.model.signals import REGISTRY

    return "+".join(REGISTRY[part].label if part in REGISTRY else part for part in (source or "").split("+") if part)


def fail(message: str, code: int = EXIT_ERROR) -> "typer.Exit":
    print_line(err_console, message, "error:", "red")
    return typer.Exit(code)


def epoch_line(report, total_epochs: int, prefix: str = "") -> str:
    """One training epoch (phototag.train.finetune.EpochReport) as a line above the progress bar."""
    losses = "  ".join(f"{k} {v:.4f}" for k, v in report.losses.items())
    # mAP is shown because it breaks P@5's ties (train.finetune): an epoch with the same P@5 as the best
    # so far is the new best when its mAP is higher, and the line shows why.
    val = "  ".join(f"{k} {report.val[k]:.3f}" for k in ("P@1", "P@5", "R@5", "mAP") if k in report.val)
    val = f"val {val}" if val else ""
    star = "  [green]best[/]" if report.best else ""
    return f"{prefix}epoch {report.epoch:>3}/{total_epochs}  {losses}  {val}  {report.seconds:.1f}s{star}"


def open_index(root: Path, override: Optional[Path], runlog: Optional[RunLog] = None):
    """Open the library's index (IndexError_, a PhototagError, when it cannot be used: see cli.app).
    What the person should know about it (an old index that now belongs to `root`) goes to the log."""
    from phototag.library.index import Index

    index = Index.for_library(root, override)
    for note in index.notes:
        if runlog is None:
            print_line(err_console, note, "note:", "yellow")
        else:
            runlog.warn(note)
            if not (runlog.verbose or runlog.log_failed):
                runlog.show_warning(note)
    return index
