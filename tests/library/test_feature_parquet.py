"""The Parquet feature dataset a Ray cluster's workers append to (phototag.library.feature_parquet), and
feature_store.get_many reading it after the index's own table."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")  # the `ray` extra's
pq = pytest.importorskip("pyarrow.parquet")

from phototag.library import feature_parquet, feature_store  # noqa: E402
from phototag.library.index import Index  # noqa: E402

KEY = "lite0@224"


def arrays(names, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal((320, 7, 7)).astype(np.float16) for name in names}


def parts(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("part-"))


def fresh(tmp_path):
    """A folder no earlier test read (the catalogue of parts is per process and per folder)."""
    directory = tmp_path / "features"
    directory.mkdir()
    return directory


def test_round_trip_over_several_parts_with_a_duplicate(tmp_path):
    directory = fresh(tmp_path)
    first, second = arrays(["a", "b", "c"]), arrays(["c", "d"], seed=1)
    second["c"] = first["c"]  # a retried batch writes the same features again
    feature_parquet.write_part(directory, first, KEY)
    feature_parquet.write_part(directory, second, KEY)
    feature_parquet.write_part(directory, arrays(["a"], seed=2), "lite2@260")  # another kind of features
    assert len(parts(directory)) == 3 and all(name.endswith(".parquet") for name in parts(directory))
    assert feature_parquet.write_part(directory, {}, KEY) is None  # nothing to write: no empty part
    warnings = []
    found = feature_parquet.read(directory, ["a", "b", "c", "d", "zz"], KEY, warnings.append)
    assert sorted(found) == ["a", "b", "c", "d"] and warnings == []
    for name, array in {**first, **second}.items():
        assert found[name].dtype == np.float16 and found[name].shape == (320, 7, 7)
        assert np.array_equal(found[name], array)
    assert np.array_equal(feature_parquet.read(directory, ["a"], "lite2@260")["a"], arrays(["a"], seed=2)["a"])


def test_parts_carry_the_format_version_and_the_columns(tmp_path):
    directory = fresh(tmp_path)
    path = feature_parquet.write_part(directory, arrays(["a"]), KEY)
    schema = pq.read_schema(path)
    assert schema.metadata[feature_parquet.FORMAT_KEY] == str(feature_parquet.FORMAT_VERSION).encode()
    assert schema.names == list(feature_parquet.COLUMNS)
    row = pq.read_table(path).to_pylist()[0]
    assert row["fingerprint"] == "a" and row["feature_key"] == KEY and row["dtype"] == "float16"
    assert row["shape"] == [320, 7, 7] and len(row["data"]) == 320 * 7 * 7 * 2


def test_a_half_written_temporary_file_is_not_read(tmp_path):
    directory = fresh(tmp_path)
    feature_parquet.write_part(directory, arrays(["a"]), KEY)
    (directory / ".part-0123.tmp").write_bytes(b"PAR1 half a file")  # a writer killed before its rename
    warnings = []
    assert sorted(feature_parquet.read(directory, ["a", "b"], KEY, warnings.append)) == ["a"]
    assert warnings == []


def test_a_damaged_or_foreign_part_is_one_warning_and_the_others_still_read(tmp_path):
    directory = fresh(tmp_path)
    feature_parquet.write_part(directory, arrays(["a"]), KEY)
    good = feature_parquet.write_part(directory, arrays(["b"]), KEY)
    damaged = directory / "part-damaged.parquet"
    damaged.write_bytes(good.read_bytes()[:-40])  # its footer cut off
    foreign = directory / "part-foreign.parquet"
    pq.write_table(pa.table({"fingerprint": ["c"], "x": [1]}), foreign)  # no format version
    warnings = []
    for _ in range(3):  # every later read of the run: no further warning
        assert sorted(feature_parquet.read(directory, ["a", "b", "c"], KEY, warnings.append)) == ["a", "b"]
    assert len(warnings) == 2 and all("\n" not in w and "skipped" in w for w in warnings), warnings
    assert any(str(damaged) in w for w in warnings) and any(str(foreign) in w for w in warnings)
    assert any("no format version" in w for w in warnings)


def test_a_row_whose_bytes_do_not_fit_its_shape_is_left_out(tmp_path):
    directory = fresh(tmp_path)
    schema = feature_parquet._schema()
    good = arrays(["ok"])["ok"]
    table = pa.table(
        {
            "fingerprint": ["ok", "short", "dtype"],
            "feature_key": [KEY] * 3,
            "dtype": ["float16", "float16", "no-such-dtype"],
            "shape": [[320, 7, 7], [320, 7, 7], [1]],
            "data": [good.tobytes(), good.tobytes()[:-2], b"\0\0"],
        },
        schema=schema,
    )
    pq.write_table(table, directory / "part-hand-made.parquet")
    found = feature_parquet.read(directory, ["ok", "short", "dtype"], KEY)
    assert list(found) == ["ok"] and np.array_equal(found["ok"], good)


def test_get_many_reads_the_table_first_then_the_dataset(tmp_path):
    with Index(tmp_path / "index.sqlite", tmp_path) as index:
        directory = feature_parquet.dataset_dir(index)
        assert directory == tmp_path / "index" / "features"
        in_table, in_parts = arrays(["a", "b"]), arrays(["b", "c"], seed=5)
        feature_store.put_many(index, in_table, KEY)
        assert sorted(feature_store.get_many(index, ["a", "b", "c"], KEY)) == ["a", "b"]  # no folder yet
        feature_parquet.write_part(directory, in_parts, KEY)
        found = feature_store.get_many(index, ["a", "b", "c", "d"], KEY)
        assert sorted(found) == ["a", "b", "c"]
        assert np.array_equal(found["b"], in_table["b"])  # the table wins where both hold it
        assert np.array_equal(found["c"], in_parts["c"])


def test_a_plain_run_without_the_folder_never_imports_pyarrow(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        from phototag.library import feature_store
        from phototag.library.index import Index
        with Index({str(tmp_path / "index.sqlite")!r}, {str(tmp_path)!r}) as index:
            assert feature_store.get_many(index, ["a"], "k") == {{}}
        assert "pyarrow" not in sys.modules, "pyarrow imported"
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_without_pyarrow_the_folder_is_one_line_and_nothing_read(tmp_path, monkeypatch):
    with Index(tmp_path / "index.sqlite", tmp_path) as index:
        feature_parquet.write_part(feature_parquet.dataset_dir(index), arrays(["a"]), KEY)
        monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
        monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
        monkeypatch.setattr(feature_store, "_warned_no_pyarrow", False)
        warnings = []
        for _ in range(2):
            assert feature_store.get_many(index, ["a"], KEY, warnings.append) == {}
        assert len(warnings) == 1 and "pyarrow is not installed" in warnings[0]


def small_parts(directory, count, per_part=4, seed=0) -> dict[str, np.ndarray]:
    """`count` parts of `per_part` rows each (as a cluster's actors write them); every array written."""
    written = {}
    for n in range(count):
        batch = arrays([f"fp{n:03d}-{i}" for i in range(per_part)], seed=seed + n)
        feature_parquet.write_part(directory, batch, KEY)
        written.update(batch)
    return written


def test_compaction_merges_small_parts_and_every_feature_reads_back_identical(tmp_path):
    directory = fresh(tmp_path)
    written = small_parts(directory, 30)
    result = feature_parquet.compact(directory, target_rows=40, min_parts=2)
    assert result is not None and result.merged == 30 and result.written == 3 and result.rows == 120
    assert len(parts(directory)) == 3 and not [p for p in directory.iterdir() if p.name.endswith(".tmp")]
    for name in parts(directory):
        assert pq.read_schema(directory / name).metadata[feature_parquet.FORMAT_KEY] == b"1"
    feature_parquet._CATALOGUES.clear()  # as a fresh process reads it
    warnings = []
    found = feature_parquet.read(directory, list(written), KEY, warnings.append)
    assert warnings == [] and sorted(found) == sorted(written)
    for name, array in written.items():
        assert found[name].dtype == np.float16 and np.array_equal(found[name], array)
    assert feature_parquet.compact(directory, target_rows=40, min_parts=2).merged == 0  # nothing small left


def test_compaction_waits_for_enough_small_parts_and_leaves_a_lone_last_part(tmp_path):
    directory = fresh(tmp_path)
    small_parts(directory, 5)
    assert feature_parquet.compact(directory, min_parts=6).merged == 0 and len(parts(directory)) == 5
    result = feature_parquet.compact(directory, target_rows=40, min_parts=2)  # 40 rows: all five in one part
    assert (result.merged, result.written) == (5, 1) and len(parts(directory)) == 1


def test_rows_duplicated_across_parts_are_written_once(tmp_path):
    directory = fresh(tmp_path)
    first = arrays(["a", "b", "c"])
    feature_parquet.write_part(directory, first, KEY)
    feature_parquet.write_part(directory, {"b": first["b"], "c": first["c"]}, KEY)  # a retried batch
    feature_parquet.write_part(directory, {"a": first["a"]}, "lite2@260")  # same photo, other features
    result = feature_parquet.compact(directory, target_rows=100, min_parts=2)
    assert (result.merged, result.written, result.rows) == (3, 1, 4)
    table = pq.read_table(directory / parts(directory)[0])
    assert sorted(zip(table["fingerprint"].to_pylist(), table["feature_key"].to_pylist())) == [
        ("a", KEY),
        ("a", "lite2@260"),
        ("b", KEY),
        ("c", KEY),
    ]
    found = feature_parquet.read(directory, ["a", "b", "c"], KEY)
    assert all(np.array_equal(found[name], first[name]) for name in first)


def test_a_damaged_part_is_left_as_it_is_and_warned_about_once(tmp_path):
    directory = fresh(tmp_path)
    written = small_parts(directory, 4)
    damaged = directory / "part-damaged.parquet"
    damaged.write_bytes((directory / parts(directory)[0]).read_bytes()[:-40])
    content = damaged.read_bytes()
    warnings = []
    result = feature_parquet.compact(directory, target_rows=100, min_parts=2, warn=warnings.append)
    assert (result.merged, result.written) == (4, 1)
    assert damaged.read_bytes() == content and len(parts(directory)) == 2
    for _ in range(2):
        assert sorted(feature_parquet.read(directory, list(written), KEY, warnings.append)) == sorted(written)
    assert len(warnings) == 1 and str(damaged) in warnings[0], warnings


def test_a_part_removed_between_listing_and_reading_is_no_warning(tmp_path, monkeypatch):
    directory = fresh(tmp_path)
    written = small_parts(directory, 3)
    warnings = []
    assert len(feature_parquet.read(directory, ["fp000-0"], KEY, warnings.append)) == 1  # every part catalogued
    stale, catalogue = parts(directory), feature_parquet._CATALOGUES.pop(directory)
    feature_parquet.compact(directory, target_rows=100, min_parts=2)  # another process's compaction
    feature_parquet._CATALOGUES[directory] = catalogue
    listings = iter([stale])  # this read lists the folder before the compaction, reads its parts after
    real = feature_parquet._part_names
    monkeypatch.setattr(feature_parquet, "_part_names", lambda d: next(listings, None) or real(d))
    found = feature_parquet.read(directory, list(written), KEY, warnings.append)
    assert sorted(found) == sorted(written) and warnings == []
    assert all(np.array_equal(found[name], written[name]) for name in written)
    assert not set(stale) & set(catalogue.parts) and not catalogue.bad

    # removed after the listing, before its key columns were read
    monkeypatch.setattr(feature_parquet, "_part_names", lambda d: [*real(d), "part-vanished.parquet"])
    feature_parquet._CATALOGUES.clear()
    assert sorted(feature_parquet.read(directory, list(written), KEY, warnings.append)) == sorted(written)
    assert warnings == [] and "part-vanished.parquet" not in feature_parquet._catalogue(directory).bad


def test_compaction_is_skipped_while_another_process_holds_the_folder_lock(tmp_path):
    directory = fresh(tmp_path)
    small_parts(directory, 3)
    before = parts(directory)
    holder = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from phototag.fsio import locked_folder
        with locked_folder(Path({str(directory)!r})):
            print("locked", flush=True)
            sys.stdin.read()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        assert feature_parquet.compact(directory, target_rows=100, min_parts=2) is None
        assert parts(directory) == before
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    assert feature_parquet.compact(directory, target_rows=100, min_parts=2).merged == 3


def test_a_merge_that_cannot_be_written_is_one_warning_and_the_parts_stay(tmp_path, monkeypatch):
    directory = fresh(tmp_path)
    written = small_parts(directory, 3)
    before = parts(directory)

    def full(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(feature_parquet, "_fsync", full)  # the disk fills up as the merged part is written
    warnings = []
    result = feature_parquet.compact(directory, target_rows=100, min_parts=2, warn=warnings.append)
    assert result.merged == 0 and parts(directory) == before
    assert sorted(p.name for p in directory.iterdir()) == before  # no temporary file left
    assert len(warnings) == 1 and "not merged" in warnings[0] and "No space" in warnings[0], warnings
    assert sorted(feature_parquet.read(directory, list(written), KEY)) == sorted(written)


def test_small_parts_whose_rows_are_all_in_a_big_part_are_only_deleted(tmp_path):
    directory = fresh(tmp_path)
    written = small_parts(directory, 4)
    big = feature_parquet.write_part(directory, written, KEY)  # holds every row: not small at target 20
    result = feature_parquet.compact(directory, target_rows=20, min_parts=2)
    assert (result.merged, result.written, result.rows) == (4, 0, 0) and parts(directory) == [big.name]
    found = feature_parquet.read(directory, list(written), KEY)
    assert all(np.array_equal(found[name], written[name]) for name in written)


def test_located_features_read_back_without_a_catalogue(tmp_path):
    """`locate` (the driver's catalogue) says which part and row group holds each feature; `read_located` (a rank
    actor) opens only those and returns the same arrays; another key, an unknown photo: not located."""
    directory = fresh(tmp_path)
    first, second = arrays(["a", "b", "c"]), arrays(["d"], seed=1)
    names = [feature_parquet.write_part(directory, batch, KEY).name for batch in (first, second)]
    feature_parquet.write_part(directory, arrays(["a"], seed=2), "lite2@260")
    warnings = []
    locations = feature_parquet.locate(directory, ["a", "b", "d", "zz"], KEY, warnings.append)
    assert locations == {"a": (names[0], 0), "b": (names[0], 0), "d": (names[1], 0)} and warnings == []
    feature_parquet._CATALOGUES.clear()  # as in another process: no catalogue
    found = feature_parquet.read_located(os.fsencode(directory), locations, KEY)
    assert sorted(found) == ["a", "b", "d"] and not feature_parquet._CATALOGUES
    assert all(np.array_equal(found[fp], {**first, **second}[fp]) for fp in found)
    assert feature_parquet.read_located(directory, {}, KEY) == {}


def test_a_part_compacted_away_after_locating_is_missing_and_no_warning(tmp_path):
    """Located in small parts, then merged by a compaction: those fingerprints are absent from read_located's
    answer, quietly; located again, they are in the merged part's row groups and read back identical."""
    directory = fresh(tmp_path)
    written = {}
    for n in range(3):
        batch = arrays([f"p{n}-{i}" for i in range(20)], seed=n)
        feature_parquet.write_part(directory, batch, KEY)
        written.update(batch)
    kept = feature_parquet.write_part(directory, arrays(["big"], seed=9), KEY)
    locations = feature_parquet.locate(directory, [*written, "big"], KEY)
    assert len(locations) == 61
    result = feature_parquet.compact(directory, target_rows=1000, min_parts=2)
    assert result.merged == 4 and not kept.exists()
    assert feature_parquet.read_located(directory, locations, KEY) == {}  # every part located is gone
    again = feature_parquet.locate(directory, written, KEY)
    assert len({group for _, group in again.values()}) == -(-60 // feature_parquet.ROW_GROUP_ROWS)
    found = feature_parquet.read_located(directory, again, KEY)
    assert sorted(found) == sorted(written) and all(np.array_equal(found[fp], written[fp]) for fp in written)


def test_feature_store_locates_only_what_the_table_lacks(tmp_path):
    with Index(tmp_path / "index.sqlite", tmp_path) as index:
        assert feature_store.locate(index, ["a"], KEY) == {}  # no folder
        directory = feature_parquet.dataset_dir(index)
        feature_store.put_many(index, arrays(["a"]), KEY)
        name = feature_parquet.write_part(directory, arrays(["a", "b"], seed=5), KEY).name
        assert feature_store.locate(index, ["a", "b", "c", "b"], KEY) == {"b": (name, 0)}  # the table wins


def test_compaction_removes_only_the_old_temporary_files_of_killed_writers(tmp_path):
    directory = fresh(tmp_path)
    small_parts(directory, 3)
    old, fresh_one = directory / ".part-killed.tmp", directory / ".part-writing.tmp"
    old.write_bytes(b"half a part")
    fresh_one.write_bytes(b"a part being written")
    day_and_a_bit = feature_parquet.STALE_TEMPORARY_SECONDS + 60
    os.utime(old, (os.path.getmtime(old) - day_and_a_bit,) * 2)
    result = feature_parquet.compact(directory, min_parts=64)  # too few parts to merge: the clean-up still runs
    assert result.stale_removed == 1 and result.merged == 0
    assert not old.exists() and fresh_one.exists() and len(parts(directory)) == 3
