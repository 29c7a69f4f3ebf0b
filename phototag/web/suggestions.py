"""The web review's suggestions: ranked by a suggest session in a background thread, chunk by chunk.

The page opens at once with the photos and their tags; suggestions appear as each chunk of
the session (phototag.app.suggest.CHUNK photos) is ranked, so the first page does not wait
for the whole library. The session runs on its own connection to the index (SQLite
connections stay in their thread) with the same options as `phototag suggest`. When the review
stops, the ranking gives up at its next progress step (a batch of photos), so the process ends
with no thread left inside PyTorch or onnxruntime.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from phototag.app.review import live_entry_chunks
from phototag.library.index import Index
from phototag.reporting import Reporter, one_line
from phototag.web.state import ReviewState, SuggestStatus


class Stopped(Exception):
    """The review is closing; raised inside the ranking at its next progress step."""


class _Task:
    """A progress task that also tells the page's status line, and stops the work when asked."""

    def __init__(self, inner, status: SuggestStatus, description: str, total: Optional[int], stop: threading.Event):
        self.inner, self.status, self.stop = inner, status, stop
        status.task, status.done, status.total = description, 0, total

    def advance(self, n: int = 1) -> None:
        if self.stop.is_set():
            raise Stopped
        self.status.done += n
        self.inner.advance(n)

    def total(self, total: Optional[int]) -> None:
        self.status.total = total
        self.inner.total(total)

    def completed(self, done: int) -> None:
        self.status.done = done
        self.inner.completed(done)


class StatusReporter:
    """A Reporter that forwards everything to `inner` (the terminal's) and keeps the page's status;
    once `stop` is set, progress raises Stopped."""

    def __init__(self, inner: Reporter, status: SuggestStatus, stop: threading.Event):
        self.inner, self.status, self.stop = inner, status, stop

    def warn(self, message: str) -> None:
        self.inner.warn(message)

    def skip(self, path, reason: str) -> None:
        self.inner.skip(path, reason)

    def incomplete(self, path, reason: str) -> None:
        self.inner.incomplete(path, reason)

    def info(self, message: str) -> None:
        self.inner.info(message)

    @contextmanager
    def progress(self, description: str, total: Optional[int] = None, unit: str = "files") -> Iterator[_Task]:
        with self.inner.progress(description, total, unit) as task:
            yield _Task(task, self.status, description, total, self.stop)


class LiveSuggestions:
    """Suggestions for the review's targets, ranked in a thread; they reach `state` chunk by chunk."""

    def __init__(self, state: ReviewState, db_path: Path, reporter: Reporter):
        self._stop = threading.Event()
        self.thread = threading.Thread(
            target=_run,
            args=(state, db_path, StatusReporter(reporter, state.status, self._stop)),
            name="phototag-suggest",
            daemon=True,
        )
        self.thread.start()

    def stop(self, timeout: float = 30.0) -> bool:
        """Ask the ranking to stop and wait for it (a batch, or loading the model); whether it ended."""
        self._stop.set()
        self.thread.join(timeout)
        return not self.thread.is_alive()


def _run(state: ReviewState, db_path: Path, reporter: StatusReporter) -> None:
    status = state.status
    status.state = "working"
    try:
        with Index(db_path, state.worker.root) as index:
            for entries in live_entry_chunks(index, state.options, reporter):
                state.add_entries(entries)
    except Stopped:
        status.state = "stopped"
        return
    except Exception as error:  # shown on the page and in the log; the review goes on without suggestions
        status.state, status.message = "failed", one_line(f"no suggestions: {error}")
        reporter.inner.warn(status.message)
        return
    status.state, status.task = "done", ""
