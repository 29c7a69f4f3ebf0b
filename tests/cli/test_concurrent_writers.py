"""Issue 18 item 2: two phototag writers at once on the same photos never lose a tag.

Real `phototag apply` processes (and `suggest --write` beside `apply`) on the same 40 photos, several
rounds; every sidecar must then hold every run's tags (read by phototag and by exiftool), and undoing
the batches one by one never takes away a tag of a batch not yet undone and ends byte for byte where
the library started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from photos import make_jpeg, write_sidecar

from phototag.fsio import locked_folder
from phototag.library.xmp_edit import read_fields
from phototag.library.xmp_namespaces import DC_SUBJECT

PHOTOS = 40
ROUNDS = 4


def build(root: Path) -> list[Path]:
    """40 photos: half with a sidecar holding `own`, half with none (both writers race to create it)."""
    photos = []
    for i in range(PHOTOS):
        photo = make_jpeg(root / f"IMG_{i:04d}.jpg", color=(5 * i, 90, 160))
        if i % 2 == 0:
            write_sidecar(root / f"IMG_{i:04d}.jpg.xmp", subjects=["own"])
        photos.append(photo)
    return photos


def suggest_file(path: Path, root: Path, photos: list[Path], tag: str) -> Path:
    lines = [json.dumps({"path": p.name, "abs_path": str(p), "suggestions": [{"tag": tag}]}) for p in photos]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# `phototag ARGS` in a process that waits, imports done, until GATE exists: runs started together
# then write at the same moment instead of one finishing while the other still starts up.
GATED = """
import os, sys, time
import phototag.app.write, phototag.cli
gate = sys.argv.pop(1)
open(f"{gate}.ready.{os.getpid()}", "w").close()
while not os.path.exists(gate):
    time.sleep(0.001)
sys.argv[0] = "phototag"
phototag.cli.main()
"""


def phototag(*args: str, gate: Path | None = None) -> subprocess.Popen:
    command = [sys.executable, "-c", GATED, str(gate)] if gate is not None else [sys.executable, "-m", "phototag"]
    return subprocess.Popen([*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())


def open_gate(gate: Path, processes: list[subprocess.Popen]) -> None:
    """Open the gate once every process waits at it."""
    deadline = time.monotonic() + 120
    while any(p.poll() is None and not Path(f"{gate}.ready.{p.pid}").exists() for p in processes):
        assert time.monotonic() < deadline, "the writers did not start"
        time.sleep(0.01)
    gate.touch()


def batch_windows(root: Path) -> list[tuple[int, float, float]]:
    """Each write batch's (id, first write, last write), from the index journal."""
    from phototag.library.index import Index

    with Index.for_library(root) as index:
        return index.connection.execute(
            "SELECT batch_id, MIN(written_at), MAX(written_at) FROM write_journal GROUP BY batch_id ORDER BY batch_id"
        ).fetchall()


def overlapped(windows: list[tuple[int, float, float]]) -> bool:
    (_, start_a, end_a), (_, start_b, end_b) = windows[-2:]
    return start_a < end_b and start_b < end_a


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out.decode(), err.decode()


def subjects(photo: Path) -> list[str]:
    sidecar = photo.with_name(photo.name + ".xmp")
    return read_fields(sidecar.read_bytes()).get(DC_SUBJECT, []) if sidecar.exists() else []


def exiftool_subjects(exiftool: str, root: Path) -> dict[str, list[str]]:
    out = subprocess.run(
        [exiftool, "-j", "-XMP-dc:Subject", "-ext", "xmp", str(root)], capture_output=True, text=True, check=True
    ).stdout
    found = {}
    for record in json.loads(out):
        value = record.get("Subject", [])
        found[Path(record["SourceFile"]).name] = [str(v) for v in (value if isinstance(value, list) else [value])]
    return found


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}


def undo_all(root: Path, batch_tags: list[dict[str, set[str]]]) -> list[str]:
    """Undo newest first; after each undo every sidecar still holds what the batches not yet undone added to it."""
    outputs = []
    for remaining in range(len(batch_tags), 0, -1):
        code, out, err = finish(phototag("undo", str(root), "-v"))
        assert code in (0, 3), err
        outputs.append(err)
        for batch in batch_tags[: remaining - 1]:
            for name, tags in batch.items():
                sidecar = root / name
                have = {t.casefold() for t in read_fields(sidecar.read_bytes()).get(DC_SUBJECT, [])}
                missing = {t for t in tags if t.split("|")[-1].casefold() not in have}
                assert not missing, f"undo took {missing} from {name}:\n{err}"
    return outputs


