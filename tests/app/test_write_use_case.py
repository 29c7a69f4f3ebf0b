"""phototag.app.write and phototag.app.review without the command line: suggest files, writing, undo."""

from __future__ import annotations

import base64
import json
import os

import pytest
from photos import make_jpeg, write_sidecar

from phototag.app.review import pending, to_review
from phototag.app.write import (
    Entry,
    SuggestFileError,
    open_writer,
    read_suggest_file,
    summary,
    undo_last_write,
    write_entries,
)
from phototag.library.index import Index
from phototag.library.xmp_edit import read_fields
from phototag.library.xmp_namespaces import DC_SUBJECT
from phototag.reporting import CollectingReporter


@pytest.fixture
def library(tmp_path):
    root = tmp_path / "lib"
    make_jpeg(root / "a.jpg")
    make_jpeg(root / "sub" / "b.jpg")
    write_sidecar(root / "sub" / "b.jpg.xmp", subjects=["harbour"])
    return root


def test_json_lines_resolve_against_the_library_and_merge_records_of_one_photo(library, tmp_path):
    source = tmp_path / "s.jsonl"
    records = [
        {
            "path": "a.jpg",
            "abs_path": str(library / "a.jpg"),
            "suggestions": [{"tag": "sea", "score": 0.5}],
            "model": "m1",
        },
        {"path": "a.jpg", "abs_path": str(library / "a.jpg"), "suggestions": ["boat"]},
        {"no": "path"},
    ]
    source.write_text("\n".join(json.dumps(r) for r in records) + "\nnot json\n", encoding="utf-8")
    warnings = []
    entries = read_suggest_file(source, library, warnings.append)
    assert [(e.photo, e.shown, e.tags, e.model) for e in entries] == [
        (library / "a.jpg", "a.jpg", ["sea", "boat"], "m1")
    ]
    assert warnings == ["line 3: no path; ignored", "line 4: not a JSON object; ignored"]


def test_csv_resolves_against_the_library_and_needs_a_header(library, tmp_path):
    source = tmp_path / "s.csv"
    source.write_text("path,tag,score,source\nsub/b.jpg,boat,0.7,general\nsub/b.jpg,,0.1,general\n", encoding="utf-8")
    warnings = []
    entries = read_suggest_file(source, library, warnings.append)
    assert entries[0].photo == library / "sub" / "b.jpg"
    assert entries[0].suggestions == [{"tag": "boat", "score": 0.7, "source": "general"}]
    assert warnings == ["line 3: empty path or tag; ignored"]
    source.write_text("photo;keyword\n", encoding="utf-8")
    with pytest.raises(SuggestFileError, match="neither JSON Lines nor a CSV"):
        read_suggest_file(source, library, lambda message: None)


def test_path_b64_is_the_exact_path_and_wins_over_the_printable_one(library, tmp_path):
    odd = library / os.fsdecode(b"caf\xe9.jpg")
    source = tmp_path / "s.jsonl"
    records = [
        {"path": "caf\\xe9.jpg", "path_b64": base64.b64encode(b"caf\xe9.jpg").decode(), "suggestions": ["x"]},
        {"path": "a.jpg", "path_b64": "not base64!", "suggestions": ["y"]},
    ]
    source.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    warnings = []
    assert [e.photo for e in read_suggest_file(source, library, warnings.append)] == [odd]
    assert warnings == ["line 2: path_b64 is not base64 of a path; ignored"]
    csv_source = tmp_path / "s.csv"
    csv_source.write_text(
        f"path,tag,score,source,path_b64\ncaf\\xe9.jpg,x,0.5,general,{records[0]['path_b64']}\n", encoding="utf-8"
    )
    assert [e.photo for e in read_suggest_file(csv_source, library, warnings.append)] == [odd]


def test_write_entries_skips_photos_outside_or_gone_then_undo_restores(library, tmp_path):
    outside = make_jpeg(tmp_path / "elsewhere" / "c.jpg")
    entries = [
        Entry(library / "a.jpg", "a.jpg", [{"tag": "sea"}], model="m"),
        Entry(library / "sub" / "b.jpg", "sub/b.jpg", [{"tag": "boat"}, {"tag": "harbour"}]),
        Entry(library / "gone.jpg", "gone.jpg", [{"tag": "x"}]),
        Entry(outside, str(outside), [{"tag": "y"}]),
    ]
    reporter = CollectingReporter()
    advanced = []
    with Index.for_library(library, tmp_path / "i.sqlite") as index:
        with open_writer(index, "apply", reporter) as writer:
            write_entries(writer, library, entries, reporter, advance=advanced.append)
        assert summary(writer.stats, dry_run=False) == (
            "2 photo(s): changed 2 sidecar(s) (1 new), 2 tag(s) added, 0 already up to date, 0 skipped"
        )
        assert len(advanced) == 4
        assert read_fields((library / "a.jpg.xmp").read_bytes())[DC_SUBJECT] == ["sea"]
        assert read_fields((library / "sub" / "b.jpg.xmp").read_bytes())[DC_SUBJECT] == ["harbour", "boat"]
        assert sorted(reason.split(";")[0] for reason in reporter.skipped.values()) == [
            f"not in the library {library}",
            "photo not found",
        ]
        result = undo_last_write(index, CollectingReporter())
    assert result.command == "apply" and len(result.restored) == 1 and len(result.deleted) == 1
    assert not (library / "a.jpg.xmp").exists()
    assert read_fields((library / "sub" / "b.jpg.xmp").read_bytes())[DC_SUBJECT] == ["harbour"]


def test_review_leaves_out_present_tags_low_scores_and_empty_entries(library):
    entry = Entry(
        library / "sub" / "b.jpg",
        "sub/b.jpg",
        [{"tag": "Places|Harbour", "score": 0.9}, {"tag": "boat", "score": 0.6}, {"tag": "rain", "score": 0.1}],
        present=["harbour"],
    )
    assert [s["tag"] for s in pending(entry, 0.5).suggestions] == ["boat"]
    only_present = Entry(library / "a.jpg", "a.jpg", [{"tag": "sea", "score": 0.9}], present=["Sea"])
    reporter = CollectingReporter()
    todo = to_review(
        library, [entry, only_present, Entry(library / "gone.jpg", "gone.jpg", [{"tag": "x"}])], 0.5, reporter
    )
    assert [e.shown for e in todo] == ["sub/b.jpg"]
    assert list(reporter.skipped.values()) == ["photo not found"]
