"""phototag.app.vocabulary: how a typed tag is written, for the terminal review, the web review and apply."""

from __future__ import annotations

from pathlib import Path

from phototag.app.vocabulary import Vocabulary
from phototag.library.history import TagHistory
from phototag.library.index import PhotoRow
from phototag.library.keywords import Keyword


def photo(photo_id: int, *keywords: tuple[str, str]) -> PhotoRow:
    path = Path(f"/lib/{photo_id}.jpg")
    row = PhotoRow(
        id=photo_id,
        path=path,
        rel=path.name.encode(),
        display_path=path.name,
        folder="",
        size=1,
        mtime_ns=1,
        fingerprint=None,
        width=None,
        height=None,
        creator=None,
        status="ok",
        error=None,
    )
    row.keywords.extend(Keyword(text, "xmp-sidecar", field, path.with_suffix(".xmp")) for text, field in keywords)
    return row


VOCABULARY = Vocabulary(
    TagHistory(
        [
            photo(1, ("Flower", "dc:subject"), ("Nature|Flower", "lr:hierarchicalSubject"), ("macro", "dc:subject")),
            photo(2, ("Harbour", "dc:subject"), ("Places|Harbour", "lr:hierarchicalSubject"), ("boat", "dc:subject")),
            photo(3, ("Lily", "dc:subject"), ("boat", "dc:subject")),
        ]
    )
)


def test_known_tags_take_the_owners_case_and_hierarchy():
    assert VOCABULARY.written_form("flower") == "Nature|Flower"
    assert VOCABULARY.written_form("  MACRO ") == "macro"
    assert VOCABULARY.written_form("nature|FLOWER") == "Nature|Flower"
    assert VOCABULARY.written_form("Boat") == "boat"


def test_plurals_and_close_spellings_are_the_known_tag():
    assert VOCABULARY.written_form("flowers") == "Nature|Flower"
    assert VOCABULARY.written_form("boats") == "boat"
    assert VOCABULARY.written_form("lilies") == "Lily"
    assert VOCABULARY.written_form("harbor") == "Places|Harbour"
    assert VOCABULARY.written_form("Flwoer") == "Nature|Flower"


def test_new_words_and_short_near_misses_stay_as_typed():
    assert VOCABULARY.written_form("bat") == "bat"  # close to boat, but a short word must match exactly
    assert VOCABULARY.written_form("  sunset  glow ") == "sunset glow"
    assert VOCABULARY.written_form("Places|Venice") == "Places|Venice"  # a new path is the person's choice
    assert VOCABULARY.written_form("   ") == ""
