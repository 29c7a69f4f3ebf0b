"""phototag.fsio: the one atomic write, and the clean-up of temp files a killed writer left."""

from __future__ import annotations

import os
import stat
import subprocess

from phototag.fsio import atomic_write, is_temp_name, remove_stale_temps


def test_atomic_write_replaces_with_the_given_mode_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.xmp"
    target.write_bytes(b"old")
    atomic_write(target, b"new", 0o640)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["a.xmp"]


def test_temp_names_are_short_whatever_the_target_name(tmp_path):
    # a name at the usual 255-byte limit: a temp name derived from it could not be created
    target = tmp_path / ("x" * 251 + ".xmp")
    atomic_write(target, b"data")
    assert target.read_bytes() == b"data"


def test_failed_write_removes_its_temp_file(tmp_path):
    target = tmp_path / "missing-folder" / "a.xmp"
    try:
        atomic_write(target, b"data")
    except FileNotFoundError:
        pass
    assert os.listdir(tmp_path) == []


def test_stale_temps_of_dead_writers_go_current_and_legacy_names(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    names = [
        f".pt-{dead.pid}-1.tmp",
        f".IMG.jpg.xmp.phototag-{dead.pid}-2.tmp",  # phototag 0.x sidecar temp name
        f".pt-{os.getpid()}-3.tmp",  # a writer still running
        ".IMG.jpg.xmp.someone-else.tmp",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"partial")
    assert all(is_temp_name(name) for name in names[:3]) and not is_temp_name(names[3])
    removed = remove_stale_temps(tmp_path, os.listdir(tmp_path))
    assert sorted(removed) == sorted(names[:2])
    assert sorted(os.listdir(tmp_path)) == sorted(names[2:])
