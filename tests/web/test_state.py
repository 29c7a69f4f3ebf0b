"""phototag.web.state without HTTP: pages and filters, decisions, Write through the journaled writer, Undo."""

from __future__ import annotations

import pytest

from phototag.app.suggest import SuggestOptions
from phototag.app.write import open_writer, read_suggest_file
from phototag.library.index import Index
from phototag.library.xmp_edit import read_fields
from phototag.library.xmp_namespaces import DC_SUBJECT, LR_HIERARCHICAL
from phototag.reporting import CollectingReporter
from phototag.web.state import Filters, IndexWorker, ReviewState, WriteSettings


@pytest.fixture
def state(library, suggestions, tmp_path):
    worker = IndexWorker(tmp_path / "index.sqlite", library)
    review = ReviewState(worker, SuggestOptions(), WriteSettings(), CollectingReporter())
    review.reload()
    review.add_entries(read_suggest_file(suggestions, library, review.reporter.warn))
    yield review
    worker.close()


def by_name(page: dict) -> dict:
    return {card["path"]: card for card in page["cards"]}


def subjects(path) -> list[str]:
    return read_fields(path.read_bytes()).get(DC_SUBJECT, []) if path.exists() else []


def test_pages_and_filters(state):
    everything = state.page(Filters(), 1)
    assert [c["path"] for c in everything["cards"]] == ["a.jpg", "b.jpg", "c.jpg", "trip/d.jpg"]
    assert by_name(everything)["b.jpg"]["present"] == ["Places|Harbour"]  # hierarchies as their paths
    assert [c["path"] for c in state.page(Filters(untagged=True), 1)["cards"]] == ["a.jpg", "c.jpg"]
    assert [c["path"] for c in state.page(Filters(folder="trip"), 1)["cards"]] == ["trip/d.jpg"]
    assert [c["path"] for c in state.page(Filters(tag="harbour"), 1)["cards"]] == ["b.jpg"]
    assert [c["path"] for c in state.page(Filters(tag="Places|Harbour"), 1)["cards"]] == ["b.jpg"]
    assert [c["path"] for c in state.page(Filters(text="TRIP/"), 1)["cards"]] == ["trip/d.jpg"]
    assert [c["path"] for c in state.page(Filters(suggested=True), 1)["cards"]] == ["a.jpg", "c.jpg"]
    assert [c["path"] for c in state.page(Filters(since="2022-07-14"), 1)["cards"]] == ["c.jpg", "trip/d.jpg"]
    assert [c["path"] for c in state.page(Filters(since="2022-07-15", until="2023-05-01"), 1)["cards"]] == [
        "trip/d.jpg"
    ]
    assert [c["path"] for c in state.page(Filters(until="2022-12-31"), 1)["cards"]] == ["c.jpg"]
    assert (
        by_name(everything)["c.jpg"]["taken"] == "2022-07-14T10:00:00" and by_name(everything)["a.jpg"]["taken"] is None
    )
    second = state.page(Filters(), 2, size=3)
    assert (second["page"], second["pages"], second["total"], [c["path"] for c in second["cards"]]) == (
        2,
        2,
        4,
        ["trip/d.jpg"],
    )
    assert state.page(Filters(), 99, size=3)["page"] == 2  # past the end: the last page


def test_suggestions_keep_their_order_scores_and_sources(state):
    card = by_name(state.page(Filters(), 1))["a.jpg"]
    assert [(s["tag"], s["score"], s["source"], s["state"]) for s in card["suggestions"]] == [
        ("sea", 0.91, "personal", None),
        ("boat", 0.72, "knn", None),
        ("evening", 0.55, "general", None),
    ]
    assert card["thumb"].startswith(f"/thumb/{card['id']}?v=")


