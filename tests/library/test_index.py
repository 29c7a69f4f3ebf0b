"""The SQLite index: schema versions, migrations, per-library location, concurrent writers."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from photos import make_jpeg, write_sidecar

from phototag.errors import EXIT_INDEX
from phototag.library import index as index_module
from phototag.library.index import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    Index,
    IndexError_,
    default_index_path,
    fingerprint_file,
)


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
                    "INSERT INTO photos(path, display_path, folder, size, mtime_ns, scanned_at) VALUES "
                    "(x'612e6a7067', 'a.jpg', '', 1, 1, 0)"
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
    monkeypatch.setattr(
        index_module, "MIGRATIONS", index_module.MIGRATIONS + ["ALTER TABLE photos ADD COLUMN rating INTEGER"]
    )
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
        subprocess.Popen(
            [sys.executable, "-c", SCAN_SCRIPT, str(library), str(db)],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
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


# ----------------------------------------------------- whose index, whose file (issue 18 items 5, 9, 11, 14)


def test_an_index_belongs_to_the_root_that_made_it(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(), b.mkdir()
    db = tmp_path / "shared.sqlite"
    Index(db, a).close()
    with pytest.raises(IndexError_, match=r"belongs to the library .*A, not .*B") as refused:
        Index(db, b)
    assert refused.value.exit_code == EXIT_INDEX
    with Index(db, a / "x" / "..") as index:  # the same root, spelt another way
        assert index.notes == []


def test_an_old_index_without_a_root_is_adopted_by_the_first_root_and_says_so(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(), b.mkdir()
    db = tmp_path / "old.sqlite"
    with Index(db, a) as index, index.write() as connection:
        connection.execute(
            "INSERT INTO photos(path, display_path, folder, size, mtime_ns, scanned_at) VALUES (x'61', 'a', "
            "'', 1, 1, 0)"
        )
        connection.execute("DELETE FROM meta WHERE key = 'root'")
    with Index(db, b) as index:
        assert index.notes == [f"index {db} named no library folder; it now belongs to {b}"]
    with pytest.raises(IndexError_, match="belongs to the library"):
        Index(db, a)


def _foreign(path: Path, application_id: int = 0, wal: bool = False) -> bytes:
    connection = sqlite3.connect(path)
    if wal:
        connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    connection.execute("INSERT INTO notes(body) VALUES ('mine, not phototag''s')")
    connection.execute(f"PRAGMA application_id = {application_id}")
    connection.commit()
    connection.close()
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["tables", "application_id", "empty_with_id", "wal"])
def test_another_programs_sqlite_file_is_refused_untouched(tmp_path, kind):
    db = tmp_path / "other.sqlite"
    if kind == "empty_with_id":  # no tables, but another program's mark in the header
        connection = sqlite3.connect(db)
        connection.execute("PRAGMA application_id = 1234")
        connection.commit()
        connection.close()
        before = db.read_bytes()
    else:
        before = _foreign(db, application_id=0x0F0F if kind == "application_id" else 0, wal=kind == "wal")
    listing = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(IndexError_, match="another program's database") as refused:
        Index(db, tmp_path)
    assert "left untouched" in str(refused.value)
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no -wal, no -shm, no data folder
    with sqlite3.connect(db) as connection:
        assert {r[0] for r in connection.execute("SELECT name FROM sqlite_master")} <= {"notes"}
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == ("wal" if kind == "wal" else "delete")


def test_phototag_indexes_are_marked_and_old_ones_get_the_mark(tmp_path, monkeypatch):
    with Index(tmp_path / "new.sqlite", tmp_path) as index:
        assert index.connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    old = tmp_path / "old.sqlite"
    with monkeypatch.context() as before:  # an index of schema 3, from before the mark
        before.setattr(index_module, "SCHEMA_VERSION", 3)
        Index(old, tmp_path).close()
    with sqlite3.connect(old) as connection:
        assert connection.execute("PRAGMA application_id").fetchone()[0] == 0
    with Index(old, tmp_path) as index:
        assert index.schema_version == SCHEMA_VERSION
        assert index.connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_random_bytes_and_a_damaged_index_give_one_line(tmp_path):
    noise = tmp_path / "noise.sqlite"
    noise.write_bytes(os.urandom(4096))
    with pytest.raises(IndexError_, match="is not a SQLite database"):
        Index(noise, tmp_path)
    assert len(noise.read_bytes()) == 4096
    damaged = tmp_path / "damaged.sqlite"
    with Index(damaged, tmp_path) as index, index.write() as connection:
        connection.executemany(
            "INSERT INTO photos(path, display_path, folder, size, mtime_ns, scanned_at) VALUES (?, ?, '', 1, 1, 0)",
            [(f"p{i}".encode(), f"p{i}" * 20) for i in range(3000)],
        )
    with sqlite3.connect(damaged) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 8192] = os.urandom(8192)
    damaged.write_bytes(bytes(data))
    with pytest.raises(IndexError_, match="is damaged|is not a SQLite database"):
        with Index(damaged, tmp_path) as index:
            index.photos()


@pytest.mark.slow  # about 20 s on a loaded two-core machine: SQLite deleting 260,000 rows and their indexes
def test_forgetting_260000_vanished_photos_works_in_chunks(tmp_path):
    """More vanished photos than SQLite's limit on bound parameters (250,000 in this build's Python,
    32,766 in stock SQLite): the scan of the now empty folder forgets them all."""
    from phototag.library.scan import scan_library
    from phototag.reporting import CollectingReporter

    library = tmp_path / "lib"
    library.mkdir()
    count = 260_000
    with Index(tmp_path / "i.sqlite", library) as index:
        with index.write() as connection:
            connection.executemany(
                "INSERT INTO photos(path, display_path, folder, size, mtime_ns, fingerprint, scanned_at)"
                " VALUES (?, ?, '', 1, 1, ?, 0)",
                ((f"d/p{i}.jpg".encode(), f"d/p{i}.jpg", f"{i:032x}") for i in range(count)),
            )
        summary = scan_library(index, CollectingReporter())
        assert (summary.removed, summary.moved, index.photo_count()) == (count, 0, 0)


def test_index_files_and_folders_are_private_whatever_the_umask(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    previous = os.umask(0)
    try:
        with Index(shared / "new" / "deeper" / "i.sqlite", tmp_path) as index, index.write():
            index.mark_scanned()  # the WAL and its index exist now
            files = [index.db_path, Path(f"{index.db_path}-wal"), Path(f"{index.db_path}-shm")]
            folders = [shared / "new", shared / "new" / "deeper", index.data_dir]
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files + folders}
    finally:
        os.umask(previous)
    assert modes == {p.name: (0o600 if p in files else 0o700) for p in files + folders}
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # an existing folder keeps its mode


def test_a_full_index_in_use_is_one_index_error(tmp_path):
    """A full disk without root: SQLite's max_page_count makes the file full mid-scan (tests/cli/test_errors.py
    fills a real tmpfs as root)."""
    from phototag.library.scan import scan_library
    from phototag.reporting import CollectingReporter

    library = tmp_path / "lib"
    for i in range(40):
        photo = make_jpeg(library / f"p{i}.jpg", size=(16, 16), color=(i, 0, 0))
        write_sidecar(photo.with_suffix(".xmp"), subjects=[f"{'long keyword ' * 8}{i}-{j}" for j in range(12)])
    with pytest.raises(IndexError_, match="the disk that holds it is full") as full:
        with Index(tmp_path / "i.sqlite", library) as index:
            pages = index.connection.execute("PRAGMA page_count").fetchone()[0]
            index.connection.execute(f"PRAGMA max_page_count = {pages + 2}")
            scan_library(index, CollectingReporter())
    assert full.value.exit_code == EXIT_INDEX
    with Index(tmp_path / "i.sqlite", library) as index:  # nothing half written: the batch was rolled back
        assert index.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_processes_opening_a_new_index_at_once_never_take_it_for_another_programs(tmp_path):
    """Several openers of one new index at the same moment: whoever comes second reads the file while the first
    is creating its tables, and must see either an empty file or a whole phototag index (CI once saw tables
    from before the first opener's commit with the schema version from after it: 'another program's database')."""
    import threading

    for round_ in range(25):
        root = tmp_path / f"lib{round_}"
        root.mkdir()
        start, errors = threading.Barrier(4), []

        def open_it(root=root, start=start, errors=errors) -> None:
            start.wait()
            try:
                with Index(tmp_path / f"index{round_}.sqlite", root):
                    pass
            except Exception as error:  # noqa: BLE001 - collected for the assertion
                errors.append(error)

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
