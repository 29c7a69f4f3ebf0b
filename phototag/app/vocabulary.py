"""How a tag is written: in the owner's vocabulary. The one mapping of the terminal review, the web
review and `apply`, so `flower` typed anywhere becomes `Nature|Flower` where that is how the owner
tags, `HARBOR` becomes `Harbour`, and a new word is written as typed (trimmed).

Tag identity is `tag_key` (today phototag.library.history.normalise: NFC, whitespace, case); swap it
there when the library gets its own tag-identity function.
"""

from __future__ import annotations

import difflib
from typing import Optional

from phototag.library.history import HIERARCHY_SEPARATOR, TagHistory, clean, normalise
from phototag.library.index import Index

# A close spelling counts from this difflib ratio on, for words of MIN_FUZZY letters or more:
# "harbor"/"harbour" 0.92, "colour"/"color" 0.91, "sunsets"/"sunset" 0.92 map; "bat"/"boat" (0.86)
# and "cat"/"car" (0.67) are short words, which must match exactly (or as a plural).
CLOSE_SPELLING = 0.85
MIN_FUZZY = 5


def tag_key(tag: str) -> str:
    """The identity of a tag: spellings with one key are one tag."""
    return normalise(tag)


class Vocabulary:
    """The owner's tags (a TagHistory) and `written_form`, which maps any tag onto them."""

    def __init__(self, history: TagHistory):
        self.history = history
        self._keys = list(history.counts)
        self._paths = {
            HIERARCHY_SEPARATOR.join(tag_key(part) for part in path): HIERARCHY_SEPARATOR.join(path)
            for path in history.paths.values()
        }
        self._cache: dict[str, str] = {}

    @classmethod
    def of_index(cls, index: Index) -> "Vocabulary":
        return cls(TagHistory([p for p in index.photos() if p.status == "ok"]))

    def written_form(self, tag: str) -> str:
        """`tag` as the owner writes it: a known tag in its spelling and hierarchy path, a close spelling
        of a known tag as that tag, anything else cleaned ('' for blank)."""
        found = self._cache.get(tag)
        if found is None:
            found = self._cache[tag] = self._map(clean(tag))
        return found

    def _map(self, tag: str) -> str:
        if HIERARCHY_SEPARATOR in tag:
            parts = [clean(part) for part in tag.split(HIERARCHY_SEPARATOR) if clean(part)]
            key = HIERARCHY_SEPARATOR.join(tag_key(part) for part in parts)
            return self._paths.get(key) or HIERARCHY_SEPARATOR.join(parts)  # a new path is the person's choice
        key = self._known(tag_key(tag))
        return self.history.written_form(key) if key is not None else tag

    def _known(self, key: str) -> Optional[str]:
        if not key:
            return None
        singular = [key[:-2], key[:-1]] if key.endswith("es") else [key[:-1]] if key.endswith("s") else []
        if key.endswith("ies"):
            singular.insert(0, key[:-3] + "y")  # lilies ~ lily
        plural = [key[:-1] + "ies"] if key.endswith("y") else []
        for candidate in (key, *singular, key + "s", key + "es", *plural):
            if candidate in self.history.counts:
                return candidate
        if len(key) >= MIN_FUZZY:
            swapped = (key[:i] + key[i + 1] + key[i] + key[i + 2 :] for i in range(len(key) - 1))
            found = next((candidate for candidate in swapped if candidate in self.history.counts), None)
            if found is not None:  # two letters typed the wrong way round ("flwoer"), which difflib rates low
                return found
            close = difflib.get_close_matches(key, self._keys, n=1, cutoff=CLOSE_SPELLING)
            if close:
                return close[0]
        return None
