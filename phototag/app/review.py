"""Use case: the suggestions `phototag review` goes through, photo by photo.

They are computed now by a suggest session (so review ranks exactly as `phototag suggest`
does with the same options) or read from a saved suggest file; what the person accepts
is written with phototag.app.write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

from phototag.app.suggest import SuggestOptions, SuggestSession
from phototag.app.write import Entry, writable
from phototag.library.index import Index
from phototag.reporting import Reporter
from phototag.tag_identity import tag_key


def live_entries(index: Index, options: SuggestOptions, reporter: Reporter) -> list[Entry]:
    """One entry per target photo, ranked by a suggest session with `options`.

    Raises what SuggestSession.load raises (NoPersonalModel, WeightsError)."""
    return [entry for chunk in live_entry_chunks(index, options, reporter) for entry in chunk]


def live_entry_chunks(index: Index, options: SuggestOptions, reporter: Reporter) -> Iterator[list[Entry]]:
    """The entries of `live_entries`, one list per chunk as the session ranks them (the web review
    shows the first ones while the rest are computed)."""
    session = SuggestSession(index, options, reporter)
    if not session.targets:
        return
    session.load()
    for results in session.results():
        yield [
            Entry(r.photo.path, r.photo.display_path, [s.as_dict() for s in r.suggestions], list(r.present), session.model_id)
            for r in results
        ]


def pending(entry: Entry, min_score: float) -> Entry:
    """The entry with suggestions already on the photo, or scored below min_score, left out."""
    present = {tag_key(t) for t in entry.present}
    kept = [
        s
        for s in entry.suggestions
        if tag_key(s["tag"]) not in present
        and tag_key(s["tag"].split("|")[-1]) not in present
        and not (isinstance(s.get("score"), (int, float)) and s["score"] < min_score)
    ]
    return Entry(entry.photo, entry.shown, kept, entry.present, entry.model)


def to_review(library: Path, entries: Sequence[Entry], min_score: float, reporter: Reporter) -> list[Entry]:
    """The entries worth asking about: photos of the library that exist, with new suggestions above min_score."""
    todo = []
    for entry in entries:
        if writable(library, entry.photo, reporter, "not shown"):
            entry = pending(entry, min_score)
            if entry.suggestions:
                todo.append(entry)
    return todo
