"""--follow-links and --replace-links on the commands (README "Links"): real folder and sidecar links."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from photos import make_jpeg, write_sidecar
from typer.testing import CliRunner

from phototag.cli import app
from phototag.library.xmp_edit import read_fields
from phototag.library.xmp_namespaces import DC_SUBJECT

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def linked(tmp_path) -> tuple[Path, Path]:
    """A library with one photo of its own and a symbolic link to a folder outside it holding another."""
    outside = tmp_path / "elsewhere"
    make_jpeg(outside / "linked.jpg")
    library = tmp_path / "lib"
    make_jpeg(library / "own.jpg")
    (library / "link").symlink_to(outside, target_is_directory=True)
    return library, outside


@pytest.mark.parametrize("command", ["scan", "suggest", "review", "apply", "finetune", "eval"])
def test_every_command_that_scans_or_writes_takes_follow_links(command):
    text = runner.invoke(app, [command, "--help"]).output
    assert "--follow-links" in text
    assert ("--replace-links" in text) == (command in ("suggest", "review", "apply"))


def test_scan_follows_folder_links_only_on_request(linked, tmp_path):
    library, _ = linked
    default = runner.invoke(app, ["scan", str(library), "--json", "-v"], catch_exceptions=False)
    paths = [json.loads(line)["path"] for line in default.stdout.splitlines()]
    assert paths == ["own.jpg"]
    assert "symbolic link to a folder; not followed" in " ".join(default.output.split())
    followed = runner.invoke(app, ["scan", str(library), "--json", "--follow-links"], catch_exceptions=False)
    paths = [json.loads(line)["path"] for line in followed.stdout.splitlines()]
    assert paths == [os.path.join("link", "linked.jpg"), "own.jpg"]


@pytest.mark.slow  # real suggest processes (backbone included)
def test_suggest_write_stays_in_the_library_unless_follow_links(linked, tmp_path):
    library, outside = linked
    target = tmp_path / "target.xmp"  # a sidecar that is a link to a file outside the library
    write_sidecar(target, subjects=["kept"])
    (library / "own.jpg.xmp").symlink_to(target)
    before = target.read_bytes()

    def suggest(*options: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "phototag",
                "suggest",
                str(library),
                "--all",
                "--write",
                "--json",
                "--device",
                "cpu",
                "--new-tags",
                "--min-score",
                "0",
                "-v",
                *options,
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            env={
                **os.environ,
                "PYTHONPATH": str(REPO),
                "OMP_NUM_THREADS": "1",
                "PHOTOTAG_CACHE_DIR": str(tmp_path / "cache"),
            },
        )

    proc = suggest()
    assert [json.loads(line)["path"] for line in proc.stdout.splitlines()] == ["own.jpg"], proc.stderr
    assert "sidecar is a symbolic link" in " ".join(proc.stderr.split())
    assert target.read_bytes() == before and sorted(p.name for p in outside.iterdir()) == ["linked.jpg"]

    proc = suggest("--follow-links", "--replace-links")
    assert proc.returncode == 0, proc.stderr
    assert sorted(json.loads(line)["path"] for line in proc.stdout.splitlines()) == [
        os.path.join("link", "linked.jpg"),
        "own.jpg",
    ]
    assert read_fields((outside / "linked.jpg.xmp").read_bytes())[DC_SUBJECT]
    assert not (library / "own.jpg.xmp").is_symlink() and target.read_bytes() == before
    assert read_fields((library / "own.jpg.xmp").read_bytes())[DC_SUBJECT][0] == "kept"


def _apply(library: Path, tmp_path: Path, tags: dict[str, list[str]], *options: str, code: int = 0):
    reviewed = tmp_path / "s.jsonl"
    reviewed.write_text(
        "".join(json.dumps({"path": rel, "suggestions": ts}) + "\n" for rel, ts in tags.items()), encoding="utf-8"
    )
    result = runner.invoke(app, ["apply", str(reviewed), "--library", str(library), "--verbose", *options])
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


@pytest.fixture
def hard_linked(tmp_path) -> tuple[Path, Path, Path]:
    """A library whose a.jpg.xmp is a hard link of best/a.jpg.xmp (a second folder showing the same photo)."""
    library = tmp_path / "lib"
    make_jpeg(library / "a.jpg")
    (library / "best").mkdir()
    os.link(library / "a.jpg", library / "best" / "a.jpg")
    other = write_sidecar(library / "best" / "a.jpg.xmp", subjects=["kept"])
    sidecar = library / "a.jpg.xmp"
    os.link(other, sidecar)
    return library, sidecar, other


def test_a_hard_linked_sidecar_is_skipped_unless_replace_links_and_undo_links_it_back(hard_linked, tmp_path):
    library, sidecar, other = hard_linked
    before = sidecar.read_bytes()
    text = _apply(library, tmp_path, {"a.jpg": ["new"]}, code=3)
    assert f"skipped {sidecar}: sidecar has 2 hard links; not written" in text
    assert "--replace-links" in text
    assert sidecar.read_bytes() == before and os.path.samefile(sidecar, other)

    _apply(library, tmp_path, {"a.jpg": ["new"]}, "--replace-links")
    assert read_fields(sidecar.read_bytes())[DC_SUBJECT] == ["kept", "new"]
    assert other.read_bytes() == before  # the other name keeps the old content: the link is split
    assert not os.path.samefile(sidecar, other) and os.stat(other).st_nlink == 1

    undo = runner.invoke(app, ["undo", str(library)])
    assert undo.exit_code == 0, undo.output
    assert os.path.samefile(sidecar, other) and os.stat(sidecar).st_nlink == 2  # linked back
    assert sidecar.read_bytes() == before
    assert "linked back" in " ".join(undo.output.split())


def test_undo_says_so_when_the_other_hard_link_is_gone(hard_linked, tmp_path):
    library, sidecar, other = hard_linked
    before = sidecar.read_bytes()
    _apply(library, tmp_path, {"a.jpg": ["new"]}, "--replace-links")
    other.unlink()
    undo = runner.invoke(app, ["undo", str(library), "--verbose"])
    assert undo.exit_code == 0, undo.output
    assert sidecar.read_bytes() == before and os.stat(sidecar).st_nlink == 1
    assert "restored as a separate file" in " ".join(undo.output.split())


# A POSIX access ACL as Linux stores it (system.posix_acl_access): version 2, then (tag, perm, id)
# entries: owner rw, user 4242 rw, group r, mask rw, others r.
ACL = b"".join(
    [(2).to_bytes(4, "little")]
    + [
        tag.to_bytes(2, "little") + perm.to_bytes(2, "little") + uid.to_bytes(4, "little")
        for tag, perm, uid in (
            (1, 6, 0xFFFFFFFF),
            (2, 6, 4242),
            (4, 4, 0xFFFFFFFF),
            (16, 6, 0xFFFFFFFF),
            (32, 4, 0xFFFFFFFF),
        )
    ]
)


def _xattrs_supported(folder: Path) -> bool:
    probe = folder / ".probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.phototag.probe", b"1")
        os.setxattr(probe, "system.posix_acl_access", ACL)
        return True
    except OSError:
        return False
    finally:
        probe.unlink()


@pytest.mark.skipif(not hasattr(os, "setxattr"), reason="extended attributes are Linux-only in Python")
def test_extended_attributes_acls_and_mode_survive_the_rename_and_the_undo(tmp_path):
    library = tmp_path / "lib"
    make_jpeg(library / "a.jpg")
    sidecar = write_sidecar(library / "a.jpg.xmp", subjects=["kept"])
    if not _xattrs_supported(library):
        pytest.skip(f"{library} does not take user attributes and ACLs")
    os.chmod(sidecar, 0o640)
    os.setxattr(sidecar, "user.xdg.tags", b"holiday,family")
    os.setxattr(sidecar, "user.xdg.comment", "caf\u00e9".encode())
    os.setxattr(sidecar, "system.posix_acl_access", ACL)
    attributes = {name: os.getxattr(sidecar, name) for name in os.listxattr(sidecar)}
    mode = os.stat(sidecar).st_mode
    before = sidecar.read_bytes()
    inode = os.stat(sidecar).st_ino

    _apply(library, tmp_path, {"a.jpg": ["new"]})
    assert os.stat(sidecar).st_ino != inode  # renamed over: a new file ...
    assert read_fields(sidecar.read_bytes())[DC_SUBJECT] == ["kept", "new"]
    assert {name: os.getxattr(sidecar, name) for name in os.listxattr(sidecar)} == attributes  # ... with them all
    assert os.stat(sidecar).st_mode == mode

    assert runner.invoke(app, ["undo", str(library)]).exit_code == 0
    assert sidecar.read_bytes() == before
    assert {name: os.getxattr(sidecar, name) for name in os.listxattr(sidecar)} == attributes
    assert os.stat(sidecar).st_mode == mode
