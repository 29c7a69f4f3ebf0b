"""The write journal in the index: what each sidecar write batch changed, for undo.

`write_batches` has one row per command run that wrote; `write_journal` one row per sidecar
write, with the bytes before (`previous`, NULL for a file phototag created) and after
(`written`). The writer (`phototag.library.sidecar`) records a row before each rename; undo
reads them back.

Size: each row holds two full copies of a sidecar, so the journal is bounded: at the end of
every write batch the oldest batches are dropped beyond the newest KEEP_BATCHES or beyond
BUDGET_BYTES of journaled content (the newest batch is always kept, whatever its size, and so
is one another process is still writing). What is dropped can no longer be undone;
`undoable_batches` is what still can.

Two writers at once: rows of different batches can interleave on one sidecar. `SidecarRows`
tells undo who wrote a sidecar after a row (so a later run's tags are kept, not clobbered),
and which earlier row an already undone batch had to leave because of that later write (so
undoing the later batch also finishes that one, and undoing every batch ends byte for byte
where the sidecars started).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from phototag.library.index import Index

KEEP_BATCHES = 20
BUDGET_BYTES = 256 * 1024 * 1024
STALE_S = 24 * 3600  # an unfinished batch not written to for this long is a killed run's


@dataclass
class JournalRow:
    id: int
    batch_id: int
    path: Path
    previous: Optional[bytes]
    written: bytes
    replaced_link: Optional[str]  # "dev:ino" of the hard-linked file a --replace-links write split off


@dataclass
class BatchInfo:
    id: int
    command: str
    started_at: float
    sidecars: int
    bytes: int  # journaled content (before and after copies)


def start_batch(index: Index, command: str) -> int:
    with index.write() as db:
        cur = db.execute("INSERT INTO write_batches(command, started_at) VALUES (?, ?)", (command, time.time()))
        return cur.lastrowid


def finish_batch(index: Index, batch_id: int) -> None:
    with index.write() as db:
        db.execute("UPDATE write_batches SET finished_at = ? WHERE id = ?", (time.time(), batch_id))


def record(
    index: Index,
    batch_id: int,
    path: Path,
    previous: Optional[bytes],
    written: bytes,
    tags: str,
    model: Optional[str],
    replaced_link: Optional[str] = None,
) -> int:
    """Journal one sidecar write (before its rename); returns the row id."""
    with index.write() as db:
        return db.execute(
            "INSERT INTO write_journal(batch_id, sidecar, previous, written, tags, model, written_at, replaced_link)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (batch_id, os.fsencode(path), previous, written, tags, model, time.time(), replaced_link),
        ).lastrowid


def forget(index: Index, row_id: int) -> None:
    """Drop a row whose rename did not happen."""
    with index.write() as db:
        db.execute("DELETE FROM write_journal WHERE id = ?", (row_id,))


def mark_undone(index: Index, batch_id: int) -> None:
    with index.write() as db:
        db.execute("UPDATE write_batches SET undone_at = ? WHERE id = ?", (time.time(), batch_id))


def _batch_infos(index: Index, where: str = "") -> list[BatchInfo]:
    rows = index.connection.execute(
        "SELECT b.id, b.command, b.started_at, COUNT(DISTINCT j.sidecar),"
        " COALESCE(SUM(LENGTH(j.previous)), 0) + COALESCE(SUM(LENGTH(j.written)), 0)"
        f" FROM write_batches b JOIN write_journal j ON j.batch_id = b.id {where}"
        " GROUP BY b.id ORDER BY b.id DESC"
    ).fetchall()
    return [BatchInfo(*row) for row in rows]


def undoable_batches(index: Index) -> list[BatchInfo]:
    """The batches `undo` can still revert, newest first (the first is what `undo` reverts next)."""
    return _batch_infos(index, "WHERE b.undone_at IS NULL")


def last_batch(index: Index) -> Optional[tuple[int, str, float]]:
    batches = undoable_batches(index)
    return (batches[0].id, batches[0].command, batches[0].started_at) if batches else None


def prune(index: Index, keep_batches: int = KEEP_BATCHES, budget_bytes: int = BUDGET_BYTES) -> list[int]:
    """Drop the oldest batches beyond the newest `keep_batches` or `budget_bytes`; returns the ids dropped.

    A batch another process is still writing (not finished, written to within STALE_S) is left."""
    active = {
        batch_id
        for (batch_id,) in index.connection.execute(
            "SELECT batch_id FROM write_journal JOIN write_batches b ON b.id = batch_id WHERE b.finished_at IS NULL"
            " GROUP BY batch_id HAVING MAX(written_at) > ?",
            (time.time() - STALE_S,),
        )
    }
    total, dropped = 0, []
    for position, batch in enumerate(_batch_infos(index)):
        total += batch.bytes
        if position > 0 and (position >= keep_batches or total > budget_bytes) and batch.id not in active:
            dropped.append(batch.id)
    if dropped:
        marks = ",".join("?" * len(dropped))
        with index.write() as db:
            db.execute(f"DELETE FROM write_journal WHERE batch_id IN ({marks})", dropped)
            db.execute(f"DELETE FROM write_batches WHERE id IN ({marks})", dropped)
    return dropped


def batch_rows(index: Index, batch_id: int) -> list[JournalRow]:
    """A batch's rows, newest write first."""
    rows = index.connection.execute(f"{_ROW_SELECT} WHERE batch_id = ? ORDER BY id DESC", (batch_id,))
    return [_row(r) for r in rows]