def test_decisions_typed_tags_and_many_photos_at_once(state):
    cards = by_name(state.page(Filters(), 1))
    a, c, d = cards["a.jpg"]["id"], cards["c.jpg"]["id"], cards["trip/d.jpg"]["id"]
    state.decide([a], "sea", "accept")
    state.decide([a], "evening", "reject")
    (card,) = state.decide([a], "  harbour ", "accept")  # known as a hierarchy: written as its path
    assert card["added"] == ["Places|Harbour"]
    assert {s["tag"]: s["state"] for s in card["suggestions"]} == {"sea": "accept", "boat": None, "evening": "reject"}
    # c.jpg was offered Places|Harbour: typing its leaf accepts that suggestion; d.jpg gets it typed
    both = {card["path"]: card for card in state.decide([c, d, 12345], "HARBOUR", "accept")}
    assert set(both) == {"c.jpg", "trip/d.jpg"}  # ids outside the library are ignored
    assert [s["state"] for s in both["c.jpg"]["suggestions"] if s["tag"] == "Places|Harbour"] == ["accept"]
    assert both["c.jpg"]["added"] == [] and both["trip/d.jpg"]["added"] == ["Places|Harbour"]
    state.decide([d], "Places|Harbour", "clear")
    state.decide([d], "boat", "accept")  # d.jpg has boat already: nothing to decide
    assert by_name(state.page(Filters(), 1))["trip/d.jpg"]["added"] == []
    assert state.status_json()["to_write"] == 2
    with pytest.raises(ValueError):
        state.decide([a], "sea", "delete")
    with pytest.raises(ValueError):
        state.decide([a], "   ", "accept")


def test_write_then_undo_restores_every_byte(state, library):
    cards = by_name(state.page(Filters(), 1))
    before = (library / "a.jpg.xmp").read_bytes()
    state.decide([cards["a.jpg"]["id"]], "sea", "accept")
    state.decide([cards["a.jpg"]["id"], cards["c.jpg"]["id"]], "summer", "accept")
    report = state.write()
    assert "2 photo(s): changed 2 sidecar(s) (1 new), 3 tag(s) added" in report["summary"]
    assert {c["path"]: c["added"] for c in report["changes"]} == {"a.jpg": ["sea", "summer"], "c.jpg": ["summer"]}
    assert subjects(library / "a.jpg.xmp") == ["sea", "summer"] and subjects(library / "c.jpg.xmp") == ["summer"]
    after = by_name(state.page(Filters(), 1))
    assert after["a.jpg"]["present"] == ["sea", "summer"] and after["a.jpg"]["added"] == []
    assert [s["tag"] for s in after["a.jpg"]["suggestions"]] == ["boat", "evening"]  # sea is on the photo now
    assert state.status_json()["to_write"] == 0
    assert state.write()["summary"] == "nothing accepted yet"

    undone = state.undo()
    assert undone["undone"] and sorted(undone["restored"]) == ["a.jpg.xmp", "c.jpg.xmp"]
    assert (library / "a.jpg.xmp").read_bytes() == before and not (library / "c.jpg.xmp").exists()
    assert by_name(state.page(Filters(), 1))["a.jpg"]["present"] == []
    assert state.undo() == {"undone": False, "summary": "nothing of this review to undo"}


def test_undo_leaves_a_write_of_another_command_alone(state, library, tmp_path):
    cards = by_name(state.page(Filters(), 1))
    state.decide([cards["a.jpg"]["id"]], "sea", "accept")
    state.write()
    with (
        Index(tmp_path / "index.sqlite", library) as index,
        open_writer(index, "apply", CollectingReporter()) as writer,
    ):
        writer.add_tags(library / "c.jpg", ["rain"])
    report = state.undo()
    assert not report["undone"] and "`phototag apply`" in report["summary"]
    assert subjects(library / "c.jpg.xmp") == ["rain"] and subjects(library / "a.jpg.xmp") == ["sea"]


def test_dry_run_writes_nothing_and_shows_the_diff(library, suggestions, tmp_path):
    worker = IndexWorker(tmp_path / "index.sqlite", library)
    try:
        state = ReviewState(worker, SuggestOptions(), WriteSettings(dry_run=True), CollectingReporter())
        state.reload()
        state.add_entries(read_suggest_file(suggestions, library, print))
        state.decide([by_name(state.page(Filters(), 1))["c.jpg"]["id"]], "forest", "accept")
        report = state.write()
        assert "would change 1 sidecar(s)" in report["summary"] and "+" in report["diff"] and "forest" in report["diff"]
        assert not (library / "c.jpg.xmp").exists() and state.status_json()["to_write"] == 1
    finally:
        worker.close()


