"""One tag identity (issue 20 item 5): history, review's pending suggestions and the sidecar editor
agree that NFD/NFC, spacing and case variants are one tag."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from photos import make_jpeg, write_sidecar

from phototag.app.review import pending
from phototag.app.write import Entry
from phototag.library.history import TagHistory, normalise
from phototag.library.index import Index, PhotoRow
from phototag.library.keywords import Keyword
from phototag.library.sidecar import SidecarWriter
from phototag.library.xmp_edit import NEW_SIDECAR, edit_xmp, read_fields
from phototag.library.xmp_namespaces import DC_SUBJECT, LR_HIERARCHICAL
from phototag.tag_identity import tag_key, tag_text

NFC = "Café Crème"
NFD = unicodedata.normalize("NFD", NFC)
# (spelling already there, the same tag spelled otherwise)
VARIANTS = [
    (NFC, NFD),
    (NFD, NFC.upper()),
    ("New York", "new  york"),
    ("New York", " NEW\tYORK "),
    ("straße", "STRASSE"),
]


@pytest.mark.parametrize("present, other", VARIANTS)
def test_one_key_for_every_spelling(present, other):
    assert NFC != NFD and tag_key(present) == tag_key(other)
    assert normalise is tag_key  # the history uses this very function
    assert tag_key("Cat") != tag_key("Cats") and tag_key("A B") != tag_key("AB")


def test_key_is_stable_under_case_folding_that_decomposes():
    # U+01F0 folds to 'j' + combining caron: the key is NFC again, so it equals its own key
    assert tag_key("\u01f0") == tag_key(tag_key("\u01f0")) == unicodedata.normalize("NFC", "\u01f0")
    assert tag_text("  Café\u00a0 Crème ") == NFC


@pytest.mark.parametrize("present, other", VARIANTS)
def test_review_does_not_ask_about_a_tag_the_photo_has(present, other):
    entry = Entry(
        Path("a.jpg"),
        "a.jpg",
        [{"tag": other, "score": 0.9}, {"tag": f"Places|{other}", "score": 0.8}],
        present=[present],
    )
    assert pending(entry, 0.0).suggestions == []


@pytest.mark.parametrize("present, other", VARIANTS)
def test_sidecar_editor_does_not_add_the_same_tag_again(present, other):
    flat, _ = edit_xmp(NEW_SIDECAR, [present])
    assert edit_xmp(flat, [other]) == (flat, [])
    tree, _ = edit_xmp(NEW_SIDECAR, [f"Places|{present}"])
    assert edit_xmp(tree, [f"places | {other}"]) == (tree, [])


def _photo(pid: int, tag: str) -> PhotoRow:
    path = Path(f"/lib/{pid}.jpg")
    return PhotoRow(
        id=pid,
        path=path,
        rel=path.name.encode(),
        display_path=path.name,
        folder="",
        size=1,
        mtime_ns=1,
        fingerprint=str(pid),
        width=None,
        height=None,
        creator=None,
        status="ok",
        error=None,
        keywords=[Keyword(tag, "xmp-sidecar", "dc:subject", path)],
    )


def test_history_counts_the_variants_as_one_tag():
    tags = [NFC, NFD, NFC.lower(), "New York", "new  york"]
    history = TagHistory([_photo(i, tag) for i, tag in enumerate(tags, 1)])
    assert history.counts[tag_key(NFC)] == 3 and history.counts[tag_key("New York")] == 2


def test_a_written_tag_is_not_written_twice_in_another_spelling(tmp_path):
    library = tmp_path / "lib"
    photo = make_jpeg(library / "a.jpg")
    write_sidecar(library / "a.jpg.xmp", subjects=[NFD, "New York"], hierarchical=["Places|New York"])
    before = (library / "a.jpg.xmp").read_bytes()
    with Index(tmp_path / "i.sqlite", library) as index, SidecarWriter(index, "test") as writer:
        result = writer.add_tags(photo, [NFC, "new  york", "Places|NEW YORK"])
    assert not result.changed and (library / "a.jpg.xmp").read_bytes() == before
    assert read_fields(before) == {DC_SUBJECT: [NFD, "New York"], LR_HIERARCHICAL: ["Places|New York"]}
