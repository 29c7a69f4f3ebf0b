"""When two spellings are one tag: the one tag identity of every layer.

A tag's key (`tag_key`) is its text in Unicode NFC, trimmed, every run of whitespace
(tabs, line breaks, double spaces) made one space, then case-folded and put in NFC again
(case folding can decompose a character: 'ǰ' folds to 'j' + a combining caron). So
'Café' typed on macOS (NFD) or on Windows (NFC), 'New  York' and 'new york', 'STRASSE'
and 'straße' are one tag. The history (counts, vocabulary), review's pending suggestions
and the sidecar editor's "already there" check all compare keys made here; a hierarchy
path ('Animals|Cat') is compared part by part, each part by its key.

`tag_text` is the display form of one spelling: NFC, whitespace collapsed, case kept.
"""

from __future__ import annotations

import unicodedata


def tag_text(tag: str) -> str:
    """The spelling as shown: NFC, trimmed, whitespace runs made one space, case kept."""
    return " ".join(unicodedata.normalize("NFC", tag).split())


def tag_key(tag: str) -> str:
    """The identity of a tag ('' for a blank one): `tag_text`, case-folded, NFC."""
    return unicodedata.normalize("NFC", tag_text(tag).casefold())
