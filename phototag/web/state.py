"""What the web review knows and does: the library's photos, their suggestions, the person's
decisions, and writing them (no HTTP here; phototag.web.server serves it).

Photos are known by their index id only. Suggestions arrive from a suggest session running
in the background (phototag.web.suggestions) or from a saved suggest file; decisions
(accept, reject, typed tags) are kept in the index as they are made (phototag.library.decisions;
not with --dry-run), so Ctrl-C, a crash or a restart loses none, until "Write" sends them through
the same journaled sidecar writer as `suggest --write` and `apply`; "Undo" reverts the last write
of this review and makes its tags pending again. Typed tags are mapped onto the owner's vocabulary
by phototag.app.vocabulary, as in the terminal review and `apply`.

SQLite connections belong to the thread that opened them, so every use of the index goes
through one `IndexWorker` thread.
"""

from __future__ import annotations

import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from phototag.app.review import pending
from phototag.app.scan import scan
from phototag.app.suggest import SuggestOptions
from phototag.app.vocabulary import Vocabulary, tag_key
from phototag.app.write import Entry, open_writer, summary, undo_last_write
from phototag.library import decisions as store
from phototag.library.history import HIERARCHY_SEPARATOR, TagHistory, clean
from phototag.library.index import Index, PhotoRow
from phototag.library.sidecar import last_batch
from phototag.reporting import CollectingReporter, Reporter, display_path
from phototag.web.thumbs import cache_key

PAGE_SIZE = 200
ACTIONS = ("accept", "reject", "clear")


class IndexWorker:
    """One thread that owns the review's connection to the index; `call(fn)` runs fn(index) there."""

    def __init__(self, db_path: Path, root: Path):
        self.root = Path(root).resolve()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="phototag-index")
        self._index = self._pool.submit(Index, db_path, root).result()

    def call(self, fn: Callable, *args):
        return self._pool.submit(fn, self._index, *args).result()

    def close(self) -> None:
        self.call(lambda index: index.close())
        self._pool.shutdown()


@dataclass(frozen=True)
class WriteSettings:
    """How accepted tags are written (the review command's own options)."""

    style: str = "darktable"
    dry_run: bool = False
    replace_links: bool = False


@dataclass
class SuggestStatus:
    """Where the background suggestions are, for the page's status line."""

    state: str = "starting"  # starting | working | done | failed | stopped (the review is closing)
    task: str = ""  # the step under way: "Scanning", "Suggesting (cpu)"
    done: int = 0
    total: Optional[int] = None
    message: str = ""
    version: int = 0  # grows each time suggestions arrive: the page reloads its cards


@dataclass(frozen=True)
class Filters:
    untagged: bool = False
    folder: Optional[str] = None  # exact folder (as the index stores it; "" is the library root)
    tag: Optional[str] = None  # photos that have this tag (its last hierarchy level)
    text: str = ""  # part of the path, any case
    suggested: bool = False  # photos with suggestions not yet decided
    since: str = ""  # taken on or after this day (YYYY-MM-DD); photos without a date are left out
    until: str = ""  # taken on or before this day

    @classmethod
    def from_query(cls, query) -> "Filters":
        def flag(name: str) -> bool:
            return query.get(name, "") in ("1", "true", "on")

        folder = query.get("folder")
        return cls(
            flag("untagged"),
            folder if folder is not None and folder != "*" else None,
            query.get("tag") or None,
            query.get("q", ""),
            flag("suggested"),
            query.get("since", "")[:10],
            query.get("until", "")[:10],
        )


