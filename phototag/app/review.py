"""Use case: the suggestions `phototag review` goes through, photo by photo.

They are computed now by a suggest session (so review ranks exactly as `phototag suggest`
does with the same options) or read from a saved suggest file; what the person accepts
is written with phototag.app.write. Each answer is kept in the index as a decision
(phototag.library.decisions) before it is written, as the web review keeps its decisions;
`write_kept` writes the accepted tags a review kept but did not write (`phototag apply -l DIR`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from phototag.app.suggest import SuggestOptions, SuggestSession
from phototag.app.vocabulary import Vocabulary
from phototag.app.write import Entry, writable
from phototag.library import decisions as store
from phototag.library.history import TagHistory
from phototag.library.index import Index, PhotoRow
from phototag.library.sidecar import SidecarWriter
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
            Entry(
                r.photo.path,
                r.photo.display_path,
                [s.as_dict() for s in r.suggestions],
                list(r.present),
                session.model_id,
            )
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


@dataclass
class Decider:
    """The terminal review's decisions: kept in the index as each answer is given, then marked written.

    `dry_run`: nothing is kept (a dry run changes nothing, the index's decisions included)."""

    index: Index
    dry_run: bool = False

    def __post_init__(self) -> None:
        photos = [p for p in self.index.photos() if p.status == "ok"]
        self.vocabulary = Vocabulary(TagHistory(photos))
        self.photos = {os.path.normpath(os.fspath(p.path)): p for p in photos}
        self.open = store.open_decisions(self.index)

    def photo_id(self, entry: Entry) -> Optional[int]:
        photo = self.photos.get(os.path.normpath(os.fspath(entry.photo)))
        return photo.id if photo is not None else None

    def unrejected(self, entry: Entry) -> Entry:
        """The entry without the suggestions rejected in an earlier review; the photo's tags as they are
        now count as present (a saved suggest file may be older than the last review's writes)."""
        photo = self.photos.get(os.path.normpath(os.fspath(entry.photo)))
        if photo is None:
            return entry
        decided = self.open.get(photo.id, {})
        kept = [s for s in entry.suggestions if decided.get(s["tag"]) != store.REJECT]
        present = list(dict.fromkeys(entry.present + self.vocabulary.history.photo_tags(photo)))
        return Entry(entry.photo, entry.shown, kept, present, entry.model)

    def answer(self, entry: Entry, picked: list[str], typed: list[str]) -> list[str]:
        """Keep one answer: the picked suggestions and the typed tags (in the owner's vocabulary) accepted,
        the other suggestions rejected; returns the tags to write."""
        tags = list(dict.fromkeys(picked + [self.vocabulary.written_form(t) for t in typed if t.strip()]))
        photo_id = self.photo_id(entry)
        if photo_id is not None and not self.dry_run:
            for tag in tags:
                store.decide(self.index, photo_id, tag, store.ACCEPT, entry.model if tag in picked else None)
            for tag in entry.tags:
                if tag not in tags:
                    store.decide(self.index, photo_id, tag, store.REJECT, entry.model)
        return tags

    def written(self, entry: Entry, tags: list[str], batch_id: Optional[int]) -> None:
        photo_id = self.photo_id(entry)
        if photo_id is not None and not self.dry_run:
            store.mark_written(self.index, photo_id, tags, batch_id)


def write_kept(writer: SidecarWriter, index: Index, advance: Callable[[int], None] = lambda n: None) -> int:
    """Write the accepted tags reviews kept and did not write yet (in the owner's vocabulary); how many photos."""
    photos: dict[int, PhotoRow] = {p.id: p for p in index.photos() if p.status == "ok"}
    vocabulary = Vocabulary(TagHistory(list(photos.values())))
    models = store.models(index)
    done = 0
    for photo_id, decided in store.open_decisions(index).items():
        advance(1)
        accepted = [tag for tag, state in decided.items() if state == store.ACCEPT]
        if not accepted or photo_id not in photos:
            continue
        model = next((models[(photo_id, t)] for t in accepted if models.get((photo_id, t))), None)
        tags = list(dict.fromkeys(vocabulary.written_form(t) for t in accepted))
        result = writer.add_tags(photos[photo_id].path, tags, model=model)
        if not result.skipped and not writer.dry_run:
            store.mark_written(index, photo_id, accepted, writer.batch_id)
            done += 1
    return done
