"""A person's tag history: vocabulary, counts, owners and the paper's history vectors.

Normalisation: a tag's key is `phototag.tag_identity.tag_key` (NFC, trimmed, inner
whitespace collapsed to one space, case-folded). Spellings that share a key are one tag; the tag is
shown in the spelling its owner used most (ties: alphabetical).

Precedence when sources disagree (the *effective* keywords of a photo):
  1. An XMP sidecar that holds any keyword field wins outright; keywords
     embedded in the image are ignored. This is what darktable, digiKam (with
     sidecars enabled) and PhotoPrism do: the sidecar is what the person edits.
  2. Otherwise, embedded XMP wins over IPTC-IIM when it has keywords (the
     Metadata Working Group rule; on the exiftool corpus this reproduces
     exiftool's MWG:Keywords except for IPTC stored in an AFCP trailer, which
     exiftool's MWG module ignores and we keep, because the person put it there).
  3. Otherwise IPTC Keywords, then EXIF XPKeywords (Windows Explorer).
Within the winning source, flat keywords (dc:subject / IPTC / XPKeywords) are
united with the leaves of hierarchical keywords (lr:hierarchicalSubject,
digiKam:TagsList, ...): the leaf `Cat` of `Animals|Cat` is the flat tag `Cat`,
and `Animals|Cat` is remembered as its hierarchy so suggestions are written back
with their path.

History vectors (paper, section IV): u_h[i] = (photos of the owner tagged i) /
(count of the owner's most used tag), optionally leaving one photo out so a
photo's own tags never feed its own history.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import numpy as np

from phototag.library.index import PhotoRow
from phototag.library.keywords import Keyword
from phototag.tag_identity import tag_key, tag_text

OWNER_MODES = ("library", "creator", "folder")
LIBRARY_OWNER = "me"
UNKNOWN_OWNER = "(unknown)"
ROOT_FOLDER_OWNER = "(root)"
HIERARCHY_SEPARATOR = "|"  # how phototag writes and shows hierarchy paths (Lightroom's)


# The key of a tag and the display form of a spelling: the one tag identity (phototag.tag_identity).
normalise = tag_key
clean = tag_text


def effective_keywords(keywords: Sequence[Keyword]) -> list[Keyword]:
    """The keywords that count for the history, after the precedence rule above."""
    sidecar = [k for k in keywords if k.source == "xmp-sidecar"]
    if sidecar:
        return sidecar
    for source in ("xmp", "iptc", "exif"):
        chosen = [k for k in keywords if k.source == source]
        if chosen:
            return chosen
    return []


@dataclass
class PhotoTags:
    keys: list[str]  # normalised tag keys, in first-seen order
    spellings: list[str]  # matching display spellings as written on this photo
    paths: dict[str, tuple[str, ...]] = field(default_factory=dict)  # key -> hierarchy path


# Tags editors add for their own bookkeeping, not the person's words (darktable|format|jpg, darktable|changed…).
APP_TAG_ROOTS = frozenset({"darktable"})


def photo_tags_of(keywords: Sequence[Keyword]) -> PhotoTags:
    """Effective flat tags of one photo (leaves of hierarchies included), de-duplicated."""
    result = PhotoTags([], [])
    seen: set[str] = set()  # a set beside the list: a photo may carry thousands of keywords
    for keyword in effective_keywords(keywords):
        path = tuple(clean(part) for part in keyword.path if clean(part))
        if not path or normalise(keyword.text.split("|", 1)[0]) in APP_TAG_ROOTS and "|" in keyword.text:
            continue
        leaf = path[-1]
        key = normalise(leaf)
        if key not in seen:
            seen.add(key)
            result.keys.append(key)
            result.spellings.append(leaf)
        if keyword.is_hierarchical and len(path) > 1:
            result.paths.setdefault(key, path)
    return result


class TagHistory:
    """Vocabulary and per-owner counts of a set of photos (usually a whole library)."""

    def __init__(self, photos: Sequence[PhotoRow], owner_from: str = "library"):
        if owner_from not in OWNER_MODES:
            raise ValueError(f"owner_from must be one of {', '.join(OWNER_MODES)}")
        self.owner_from = owner_from
        self.photos = list(photos)
        self.tags: dict[int, PhotoTags] = {}
        self.owners: dict[int, str] = {}
        self.counts: Counter[str] = Counter()
        self.owner_counts: dict[str, Counter[str]] = defaultdict(Counter)
        self.folder_counts: dict[str, Counter[str]] = defaultdict(Counter)
        spelling_counts: dict[str, Counter[str]] = defaultdict(Counter)
        path_counts: dict[str, Counter[tuple[str, ...]]] = defaultdict(Counter)
        for photo in self.photos:
            tags = photo_tags_of(photo.keywords)
            owner = self._owner(photo)
            self.tags[photo.id] = tags
            self.owners[photo.id] = owner
            self.counts.update(tags.keys)
            self.owner_counts[owner].update(tags.keys)
            self.folder_counts[photo.folder].update(tags.keys)
            for key, spelling in zip(tags.keys, tags.spellings):
                spelling_counts[key][spelling] += 1
            for key, path in tags.paths.items():
                path_counts[key][path] += 1
        self.display: dict[str, str] = {
            key: sorted(spellings.items(), key=lambda item: (-item[1], item[0]))[0][0]
            for key, spellings in spelling_counts.items()
        }
        self.paths: dict[str, tuple[str, ...]] = {
            key: sorted(paths.items(), key=lambda item: (-item[1], item[0]))[0][0] for key, paths in path_counts.items()
        }

    @classmethod
    def from_photos(cls, photos: Sequence[PhotoRow], owner_from: str = "library") -> "TagHistory":
        return cls(photos, owner_from)

    def __getstate__(self) -> dict:
        """A copy (pickle: suggest --ray sends one to each ranking actor) keeps the tagged photos only: what the
        history says of an untagged photo (no tags, its owner) `photo_keys` and `owner_of` read from the photo
        itself, the same answers; an archive of millions of untagged photos would otherwise travel whole."""
        tagged = {p.id for p in self.tagged_photos()}
        state = dict(self.__dict__)
        state["photos"] = [p for p in self.photos if p.id in tagged]
        state["tags"] = {i: tags for i, tags in self.tags.items() if i in tagged}
        state["owners"] = {i: owner for i, owner in self.owners.items() if i in tagged}
        return state

    # ------------------------------------------------------------- owners
    def _owner(self, photo: PhotoRow) -> str:
        if self.owner_from == "creator":
            return clean(photo.creator) if photo.creator and clean(photo.creator) else UNKNOWN_OWNER
        if self.owner_from == "folder":
            parts = photo.display_path.split(os.sep, 1)
            return parts[0] if len(parts) > 1 else ROOT_FOLDER_OWNER
        return LIBRARY_OWNER

    def owner_of(self, photo: PhotoRow) -> str:
        return self.owners.get(photo.id) or self._owner(photo)

    def owner_names(self) -> list[str]:
        return sorted(self.owner_counts, key=lambda o: (-sum(self.owner_counts[o].values()), o))

    # --------------------------------------------------------- vocabulary
    def keys(self, min_count: int = 1, owner: Optional[str] = None) -> list[str]:
        """Tag keys, most used first (ties alphabetical by display spelling)."""
        counts = self.counts if owner is None else self.owner_counts.get(owner, Counter())
        chosen = [key for key, count in counts.items() if count >= min_count]
        return sorted(chosen, key=lambda key: (-counts[key], self.display[key].casefold(), key))

    @property
    def vocabulary(self) -> list[str]:
        return [self.display[key] for key in self.keys()]

    def display_of(self, tag: str) -> str:
        return self.display.get(normalise(tag), clean(tag))

    def hierarchy_of(self, tag: str) -> Optional[tuple[str, ...]]:
        return self.paths.get(normalise(tag))

    def written_form(self, tag: str) -> str:
        """The tag as phototag writes it back: its hierarchy path when it has one."""
        path = self.hierarchy_of(tag)
        return HIERARCHY_SEPARATOR.join(path) if path else self.display_of(tag)

    def photo_keys(self, photo: PhotoRow) -> list[str]:
        tags = self.tags.get(photo.id)
        return list(tags.keys) if tags is not None else photo_tags_of(photo.keywords).keys

    def photo_tags(self, photo: PhotoRow) -> list[str]:
        return [self.display.get(key, key) for key in self.photo_keys(photo)]

    def tagged_photos(self) -> list[PhotoRow]:
        return [p for p in self.photos if self.tags.get(p.id) and self.tags[p.id].keys]

    # ------------------------------------------------------- the vectors
    def _vector(self, counts: Counter[str], vocabulary: Sequence[str], exclude: Optional[PhotoRow]) -> np.ndarray:
        keys = [normalise(tag) for tag in vocabulary]
        left_out = set(self.photo_keys(exclude)) if exclude is not None else set()
        values = np.array([counts.get(k, 0) - (1 if k in left_out else 0) for k in keys], dtype=np.float32)
        values = np.clip(values, 0, None)
        peak = values.max() if values.size else 0.0
        return values / peak if peak > 0 else values

    def history_vector(self, owner: str, vocabulary: Sequence[str], exclude: Optional[PhotoRow] = None) -> np.ndarray:
        """The owner's u_h over `vocabulary`: tag counts divided by the owner's maximum count.

        With `exclude`, that photo's own tags are taken out first (leave-one-out),
        so a training photo never sees its own answer in its history.
        """
        return self._vector(self.owner_counts.get(owner, Counter()), vocabulary, exclude)

    def folder_vector(self, folder: str, vocabulary: Sequence[str], exclude: Optional[PhotoRow] = None) -> np.ndarray:
        """History of one folder (an event, in a one-person library), leave-one-out as above."""
        return self._vector(self.folder_counts.get(folder, Counter()), vocabulary, exclude)

    def vector_for(
        self, photo: PhotoRow, vocabulary: Sequence[str], mode: str = "owner", exclude_self: bool = True
    ) -> np.ndarray:
        """u_h for `photo` under `--history owner|folder|none`."""
        exclude = photo if exclude_self else None
        if mode == "owner":
            return self.history_vector(self.owner_of(photo), vocabulary, exclude)
        if mode == "folder":
            return self.folder_vector(photo.folder, vocabulary, exclude)
        if mode == "none":
            return np.zeros(len(vocabulary), dtype=np.float32)
        raise ValueError("history mode must be owner, folder or none")


def summarise(history: TagHistory, owner: Optional[str] = None, min_count: int = 1) -> list[dict]:
    """Rows for `phototag tags`: tag, count, share of tagged photos, hierarchy path."""
    if owner is None:
        tagged = len(history.tagged_photos())
    else:
        tagged = sum(1 for p in history.tagged_photos() if history.owner_of(p) == owner)
    counts = history.counts if owner is None else history.owner_counts.get(owner, Counter())
    rows = []
    for key in history.keys(min_count=min_count, owner=owner):
        path = history.paths.get(key)
        rows.append(
            {
                "tag": history.display[key],
                "count": counts[key],
                "share": round(counts[key] / tagged, 4) if tagged else 0.0,
                "hierarchy": HIERARCHY_SEPARATOR.join(path) if path else None,
            }
        )
    return rows


def iter_keys(tags: Iterable[str]) -> set[str]:
    return {normalise(t) for t in tags if normalise(t)}