def test_filters_from_the_query_string():
    assert Filters.from_query({}) == Filters()
    query = {
        "untagged": "1",
        "suggested": "on",
        "folder": "*",
        "tag": "",
        "q": "trip",
        "since": "2022-01-01",
        "until": "",
    }
    assert Filters.from_query(query) == Filters(untagged=True, suggested=True, text="trip", since="2022-01-01")
    assert Filters.from_query({"folder": ""}).folder == ""  # the library's top folder


def new_state(library, suggestions, tmp_path) -> ReviewState:
    """A second review of the same library and index, as after a restart."""
    worker = IndexWorker(tmp_path / "index.sqlite", library)
    review = ReviewState(worker, SuggestOptions(), WriteSettings(), CollectingReporter())
    review.reload()
    review.add_entries(read_suggest_file(suggestions, library, review.reporter.warn))
    return review


def test_decisions_are_kept_in_the_index_and_come_back_after_a_restart(state, library, suggestions, tmp_path):
    cards = by_name(state.page(Filters(), 1))
    a, c = cards["a.jpg"]["id"], cards["c.jpg"]["id"]
    state.decide([a], "sea", "accept")
    state.decide([a], "evening", "reject")
    state.decide([c], "summer", "accept")
    state.decide([c], "forest", "accept")
    state.decide([c], "forest", "clear")
    again = new_state(library, suggestions, tmp_path)  # the first one was never closed: as after a crash
    try:
        card = by_name(again.page(Filters(), 1))
        states = {s["tag"]: s["state"] for s in card["a.jpg"]["suggestions"]}
        assert states == {"sea": "accept", "boat": None, "evening": "reject"}
        assert card["c.jpg"]["added"] == ["summer"]
        assert [s["state"] for s in card["c.jpg"]["suggestions"]] == [None, None]
        assert again.status_json()["to_write"] == 2 and again.status_json()["tags_to_write"] == 2
        again.write()
        assert subjects(library / "c.jpg.xmp") == ["summer"]
    finally:
        again.worker.close()
    third = new_state(library, suggestions, tmp_path)
    try:
        assert third.status_json()["to_write"] == 0  # written: nothing pending any more
        rejected = by_name(third.page(Filters(), 1))["a.jpg"]["suggestions"]
        assert {s["tag"]: s["state"] for s in rejected} == {"boat": None, "evening": "reject"}  # a reject stays
    finally:
        third.worker.close()


def test_undo_makes_the_undone_tags_pending_again(state, library):
    cards = by_name(state.page(Filters(), 1))
    a, c = cards["a.jpg"]["id"], cards["c.jpg"]["id"]
    state.decide([a], "sea", "accept")
    state.decide([a, c], "summer", "accept")
    state.write()
    assert state.status_json()["to_write"] == 0
    state.undo()
    assert subjects(library / "a.jpg.xmp") == [] and not (library / "c.jpg.xmp").exists()
    after = by_name(state.page(Filters(), 1))
    assert [s["state"] for s in after["a.jpg"]["suggestions"] if s["tag"] == "sea"] == ["accept"]
    assert after["a.jpg"]["added"] == ["summer"] and after["c.jpg"]["added"] == ["summer"]
    assert state.status_json()["to_write"] == 2
    state.write()  # and Write puts them back
    assert subjects(library / "a.jpg.xmp") == ["sea", "summer"] and subjects(library / "c.jpg.xmp") == ["summer"]


def test_typed_tags_take_the_owners_vocabulary(state, library):
    c = by_name(state.page(Filters(), 1))["c.jpg"]["id"]
    (card,) = state.decide([c], "BOATS", "accept")  # case and plural: the owner writes `boat`
    assert card["added"] == ["boat"]
    a = by_name(state.page(Filters(), 1))["a.jpg"]["id"]
    (card,) = state.decide([a], "harbor", "accept")  # a close spelling of the hierarchy's leaf
    assert card["added"] == ["Places|Harbour"]
    state.write()
    assert subjects(library / "c.jpg.xmp") == ["boat"]
    assert read_fields((library / "a.jpg.xmp").read_bytes()).get(LR_HIERARCHICAL) == ["Places|Harbour"]
