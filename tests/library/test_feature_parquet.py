"""The Parquet feature dataset a Ray cluster's workers append to (phototag.library.feature_parquet), and
feature_store.get_many reading it after the index's own table."""

from __future__ import annotations

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
