"""What every command shares: exit codes, consoles, run logging, progress bars, errors, the index.

Options are defined once in phototag.cli.options.

Data (tables, JSON, CSV) goes to stdout; progress, warnings and summaries go to
stderr, so `phototag tags DIR --json | jq` always works.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer
from rich.console import Console, ConsoleDimensions
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from phototag.reporting import display_path, escape_controls

# Exit codes (documented in README "Exit codes"). Warnings alone do not change the code: they
# are counted in the closing line and written to the log file.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3  # done, but files were skipped or some file's keywords could not all be read

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

    def _open(self) -> logging.Logger:
        if self._logger is None:
            directory = log_dir()
            directory.mkdir(parents=True, exist_ok=True)
            self.path = directory / f"{self.command}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
            logger = logging.getLogger(f"phototag.run.{id(self)}")
            logger.propagate = False
            handler = logging.FileHandler(self.path, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            self._logger = logger
        return self._logger

    def warn(self, message: str) -> None:
        message = escape_controls(message)
        self.warnings.append(message)
        self._open().warning(message)
        if self.verbose:
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
                handler.close()
                self._logger.removeHandler(handler)

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
        print_line(err_console, f"{counts}; details in {self.path}")


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


def fail(message: str, code: int = EXIT_ERROR) -> "typer.Exit":
    print_line(err_console, message, "error:", "red")
    return typer.Exit(code)


def epoch_line(report, total_epochs: int, prefix: str = "") -> str:
    """One training epoch (phototag.train.finetune.EpochReport) as a line above the progress bar."""
    losses = "  ".join(f"{k} {v:.4f}" for k, v in report.losses.items())
    val = "  ".join(f"val {k} {report.val[k]:.3f}" for k in ("P@1", "P@5", "R@5") if k in report.val)
    star = "  [green]best[/]" if report.best else ""
    return f"{prefix}epoch {report.epoch:>3}/{total_epochs}  {losses}  {val}  {report.seconds:.1f}s{star}"


def open_index(root: Path, override: Optional[Path]):
    """Open the library's index, turning any failure into a one-line error and exit 1."""
    from phototag.library.index import Index, IndexError_

    try:
        return Index.for_library(root, override)
    except (IndexError_, OSError) as error:
        raise fail(str(error))