@dataclass
class ReviewState:
    """The review of one library (thread-safe: the server calls it from several threads)."""

    worker: IndexWorker
    options: SuggestOptions
    settings: WriteSettings = field(default_factory=WriteSettings)
    reporter: Reporter = field(default_factory=CollectingReporter)
    status: SuggestStatus = field(default_factory=SuggestStatus)

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.photos: dict[int, PhotoRow] = {}  # id -> photo, in path order
        self.history = TagHistory([])
        self.vocabulary = Vocabulary(self.history)
        self.entries: dict[str, Entry] = {}  # photo path -> suggestions
        self.decisions: dict[int, dict[str, str]] = {}  # id -> tag -> accept | reject
        self.batches: set[int] = set()  # write batches of this review (Undo reverts only those)

    # ------------------------------------------------------------ loading
    def reload(self, reporter: Optional[Reporter] = None) -> None:
        """Scan the library (only what changed) and take its photos and tags from the index."""
        photos = self.worker.call(self._scan_and_read, reporter or CollectingReporter())
        history = TagHistory.from_photos(photos)
        with self.lock:
            self.photos = {p.id: p for p in photos}
            self.history = history
            self.vocabulary = Vocabulary(history)
            if not self.settings.dry_run:  # (a dry run keeps its decisions in memory only)
                # read under the lock: `decide` holds it while it stores one, so none is missed
                self.decisions = self.worker.call(store.open_decisions)

    def _scan_and_read(self, index: Index, reporter: Reporter) -> list[PhotoRow]:
        scan(index, reporter, follow_links=self.options.follow_links)
        return [p for p in index.photos() if p.status == "ok"]

    def add_entries(self, entries: Iterable[Entry]) -> None:
        with self.lock:
            for entry in entries:
                self.entries[_key(entry.photo)] = entry
            self.status.version += 1

    def photo(self, photo_id: int) -> Optional[PhotoRow]:
        with self.lock:
            return self.photos.get(photo_id)

    # ------------------------------------------------------------ reading
    def info(self) -> dict:
        """What the page needs once: the vocabulary (hierarchies as paths), folders, defaults."""
        with self.lock:
            history, photos = self.history, list(self.photos.values())
        vocabulary = [{"tag": history.written_form(key), "count": history.counts[key]} for key in history.keys()]
        folders: dict[str, int] = {}
        for photo in photos:
            folders[photo.folder] = folders.get(photo.folder, 0) + 1
        return {
            "root": display_path(self.worker.root),
            "photos": len(photos),
            "vocabulary": vocabulary,
            "folders": [{"folder": name, "count": count} for name, count in sorted(folders.items())],
            "untagged_default": self.options.only_untagged,
            "page_size": PAGE_SIZE,
            "dry_run": self.settings.dry_run,
        }

    def page(self, filters: Filters, number: int, size: int = PAGE_SIZE) -> dict:
        """One page of cards (1-based `number`) of the photos that pass `filters`."""
        with self.lock:
            chosen = [p for p in self.photos.values() if self._passes(p, filters)]
            pages = max(1, -(-len(chosen) // size))
            number = min(max(1, number), pages)
            cards = [self._card(p) for p in chosen[(number - 1) * size : number * size]]
            return {"total": len(chosen), "page": number, "pages": pages, "cards": cards, "status": self._status()}

    def cards(self, ids: Iterable[int]) -> list[dict]:
        with self.lock:
            return [self._card(self.photos[i]) for i in ids if i in self.photos]

    def status_json(self) -> dict:
        with self.lock:
            return self._status()

    def _status(self) -> dict:
        status = self.status
        accepted = [sum(1 for state in tags.values() if state == "accept") for tags in self.decisions.values()]
        return {
            "state": status.state,
            "task": status.task,
            "done": status.done,
            "total": status.total,
            "message": status.message,
            "version": status.version,
            "to_write": sum(1 for n in accepted if n),
            "tags_to_write": sum(accepted),  # photos, tags not yet written
        }

    def _passes(self, photo: PhotoRow, filters: Filters) -> bool:
        keys = self.history.photo_keys(photo)
        if filters.untagged and keys:
            return False
        if filters.folder is not None and photo.folder != filters.folder:
            return False
        if filters.tag and tag_key(filters.tag.split(HIERARCHY_SEPARATOR)[-1]) not in keys:
            return False
        if filters.text and filters.text.casefold() not in photo.display_path.casefold():
            return False
        if filters.since or filters.until:
            day = (photo.taken or "")[:10]  # local ISO time: its first 10 characters are the day
            if not day or (filters.since and day < filters.since) or (filters.until and day > filters.until):
                return False
        return not filters.suggested or any(s["state"] is None for s in self._suggestions(photo))

    def _present(self, photo: PhotoRow) -> list[str]:
        """The photo's tags, hierarchical ones as their paths."""
        tags = self.history.tags.get(photo.id)
        if tags is None:
            return []
        return [
            HIERARCHY_SEPARATOR.join(tags.paths[key]) if key in tags.paths else spelling
            for key, spelling in zip(tags.keys, tags.spellings)
        ]

    def _suggestions(self, photo: PhotoRow) -> list[dict]:
        """The photo's suggestions not on it yet, with the person's decision on each."""
        entry = self.entries.get(_key(photo.path))
        if entry is None:
            return []
        present = self._present(photo) + self.history.photo_tags(photo)
        kept = pending(Entry(entry.photo, entry.shown, entry.suggestions, present, entry.model), self.options.min_score)
        decided = self.decisions.get(photo.id, {})
        return [{**s, "state": decided.get(s["tag"])} for s in kept.suggestions]

    def _card(self, photo: PhotoRow) -> dict:
        suggestions = self._suggestions(photo)
        offered = {s["tag"] for s in suggestions}
        added = [t for t, state in self.decisions.get(photo.id, {}).items() if state == "accept" and t not in offered]
        return {
            "id": photo.id,
            "name": photo.display_path.rsplit("/", 1)[-1],
            "path": photo.display_path,
            "folder": photo.folder,
            "taken": photo.taken,
            "present": self._present(photo),
            "suggestions": suggestions,
            "added": added,
            "suggested": _key(photo.path) in self.entries,
            "thumb": f"/thumb/{photo.id}?v={cache_key(photo)}",  # a new URL when the photo changes
        }

    # ------------------------------------------------------------ deciding
    def decide(self, ids: Iterable[int], tag: str, action: str) -> list[dict]:
        """Accept, reject or clear `tag` on each photo of `ids`; returns their cards.

        A tag a photo was offered takes that suggestion's spelling; any other is mapped onto the
        owner's vocabulary (phototag.app.vocabulary: case, hierarchy path, close spellings).
        Each decision is in the index before this returns (not with --dry-run)."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        tag = clean(tag)
        if not tag:
            raise ValueError("empty tag")
        with self.lock:
            ids = [i for i in dict.fromkeys(ids) if i in self.photos]
            for photo_id in ids:
                self._decide_one(self.photos[photo_id], tag, action)
            return [self._card(self.photos[i]) for i in ids]

    def _offered(self, photo: PhotoRow, tag: str) -> Optional[dict]:
        """The photo's suggestion that is `tag` (the same tag, or the same last hierarchy level)."""
        leaf = tag_key(tag.split(HIERARCHY_SEPARATOR)[-1])
        for suggestion in self._suggestions(photo):
            offered = suggestion["tag"]
            if tag_key(offered) == tag_key(tag) or tag_key(offered.split(HIERARCHY_SEPARATOR)[-1]) == leaf:
                return suggestion
        return None

    def _decide_one(self, photo: PhotoRow, tag: str, action: str) -> None:
        suggestion = self._offered(photo, tag) or self._offered(photo, self.vocabulary.written_form(tag))
        if suggestion is not None:
            tag = suggestion["tag"]
        else:
            tag = self.vocabulary.written_form(tag)
            if tag_key(tag.split(HIERARCHY_SEPARATOR)[-1]) in self.history.photo_keys(photo):
                return  # the photo has it already
        decided = self.decisions.setdefault(photo.id, {})
        if action == "clear":
            decided.pop(tag, None)
        else:
            decided[tag] = action
        if not self.settings.dry_run:
            entry = self.entries.get(_key(photo.path)) if suggestion is not None else None
            model = entry.model if entry is not None else None
            self.worker.call(store.decide, photo.id, tag, None if action == "clear" else action, model)

    # ------------------------------------------------------------ writing
    def write(self) -> dict:
        """Write every accepted tag (one journaled batch), then rescan; returns what changed."""
        with self.lock:
            plan = []
            for photo_id, decided in self.decisions.items():
                tags = [t for t, state in decided.items() if state == "accept"]
                if tags and photo_id in self.photos:
                    photo = self.photos[photo_id]
                    entry = self.entries.get(_key(photo.path))
                    model = entry.model if entry is not None and set(tags) & set(entry.tags) else None
                    plan.append((photo, tags, model))
        if not plan:
            return {"summary": "nothing accepted yet", "changes": [], "diff": ""}
        report = self.worker.call(self._write, plan)
        if not self.settings.dry_run:
            self.reload()  # the photos' new tags, and the decisions still open
        return report

    def _write(self, index: Index, plan: list[tuple[PhotoRow, list[str], Optional[str]]]) -> dict:
        diff = io.StringIO()
        changes = []
        settings = self.settings
        with open_writer(
            index,
            "review",
            self.reporter,
            settings.style,
            settings.dry_run,
            diff_out=diff,
            follow_links=self.options.follow_links,
            replace_links=settings.replace_links,
        ) as writer:
            for photo, tags, model in plan:
                written = list(dict.fromkeys(self.vocabulary.written_form(t) for t in tags))
                result = writer.add_tags(photo.path, written, model=model)
                changes.append(
                    {
                        "id": photo.id,
                        "path": photo.display_path,
                        "tags": written,
                        "added": result.added,
                        "sidecars": [display_path(s.name) for s in result.sidecars],
                        "created": [display_path(s.name) for s in result.created],
                        "skipped": result.skipped,
                        "decided": tags,
                    }
                )
        if writer.batch_id is not None:
            self.batches.add(writer.batch_id)
        if not settings.dry_run:
            for change in changes:
                if not change["skipped"]:  # written (or there already): the decision is done
                    store.mark_written(index, change["id"], change.pop("decided"), writer.batch_id)
        for change in changes:
            change.pop("decided", None)
        return {"summary": summary(writer.stats, settings.dry_run), "changes": changes, "diff": diff.getvalue()}

    def undo(self) -> dict:
        """Revert the last write of this review (not a write of another command); then rescan."""
        report = self.worker.call(self._undo)
        if report.get("undone"):
            self.reload()
        return report

    def _undo(self, index: Index) -> dict:
        batch = last_batch(index)
        if batch is None or batch[0] not in self.batches:
            message = "nothing of this review to undo"
            if batch is not None:
                message += f" (the last write was `phototag {batch[1]}`: `phototag undo` reverts it)"
            return {"undone": False, "summary": message}
        result = undo_last_write(index, self.reporter)
        self.batches.discard(batch[0])
        store.reopen(index, batch[0])  # its tags are pending again: Write puts them back
        names = [display_path(os.path.relpath(p, index.root)) for p in result.restored + result.deleted]
        kept = [f"{display_path(os.path.relpath(p, index.root))}: {reason}" for p, reason in result.kept]
        return {
            "undone": True,
            "restored": names,
            "kept": kept,
            "summary": f"undone: {len(result.restored)} sidecar(s) restored, {len(result.deleted)} removed"
            + (f", {len(kept)} kept (changed since)" if kept else ""),
        }


def _key(path: Path) -> str:
    return os.path.normpath(os.fspath(path))
