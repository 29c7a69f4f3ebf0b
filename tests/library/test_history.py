"""Tag history: normalisation, precedence, hierarchy leaves, owners, history vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from phototag.library.history import TagHistory, effective_keywords, normalise, summarise
from phototag.library.index import PhotoRow
from phototag.library.keywords import Keyword

_ids = iter(range(1, 10**6))


def photo(rel: str, keywords: list[tuple[str, str, str]], creator=None) -> PhotoRow:
    """A PhotoRow as the index returns it; keywords are (text, source, field)."""
    pid = next(_ids)
    path = Path("/lib") / rel
    return PhotoRow(
        id=pid,
        path=path,
        rel=rel.encode(),
        display_path=rel,
        folder=str(Path(rel).parent).replace(".", ""),
        size=1,
        mtime_ns=1,
        fingerprint=str(pid),
        width=None,
        height=None,
        creator=creator,
        status="ok",
        error=None,
        keywords=[Keyword(t, s, f, path) for t, s, f in keywords],
    )


def subj(*tags, source="xmp-sidecar"):
    return [(t, source, "dc:subject") for t in tags]


def test_normalise_trims_collapses_and_casefolds():
    assert normalise("  Golden   Gate\tBridge ") == "golden gate bridge"
    assert normalise("STRASSE") == normalise("straße")  # casefold, not lower
    assert normalise("Cafe\u0301") == normalise("Café")  # NFC


def test_spellings_merge_and_the_most_used_one_is_shown():
    photos = [
        photo("a.jpg", subj("Beach")),
        photo("b.jpg", subj("beach ")),
        photo("c.jpg", subj("Beach")),
        photo("d.jpg", subj(" BEACH")),
    ]
    history = TagHistory(photos)
    assert history.vocabulary == ["Beach"]
    assert history.counts["beach"] == 4


def test_sidecar_overrides_embedded_and_xmp_overrides_iptc():
    both = photo("a.jpg", subj("from-sidecar") + subj("embedded-xmp", source="xmp") + subj("iptc-kw", source="iptc"))
    embedded = photo("b.jpg", subj("embedded-xmp", source="xmp") + [("iptc-kw", "iptc", "IPTC:Keywords")])
    iptc_only = photo("c.jpg", [("iptc-kw", "iptc", "IPTC:Keywords"), ("xp", "exif", "XPKeywords")])
    xp_only = photo("d.jpg", [("xp", "exif", "XPKeywords")])
    history = TagHistory([both, embedded, iptc_only, xp_only])
    assert history.photo_tags(both) == ["from-sidecar"]
    assert history.photo_tags(embedded) == ["embedded-xmp"]
    assert history.photo_tags(iptc_only) == ["iptc-kw"]
    assert history.photo_tags(xp_only) == ["xp"]


def test_hierarchy_leaf_becomes_flat_tag_and_path_is_kept():
    p = photo(
        "a.jpg",
        [
            ("Animals|Pets|Cat", "xmp-sidecar", "lr:hierarchicalSubject"),
            ("Places/France/Paris", "xmp-sidecar", "digiKam:TagsList"),
            ("Cat", "xmp-sidecar", "dc:subject"),
        ],
    )
    history = TagHistory([p])
    assert history.photo_tags(p) == ["Cat", "Paris"]
    assert history.hierarchy_of("cat") == ("Animals", "Pets", "Cat")
    assert history.written_form("PARIS") == "Places|France|Paris"
    assert summarise(history)[0]["hierarchy"] in {"Animals|Pets|Cat", "Places|France|Paris"}


def test_owner_modes():
    photos = [
        photo("alice/x/a.jpg", subj("a"), creator="Alice"),
        photo("bob/b.jpg", subj("b"), creator=" Bob "),
        photo("c.jpg", subj("c")),
    ]
    assert {TagHistory(photos).owner_of(p) for p in photos} == {"me"}
    by_creator = TagHistory(photos, owner_from="creator")
    assert [by_creator.owner_of(p) for p in photos] == ["Alice", "Bob", "(unknown)"]
    by_folder = TagHistory(photos, owner_from="folder")
    assert [by_folder.owner_of(p) for p in photos] == ["alice", "bob", "(root)"]


def test_history_vector_is_normalised_by_the_owners_maximum_and_leaves_one_out():
    photos = [
        photo("a.jpg", subj("sea", "sun")),
        photo("b.jpg", subj("sea")),
        photo("c.jpg", subj("sea", "boat")),
        photo("d.jpg", subj("sea", "sun")),
    ]
    history = TagHistory(photos)
    vocab = ["sea", "sun", "boat", "never-used"]
    np.testing.assert_allclose(history.history_vector("me", vocab), [1.0, 0.5, 0.25, 0.0])
    # leave-one-out: photo c's own tags do not feed its own history
    np.testing.assert_allclose(history.history_vector("me", vocab, exclude=photos[2]), [1.0, 2 / 3, 0.0, 0.0])
    # cold start: an owner with no history gets zeros
    assert not history.history_vector("nobody", vocab).any()


def test_folder_history_excludes_the_photo_itself():
    photos = [
        photo("trip/a.jpg", subj("alps")),
        photo("trip/b.jpg", subj("alps", "snow")),
        photo("home/c.jpg", subj("cat")),
    ]
    history = TagHistory(photos)
    vec = history.vector_for(photos[1], ["alps", "snow", "cat"], mode="folder")
    np.testing.assert_allclose(vec, [1.0, 0.0, 0.0])


def test_effective_keywords_empty_when_no_sources():
    assert effective_keywords([]) == []


def test_darktable_bookkeeping_tags_are_not_the_persons_words():
    p = photo(
        "a.jpg",
        [
            ("darktable|format|jpg", "xmp-sidecar", "lr:hierarchicalSubject"),
            ("darktable|changed", "xmp-sidecar", "dc:subject"),
            ("Places|Darktable Lake", "xmp-sidecar", "lr:hierarchicalSubject"),
        ],
    )
    assert TagHistory([p]).photo_tags(p) == ["Darktable Lake"]


def test_a_pickled_history_keeps_the_tagged_photos_and_answers_the_same():
    """suggest --ray sends the history to each ranking actor: untagged photos stay behind, yet what the copy says
    of any photo (tags, owner, vectors, vocabulary) is what the original says."""
    import pickle

    photos = [
        photo("alice/trip/a.jpg", subj("Alps", "snow")),
        photo("alice/trip/b.jpg", []),
        photo("bob/c.jpg", subj("cat")),
        photo("bob/d.jpg", [("Places|Spain", "xmp-sidecar", "lr:hierarchicalSubject")]),
        photo("e.jpg", []),
    ]
    for owner_from in ("library", "folder"):
        history = TagHistory(photos, owner_from=owner_from)
        copy = pickle.loads(pickle.dumps(history))
        assert len(copy.photos) == 3 and copy.tagged_photos() == history.tagged_photos()
        assert copy.vocabulary == history.vocabulary
        for p in photos:
            assert copy.photo_keys(p) == history.photo_keys(p) and copy.owner_of(p) == history.owner_of(p)
            for mode in ("owner", "folder"):
                assert np.array_equal(
                    copy.vector_for(p, ["alps", "cat", "spain"], mode),
                    history.vector_for(p, ["alps", "cat", "spain"], mode),
                )
