"""The web review's suggestions: ranked by a suggest session in a background thread, chunk by chunk.

The page opens at once with the photos and their tags; suggestions appear as each chunk of
the session (phototag.app.suggest.CHUNK photos) is ranked, so the first page does not wait
for the whole library. The session runs on its own connection to the index (SQLite
connections stay in their thread) with the same options as `phototag suggest`.
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


class _Task:
    """A progress task that also tells the page's status line."""

    def __init__(self, inner, status: SuggestStatus, description: str, total: Optional[int]):
        self.inner, self.status = inner, status
        status.task, status.done, status.total = description, 0, total

    def advance(self, n: int = 1) -> None:
        self.status.done += n
        self.inner.advance(n)

    def total(self, total: Optional[int]) -> None:
        self.status.total = total
        self.inner.total(total)

    def completed(self, done: int) -> None:
        self.status.done = done
        self.inner.completed(done)


class StatusReporter:
    """A Reporter that forwards everything to `inner` (the terminal's) and keeps the page's status."""

    def __init__(self, inner: Reporter, status: SuggestStatus):
        self.inner, self.status = inner, status

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
            yield _Task(task, self.status, description, total)


def start_live(state: ReviewState, db_path: Path, reporter: Reporter) -> threading.Thread:
    """Rank suggestions for the review's targets in a daemon thread; they reach `state` chunk by chunk."""
    thread = threading.Thread(target=_run, args=(state, db_path, reporter), name="phototag-suggest", daemon=True)
    thread.start()
    return thread


def _run(state: ReviewState, db_path: Path, reporter: Reporter) -> None:
    status = state.status
    status.state = "working"
    try:
        with Index(db_path, state.worker.root) as index:
            for entries in live_entry_chunks(index, state.options, StatusReporter(reporter, status)):
                state.add_entries(entries)
    except Exception as error:  # shown on the page and in the log; the review goes on without suggestions
        status.state, status.message = "failed", one_line(f"no suggestions: {error}")
        reporter.warn(status.message)
        return
    status.state, status.task = "done", ""
