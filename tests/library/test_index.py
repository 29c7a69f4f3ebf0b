"""The SQLite index: schema versions, migrations, per-library location, concurrent writers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from photos import make_jpeg, write_sidecar

from phototag.library import index as index_module
from phototag.library.index import SCHEMA_VERSION, Index, IndexError_, default_index_path, fingerprint_file


def test_default_location_is_per_library_under_data_dir(tmp_path, isolated_user_dirs):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    path_a, path_b = default_index_path(a), default_index_path(b)
    assert path_a != path_b
    assert path_a.is_relative_to(isolated_user_dirs / "data")
    # the same library reached through another spelling of its path gets the same index
    assert default_index_path(tmp_path / "a" / ".." / "a") == path_a


def test_new_index_has_current_schema_and_all_tables(tmp_path):
    with Index(tmp_path / "i.sqlite", tmp_path) as index:
        assert index.schema_version == SCHEMA_VERSION
        tables = {r[0] for r in index.connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        mode = index.connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert {"photos", "keywords", "features", "write_batches", "write_journal", "meta"} <= tables
    assert "suggestions" not in tables  # dropped in schema 2: nothing read it
    assert mode == "wal"


def test_schema_1_index_migrates_and_keeps_its_photos(tmp_path, monkeypatch):
    db = tmp_path / "i.sqlite"
    with monkeypatch.context() as old:  # an index written by a phototag of schema 1
        old.setattr(index_module, "SCHEMA_VERSION", 1)
        with Index(db, tmp_path) as index:
            assert index.schema_version == 1
            with index.write() as connection:
                connection.execute(
                    "INSERT INTO photos(path, display_path, folder, size, mtime_ns, scanned_at) VALUES (x'612e6a7067', 'a.jpg', '', 1, 1, 0)"
                )
                connection.execute("INSERT INTO suggestions VALUES (1, 'sea', 0.5, 'general', 'm', 0)")
    with Index(db, tmp_path) as index:
        assert index.schema_version == SCHEMA_VERSION >= 2
        tables = {r[0] for r in index.connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "suggestions" not in tables
        assert [p.display_path for p in index.photos()] == ["a.jpg"]


def test_migration_path_runs_appended_steps(tmp_path, monkeypatch):
    db = tmp_path / "i.sqlite"
    Index(db, tmp_path).close()
    monkeypatch.setattr(index_module, "MIGRATIONS", index_module.MIGRATIONS + ["ALTER TABLE photos ADD COLUMN rating INTEGER"])
    monkeypatch.setattr(index_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with Index(db, tmp_path) as index:
        assert index.schema_version == SCHEMA_VERSION + 1
        columns = {r[1] for r in index.connection.execute("PRAGMA table_info(photos)")}
    assert "rating" in columns


def test_index_from_a_newer_phototag_is_refused(tmp_path):
    db = tmp_path / "i.sqlite"
    Index(db, tmp_path).close()
    with sqlite3.connect(db) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    with pytest.raises(IndexError_, match="newer than this phototag"):
        Index(db, tmp_path)


def test_fingerprint_follows_content_not_name(tmp_path):
    a = make_jpeg(tmp_path / "a.jpg", size=(800, 600))
    b = tmp_path / "renamed.jpg"
    b.write_bytes(a.read_bytes())
    c = make_jpeg(tmp_path / "c.jpg", size=(800, 600), color=(0, 90, 0))
    assert fingerprint_file(a) == fingerprint_file(b) != fingerprint_file(c)


SCAN_SCRIPT = """
import sys
from phototag.reporting import CollectingReporter
from phototag.library.index import Index
from phototag.library.scan import scan_library
root, db = sys.argv[1], sys.argv[2]
for _ in range(3):
    with Index(db, root) as index:
        summary = scan_library(index, CollectingReporter())
print(summary.photos)
"""


@pytest.mark.slow
def test_two_processes_scanning_one_library_do_not_corrupt_it(tmp_path):
    library = tmp_path / "lib"
    for i in range(300):
        photo = make_jpeg(library / f"f{i % 7}" / f"IMG_{i:04}.jpg", size=(32, 32), color=(i % 255, 0, 0))
        write_sidecar(photo.with_suffix(".xmp"), subjects=[f"tag{i % 5}"])
    db = tmp_path / "shared.sqlite"
    repo = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen([sys.executable, "-c", SCAN_SCRIPT, str(library), str(db)], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, results):
        assert proc.returncode == 0, err
        assert out.strip() == "300"
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("SELECT COUNT(*) FROM photos").fetchone()[0] == 300
        # each photo's keywords stored exactly once despite two writers
        assert connection.execute("SELECT COUNT(*) FROM keywords").fetchone()[0] == 300


def test_opening_waits_out_a_lock_that_sqlite_reports_without_waiting(tmp_path):
    """SQLite can refuse the WAL switch at once while another process opens or closes the index;
    with its busy handler off, a held exclusive lock gives that same immediate refusal."""
    import threading

    db = tmp_path / "x.sqlite"
    index = Index(db, tmp_path)
    index.connection.execute("PRAGMA journal_mode = DELETE")
    index.connection.execute("PRAGMA busy_timeout = 0")
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        index._enable_wal(patience_s=0.2)  # a lock that stays: a clear error after the patience
    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    index._enable_wal(patience_s=10)
    assert index.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()
    index.close()
