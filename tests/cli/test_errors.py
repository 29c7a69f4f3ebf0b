"""How commands fail: one `error:` line and the documented exit code (README "Exit codes"), never a
traceback, for an index that cannot be used and for a missing device, model or index (real processes).

Read-only and full file systems are real: as root, a small tmpfs mounted for the test (remounted
read-only, or filled); without root the read-only cases use file modes and the full-disk case is skipped.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import running_as_root
from photos import make_jpeg, write_sidecar

from phototag.errors import EXIT_ERROR, EXIT_INCOMPLETE, EXIT_INDEX, EXIT_OK

pytestmark = pytest.mark.slow  # every test runs phototag in a real process
REPO = Path(__file__).resolve().parents[2]


def phototag(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "phototag", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def fails_in_one_line(proc: subprocess.CompletedProcess, code: int, says: str = "") -> str:
    """The process ended with `code`, one `error:` line on stderr that says `says`, and no traceback."""
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == code and len(errors) == 1, f"exit {proc.returncode}\n{proc.stderr}"
    assert says in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def library(tmp_path) -> Path:
    """Enough tagged photos for finetune and eval to reach the device, and two untagged ones to suggest for."""
    root = tmp_path / "A"
    for i in range(14):
        photo = make_jpeg(root / f"a{i}.jpg", color=(15 * i, 90, 0))
        if i < 12:
            write_sidecar(photo.with_suffix(".xmp"), subjects=["Holiday", "Beach" if i % 2 else "Sea"])
    return root


@contextmanager
def tmpfs(where: Path, size: str = "4m"):
    """A small tmpfs at `where` (root only); unmounted afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)]
    if not running_as_root() or subprocess.run(mount, stderr=subprocess.DEVNULL).returncode:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@contextmanager
def read_only(folder: Path):
    """`folder` (and the files in it) read-only: a read-only remount as root, file modes otherwise."""
    if running_as_root():
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield
        subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)
        return
    for path in folder.iterdir():
        path.chmod(0o444)
    folder.chmod(0o555)
    try:
        yield
    finally:
        folder.chmod(0o755)


@contextmanager
def mount_point(tmp_path: Path):
    if running_as_root():
        with tmpfs(tmp_path / "mnt") as mnt:
            yield mnt
    else:
        (tmp_path / "mnt").mkdir()
        yield tmp_path / "mnt"


# ------------------------------------------------------------------ an index that cannot be used


def test_random_bytes_as_the_index(library, tmp_path):
    index = tmp_path / "b.sqlite"
    index.write_bytes(random.Random(1).randbytes(4096))
    before = index.read_bytes()
    fails_in_one_line(phototag("scan", library, "--index", index), EXIT_INDEX, "is not a SQLite database")
    assert index.read_bytes() == before


def test_an_index_damaged_in_the_middle(tmp_path):
    library = tmp_path / "big"
    for i in range(150):
        photo = make_jpeg(library / f"d{i % 5}" / f"p{i}.jpg", size=(16, 16), color=(i, 0, 0))
        write_sidecar(photo.with_suffix(".xmp"), subjects=[f"keyword number {i} {'x' * 40}", f"tag{i % 9}"])
    index = tmp_path / "i.sqlite"
    assert phototag("scan", library, "--index", index, "-q").returncode == EXIT_OK
    with sqlite3.connect(index) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(index.read_bytes())
    quarter = len(data) // 4
    data[quarter : 3 * quarter] = random.Random(2).randbytes(2 * quarter)
    index.write_bytes(bytes(data))
    for command in ("tags", "scan"):
        fails_in_one_line(phototag(command, library, "--index", index), EXIT_INDEX, "damaged")


def test_a_read_only_index(library, tmp_path):
    with mount_point(tmp_path) as mnt:
        index = mnt / "i.sqlite"
        assert phototag("scan", library, "--index", index, "-q").returncode == EXIT_OK
        with read_only(mnt):
            line = fails_in_one_line(phototag("scan", library, "--index", index), EXIT_INDEX)
    assert "read-only" in line or "cannot be opened" in line


def test_a_read_only_folder_for_a_new_index(library, tmp_path):
    with mount_point(tmp_path) as mnt:
        with read_only(mnt):
            proc = phototag("scan", library, env={"PHOTOTAG_DATA_DIR": str(mnt / "data")})
            line = fails_in_one_line(proc, EXIT_INDEX)
    assert "Read-only file system" in line or "Permission denied" in line


def test_the_disk_of_the_index_full(tmp_path):
    """A real full disk: a 512 KiB tmpfs holding the index of a library with many long keywords."""
    library = tmp_path / "lib"
    for i in range(200):
        photo = make_jpeg(library / f"p{i}.jpg", size=(16, 16), color=(i, 0, 0))
        write_sidecar(photo.with_suffix(".xmp"), subjects=[f"{'long keyword ' * 8}{i}-{j}" for j in range(12)])
    with tmpfs(tmp_path / "small", size="512k") as small:
        proc = phototag("scan", library, "--index", small / "i.sqlite")
    fails_in_one_line(proc, EXIT_INDEX, "the disk that holds it is full")


