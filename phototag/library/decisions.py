"""The person's review decisions, kept in the index as they are made.

Every accept, reject and typed tag of a review (terminal or web) is one row of the `decisions`
table, committed at once: a decision survives Ctrl-C, a crash and a restart. An accepted tag is
*pending* until a write batch puts it into the sidecar; the row then records that batch, and
undoing the batch makes it pending again. Rejects stay, so a rejected suggestion is not offered
as new again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Optional

from phototag.library.index import Index

ACCEPT, REJECT = "accept", "reject"
STATES = (ACCEPT, REJECT)


@dataclass(frozen=True)
class Unwritten:
    """How many accepted tags are not in the sidecars yet."""

    tags: int
    photos: int


def decide(index: Index, photo_id: int, tag: str, state: Optional[str], model: Optional[str] = None) -> None:
    """Record `state` (accept | reject) for `tag` on the photo; None forgets the decision."""
    with index.write() as db:
        if state is None:
            db.execute("DELETE FROM decisions WHERE photo_id = ? AND tag = ? AND batch_id IS NULL", (photo_id, tag))
            return
        if state not in STATES:
            raise ValueError(f"a decision is one of {', '.join(STATES)}")
        db.execute(
            "INSERT INTO decisions(photo_id, tag, state, model, batch_id, decided_at) VALUES (?, ?, ?, ?, NULL, ?)"
            " ON CONFLICT(photo_id, tag) DO UPDATE SET state = excluded.state, model = excluded.model,"
            " batch_id = NULL, decided_at = excluded.decided_at",
            (photo_id, tag, state, model, time.time()),
        )


def open_decisions(index: Index) -> dict[int, dict[str, str]]:
    """The decisions still to act on: photo id -> tag -> accept | reject (accepts not written yet, every reject)."""
    found: dict[int, dict[str, str]] = {}
    for photo_id, tag, state in index.connection.execute(
        "SELECT photo_id, tag, state FROM decisions WHERE batch_id IS NULL ORDER BY decided_at, rowid"
    ):
        found.setdefault(photo_id, {})[tag] = state
    return found


def models(index: Index) -> dict[tuple[int, str], Optional[str]]:
    """Which model suggested each pending accepted tag (None: typed)."""
    return {
        (photo_id, tag): model
        for photo_id, tag, model in index.connection.execute(
            "SELECT photo_id, tag, model FROM decisions WHERE batch_id IS NULL AND state = 'accept'"
        )
    }


def mark_written(index: Index, photo_id: int, tags: Iterable[str], batch_id: Optional[int]) -> None:
    """The accepted `tags` of the photo are in its sidecar now (written by `batch_id`; None: they were there
    already)."""
    with index.write() as db:
        db.executemany(
            "UPDATE decisions SET batch_id = ? WHERE photo_id = ? AND tag = ? AND state = 'accept'",
            [(batch_id if batch_id is not None else 0, photo_id, tag) for tag in tags],
        )


def reopen(index: Index, batch_id: int) -> int:
    """The tags written by `batch_id` (which was undone) are pending again; how many."""
    with index.write() as db:
        return db.execute("UPDATE decisions SET batch_id = NULL WHERE batch_id = ?", (batch_id,)).rowcount


def unwritten(index: Index) -> Unwritten:
    tags, photos = index.connection.execute(
        "SELECT COUNT(*), COUNT(DISTINCT photo_id) FROM decisions WHERE batch_id IS NULL AND state = 'accept'"
    ).fetchone()
    return Unwritten(tags, photos)