_ROW_SELECT = "SELECT id, batch_id, sidecar, previous, written, replaced_link FROM write_journal"


def _row(raw: tuple) -> JournalRow:
    row_id, batch_id, path, previous, written, link = raw
    return JournalRow(
        row_id,
        batch_id,
        Path(os.fsdecode(bytes(path))),
        None if previous is None else bytes(previous),
        bytes(written),
        link,
    )


class SidecarRows:
    """Every journal row of the sidecars one batch wrote, in write order (ids), for undo's checks."""

    def __init__(self, index: Index, batch_id: int):
        self.index = index
        undone = index.connection.execute("SELECT id FROM write_batches WHERE undone_at IS NOT NULL")
        self.undone = {b for (b,) in undone}
        self.order: dict[bytes, list[tuple[int, int]]] = {}  # sidecar -> [(row id, batch id)], oldest first
        query = (
            "SELECT id, batch_id, sidecar FROM write_journal"
            " WHERE sidecar IN (SELECT sidecar FROM write_journal WHERE batch_id = ?) ORDER BY id"
        )
        for row_id, row_batch, path in index.connection.execute(query, (batch_id,)):
            self.order.setdefault(bytes(path), []).append((row_id, row_batch))

    def _neighbours(self, row: JournalRow) -> tuple[list[tuple[int, int]], int]:
        rows = self.order.get(os.fsencode(row.path), [])
        return rows, next(i for i, (row_id, _) in enumerate(rows) if row_id == row.id)

    def later_batch(self, row: JournalRow) -> Optional[tuple[int, str]]:
        """The batch (id, command) not yet undone that wrote this sidecar after `row`, if any."""
        rows, at = self._neighbours(row)
        for _, batch_id in rows[at + 1 :]:
            if batch_id not in self.undone and batch_id != row.batch_id:
                command = self.index.connection.execute("SELECT command FROM write_batches WHERE id = ?", (batch_id,))
                return batch_id, command.fetchone()[0]
        return None

    def left_before(self, row: JournalRow) -> Optional[JournalRow]:
        """The write just before `row` when its batch is undone already and `row` was written over it:
        that undo had to keep this sidecar, so restoring `row` should finish it too."""
        rows, at = self._neighbours(row)
        if at == 0 or rows[at - 1][1] not in self.undone:
            return None
        before = _row(self.index.connection.execute(f"{_ROW_SELECT} WHERE id = ?", (rows[at - 1][0],)).fetchone())
        return before if before.written == row.previous else None