@pytest.mark.slow
def test_two_apply_processes_lose_no_tag_and_undo_is_byte_exact(tmp_path, exiftool):
    root = tmp_path / "lib"
    photos = build(root)
    start = snapshot(root)
    lost, overlaps = 0, 0
    for round_ in range(ROUNDS):
        a, b = f"TagA{round_}", f"TagB{round_}"
        # The same photos in opposite orders, so the two runs meet in the middle and cross.
        gate = tmp_path / f"gate{round_}"
        first = phototag("apply", str(suggest_file(tmp_path / "a.jsonl", root, photos, a)), "-l", str(root), gate=gate)
        second = phototag(
            "apply", str(suggest_file(tmp_path / "b.jsonl", root, photos[::-1], b)), "-l", str(root), gate=gate
        )
        open_gate(gate, [first, second])
        for process in (first, second):
            code, _, err = finish(process)
            assert code == 0, err
        overlaps += overlapped(batch_windows(root))
        for i, photo in enumerate(photos):
            have = subjects(photo)
            wanted = [t for r in range(round_ + 1) for t in (f"TagA{r}", f"TagB{r}")] + (["own"] if i % 2 == 0 else [])
            lost += sum(t not in have for t in wanted)
    # The gate starts both at once, but on a loaded machine one run can finish before the other writes (2 of 4
    # rounds overlapped once on two busy cores); one overlapping round is what makes the counts below mean something.
    assert overlaps >= 1, f"the two runs never wrote at the same time in {ROUNDS} rounds"
    assert lost == 0, f"{lost} tag(s) lost over {ROUNDS} rounds"
    found = exiftool_subjects(exiftool, root)
    assert len(found) == PHOTOS
    for name, subjects_found in found.items():
        assert {f"TagA{r}" for r in range(ROUNDS)} | {f"TagB{r}" for r in range(ROUNDS)} <= set(subjects_found), name
    # The runs crossed: undoing the later batch keeps the sidecars the other run wrote after it (and
    # says so); undoing that one then finishes them, and all undone, every byte is as it was.
    outputs = undo_all(root, _batch_tags(root, 2 * ROUNDS))
    assert any("written again by batch" in out for out in outputs)
    assert snapshot(root) == start


def _batch_tags(root: Path, batches: int) -> list[dict[str, set[str]]]:
    """What each write batch added to each sidecar (file name -> tags), oldest batch first, from the journal."""
    from phototag.library.index import Index

    with Index.for_library(root) as index:
        rows = index.connection.execute("SELECT batch_id, sidecar, tags FROM write_journal").fetchall()
    by_batch: dict[int, dict[str, set[str]]] = {}
    for batch, sidecar, tags in rows:
        name = Path(os.fsdecode(bytes(sidecar))).name
        by_batch.setdefault(batch, {}).setdefault(name, set()).update(json.loads(tags))
    assert len(by_batch) == batches
    return [by_batch[b] for b in sorted(by_batch)]


VOCABULARY = ["harbour", "boat", "gull", "pier", "sunset", "rope", "net", "buoy"]


@pytest.mark.slow
def test_suggest_write_beside_apply_loses_no_tag(tmp_path, exiftool, monkeypatch):
    """`suggest --write` and `apply` at once, two rounds. suggest writes for under a second at a moment
    of its own, so the test holds the folder's lock (as a third writer would) until both wait for it."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")  # suggest's first JSON line shows it is about to write
    root = tmp_path / "lib"
    photos = []
    for i in range(PHOTOS):  # every photo tagged with 2 of the 8 words: suggest offers the others
        photos.append(make_jpeg(root / f"IMG_{i:04d}.jpg", color=(5 * i, 90, 160)))
        write_sidecar(root / f"IMG_{i:04d}.jpg.xmp", subjects=[VOCABULARY[i % 8], VOCABULARY[(i + 3) % 8]])
    start = snapshot(root)
    lost = written = overlaps = 0
    for round_ in range(2):
        gate = tmp_path / f"gate{round_}"
        reviewed = suggest_file(tmp_path / "a.jsonl", root, photos[::-1], f"Apply{round_}")
        applying = phototag("apply", str(reviewed), "-l", str(root), gate=gate)
        with locked_folder(root):
            suggesting = phototag(
                "suggest", str(root), "--all", "--write", "--json", "--min-score", "0", "--top-k", "2"
            )
            first_line = suggesting.stdout.readline()  # printed just before its first write, which now waits
            open_gate(gate, [applying])
            time.sleep(4)  # apply reads its file and waits for the lock too
        out = (first_line + suggesting.stdout.read()).decode()  # (communicate would lose what readline buffered)
        err = suggesting.stderr.read().decode()
        assert suggesting.wait() == 0, err
        assert finish(applying)[0] == 0
        overlaps += overlapped(batch_windows(root))
        for record in map(json.loads, out.splitlines()):
            wanted = [s["tag"] for s in record["suggestions"]] + [f"Apply{round_}"]
            have = [t.casefold() for t in subjects(root / record["path"])]
            written += len(wanted)
            lost += sum(t.casefold() not in have for t in wanted)
    assert overlaps == 2, f"suggest and apply wrote at the same time in {overlaps} of 2 rounds"
    assert written > 3 * PHOTOS  # suggest offered tags to (nearly) every photo
    assert lost == 0, f"{lost} of {written} tag(s) lost"
    assert len(exiftool_subjects(exiftool, root)) == PHOTOS
    undo_all(root, _batch_tags(root, 4))
    assert snapshot(root) == start