def test_an_unwritable_log_folder_does_not_stop_the_work(library, tmp_path):
    (library / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder")
    proc = phototag("scan", library, env={"PHOTOTAG_LOG_DIR": str(in_the_way / "logs")})
    assert proc.returncode == EXIT_INCOMPLETE, proc.stderr  # the scan went on: one file skipped
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("cannot write the log file") == 1, proc.stderr
    assert "warnings go to the terminal only" in proc.stderr
    assert "skipped" in proc.stderr and "broken.jpg" in proc.stderr  # the warning itself, on stderr
    assert "photos in library" in proc.stderr


# -------------------------------------------------- every command: missing device, model or index

FOREIGN = "foreign"


def _foreign_index(tmp_path: Path) -> Path:
    path = tmp_path / "other-program.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE contacts (name TEXT)")
    return path


@pytest.fixture
def suggest_file(library, tmp_path) -> Path:
    path = tmp_path / "s.jsonl"
    path.write_text('{"path": "a13.jpg", "suggestions": [{"tag": "sea", "score": 0.5}]}\n', encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "case",
    [
        ("scan", "index folder", EXIT_INDEX),
        ("tags", "never scanned", EXIT_ERROR),
        ("models", "corrupt index", EXIT_INDEX),
        ("suggest", "cuda", EXIT_ERROR),
        ("suggest", "weights", EXIT_ERROR),
        ("review", "cuda", EXIT_ERROR),
        ("apply", FOREIGN, EXIT_INDEX),
        ("undo", "another library", EXIT_INDEX),
        ("finetune", "cuda", EXIT_ERROR),
        ("eval", "cuda", EXIT_ERROR),
        ("eval", "weights", EXIT_ERROR),
        ("export-onnx", "weights", EXIT_ERROR),
    ],
    ids=lambda case: f"{case[0]}-{case[1]}".replace(" ", "-"),
)
def test_each_command_fails_in_one_line(case, library, tmp_path, suggest_file):
    command, what, code = case
    args: list = [command] if command in ("export-onnx",) else [command, library]
    env = {}
    if what == "index folder":
        (tmp_path / "file").write_text("x")
        args += ["--index", tmp_path / "file" / "i.sqlite"]
    elif what == "corrupt index":
        (tmp_path / "noise.sqlite").write_bytes(random.Random(3).randbytes(8192))
        args += ["--index", tmp_path / "noise.sqlite"]
    elif what == "cuda":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        args += ["--device", "cuda"]
    elif what == "weights":
        (tmp_path / "no-weights").mkdir()
        env["PHOTOTAG_WEIGHTS_DIR"] = str(tmp_path / "no-weights")
        args += ["--output", tmp_path / "onnx"] if command == "export-onnx" else ["--device", "cpu"]
    elif what == FOREIGN:
        args = ["apply", suggest_file, "--library", library, "--index", _foreign_index(tmp_path)]
    elif what == "another library":
        other = tmp_path / "B"
        other.mkdir()
        shared = tmp_path / "shared.sqlite"
        assert phototag("scan", other, "--index", shared, "-q").returncode == EXIT_OK
        args += ["--index", shared]
    if command == "tags":
        args += ["--index", tmp_path / "fresh.sqlite"]
    says = {"cuda": "no CUDA device", "weights": "manifest not found", FOREIGN: "another program's database"}
    fails_in_one_line(phototag(*args, env=env), code, says.get(what, ""))


# ------------------------------------------------------------------ one index, two libraries


def test_undo_of_another_library_never_reverts_its_writes(library, tmp_path, suggest_file):
    shared = tmp_path / "shared.sqlite"
    assert phototag("scan", library, "--index", shared, "-q").returncode == EXIT_OK
    assert phototag("apply", suggest_file, "--library", library, "--index", shared, "-q").returncode == EXIT_OK
    (sidecar,) = library.glob("a13*.xmp")
    written = sidecar.read_bytes()
    assert b"sea" in written.lower()  # (apply writes it in the owner's spelling)
    other = tmp_path / "B"
    make_jpeg(other / "b.jpg")
    fails_in_one_line(phototag("undo", other, "--index", shared), EXIT_INDEX, f"belongs to the library {library}")
    fails_in_one_line(phototag("scan", other, "--index", shared), EXIT_INDEX, f"belongs to the library {library}")
    assert sidecar.read_bytes() == written
    with sqlite3.connect(shared) as connection:
        indexed = {bytes(p) for (p,) in connection.execute("SELECT path FROM photos")}
    assert indexed == {p.name.encode() for p in library.glob("*.jpg")}


def test_tags_on_an_empty_folder_just_scanned(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert phototag("scan", empty, "-q").returncode == EXIT_OK
    proc = phototag("tags", empty)
    assert proc.returncode == EXIT_OK, proc.stderr
    assert "no tagged photos" in proc.stderr and "scan` first" not in proc.stderr
