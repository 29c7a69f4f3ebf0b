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
            [sys.executable, "-m", "phototag", "suggest", str(library), "--all", "--write", "--json", "--device", "cpu", "--new-tags", "--min-score", "0", "-v", *options],
            cwd=REPO, capture_output=True, text=True, timeout=600,
            env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PHOTOTAG_CACHE_DIR": str(tmp_path / "cache")},
        )

    proc = suggest()
    assert [json.loads(line)["path"] for line in proc.stdout.splitlines()] == ["own.jpg"], proc.stderr
    assert "sidecar is a symbolic link" in " ".join(proc.stderr.split())
    assert target.read_bytes() == before and sorted(p.name for p in outside.iterdir()) == ["linked.jpg"]

    proc = suggest("--follow-links", "--replace-links")
    assert proc.returncode == 0, proc.stderr
    assert sorted(json.loads(line)["path"] for line in proc.stdout.splitlines()) == [os.path.join("link", "linked.jpg"), "own.jpg"]
    assert read_fields((outside / "linked.jpg.xmp").read_bytes())[DC_SUBJECT]
    assert not (library / "own.jpg.xmp").is_symlink() and target.read_bytes() == before
    assert read_fields((library / "own.jpg.xmp").read_bytes())[DC_SUBJECT][0] == "kept"
