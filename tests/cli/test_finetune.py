"""`phototag finetune` and `phototag models` on a small real library; interrupted runs resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from phototag.cli import app
from phototag.model import checkpoint as ck
from phototag.model.signals import signal_names
from tests.train.small_library import build_library

REPO = Path(__file__).resolve().parents[2]
FAST = ["--batch-size", "8", "--min-count", "2", "--seed", "3", "--quiet"]


def _cli(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


def _data_dir(library: Path, tmp_path: Path) -> Path:
    from phototag.library.index import Index

    with Index.for_library(library) as index:
        return index.data_dir


@pytest.fixture
def library(tmp_path):
    return build_library(tmp_path / "lib", per_look=5)


@pytest.mark.slow
def test_finetune_saves_a_verified_model_that_models_lists(library, tmp_path):
    result = _cli("finetune", library, "--epochs", "3", "--json", *FAST)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["vocabulary"] == 6  # sunset sea forest snow hike Beach (all used >= 2 times)
    assert summary["train_photos"] + summary["validation_photos"] == 20
    model = ck.load_latest_good(_data_dir(library, tmp_path))
    assert model.id == summary["model"]
    assert set(model.vocabulary) == {"sunset", "sea", "forest", "snow", "hike", "Beach"}
    assert model.tag_path("Beach") == "Places|Beach" and model.tag_path("hike") == "hike"
    assert model.meta["options"]["loss_weights"] == [1.0, 1.0, 1.0, 0.1]
    assert model.meta["backbone"] == "lite2" and model.meta["features"].startswith(
        "lite2@260"
    )  # what suggest must feed it
    # the ranking suggest will use is saved with it: the probe's weights and the blend's, per mode
    assert model.tensors["probe.weight"].shape == (1280, 6)
    assert set(model.meta["blend"]["weights"]) == {"untagged", "partial"}
    # versioned (issue 20): the format, each weighed signal's parameters, how the general signal matched tags
    assert model.meta["blend"]["format"] == 2 and model.meta["blend"]["signals"]["knn"]["k"] == 50
    assert set(model.meta["blend"]["settings"]) == {"general_by_meaning"}
    # 20 photos leave ~3 for validation: finetune says its figures are rough, with the numbers
    assert any(
        f"only {summary['validation_photos']} validation photo(s) (of 20 tagged)" in w for w in summary["warnings"]
    )
    heads = model.build()
    out = heads(torch.zeros(1, *model.meta["feature_shape"]), model.history_for(None)[None])
    assert out.personal_logits.shape == (1, 6)

    # ~3 held-out photos cannot show that the model beats the ranking without it: kept, not made the default
    assert summary["comparison"]["photos"] <= summary["validation_photos"] < 10 and not summary["made_default"]
    listed = _cli("models", library, "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(rows) == 1 and rows[0]["ok"] and not rows[0]["used_by_suggest"] and rows[0]["vocabulary"] == 6
    assert rows[0]["comparison"] == summary["comparison"]


@pytest.mark.slow
def test_models_refuses_a_tampered_model(library, tmp_path):
    assert _cli("finetune", library, "--epochs", "1", *FAST).exit_code == 0
    assert _cli("finetune", library, "--epochs", "1", *FAST).exit_code == 0
    data_dir = _data_dir(library, tmp_path)
    newest, older = ck.list_checkpoints(data_dir)
    assert _cli("models", library, "--use", older.id).exit_code == 0
    weights = newest.path / "heads.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    weights.write_bytes(bytes(blob))
    rows = [json.loads(line) for line in _cli("models", library, "--json").stdout.splitlines()]
    assert [r["ok"] for r in rows] == [False, True]
    assert "checksum" in rows[0]["problem"] and rows[1]["used_by_suggest"]
    table = _cli("models", library)
    assert "broken" in table.stdout and "in use" in table.stdout
    refused = _cli("models", library, "--use", newest.id)
    assert refused.exit_code == 1 and "broken and cannot be used" in refused.output


@pytest.mark.slow
def test_bad_options_are_usage_errors(library):
    assert _cli("finetune", library, "--loss-weights", "1,1").exit_code == 2
    assert _cli("finetune", library, "--device", "gpu").exit_code == 2
    assert _cli("eval", library, "--backbone", "lite9").exit_code == 2
    empty = library.parent / "empty"
    empty.mkdir()
    result = _cli("finetune", empty)
    assert result.exit_code == 1 and "too little to learn" in result.output


def _run(library: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "phototag", "finetune", str(library), *args, *FAST],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_epoch_and_ends_as_an_uninterrupted_run(library, tmp_path):
    data_dir = _data_dir(library, tmp_path)
    # A long run (no early stopping), killed once it has saved at least two epochs.
    process = _run(library, "--epochs", "500", "--patience", "500")
    deadline = time.monotonic() + 240
    saved = 0
    while time.monotonic() < deadline and process.poll() is None:
        states = [p for p in ck.resume_dir(data_dir).glob("*/meta.json")]
        if states:
            saved = json.loads(states[0].read_text())["epoch"]
            if saved >= 2:
                break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert saved >= 2, process.stderr.read()
    assert ck.list_checkpoints(data_dir) == []  # a killed run leaves no model behind
    state = ck.load_resume_state(
        data_dir, signature=json.loads(next(ck.resume_dir(data_dir).glob("*/meta.json")).read_text())["signature"]
    )
    killed_at = state["epoch"]

    # Resume and train two more epochs than were saved.
    resumed = _run(library, "--epochs", str(killed_at + 2), "--patience", "500", "--resume")
    _, err = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, err
    model = ck.load_latest_good(data_dir)
    assert model.meta["metrics"]["epochs_run"] == killed_at + 2
    assert not ck.resume_dir(data_dir).exists() or not any(ck.resume_dir(data_dir).iterdir())

    # The same seed without interruption gives the same weights.
    straight = _run(library, "--epochs", str(killed_at + 2), "--patience", "500")
    _, err = straight.communicate(timeout=240)
    assert straight.returncode == 0, err
    uninterrupted = ck.load_latest_good(data_dir)
    assert uninterrupted.id != model.id
    for name, tensor in model.heads_state().items():
        assert torch.equal(tensor, uninterrupted.heads_state()[name]), name


@pytest.mark.slow
def test_suggest_uses_the_personal_model_after_finetune(tmp_path):
    from tests.train.small_library import LOOKS, make_photo

    library = build_library(tmp_path / "lib", per_look=5)
    make_photo(library / "new" / "sea_new.jpg", LOOKS["sea"][0], seed=101)
    make_photo(library / "new" / "forest_new.jpg", LOOKS["forest"][0], seed=102)
    trained = _cli("finetune", library, "--epochs", "15", "--patience", "15", "--json", *FAST)
    assert trained.exit_code == 0, trained.output
    model_id = json.loads(trained.stdout.strip().splitlines()[-1])["model"]
    assert _cli("models", library, "--use", model_id).exit_code == 0  # 3 held-out photos: not made the default
    result = _cli("suggest", library, "--json", "--top-k", "3", "--quiet")
    assert result.exit_code == 0, result.output
    rows = {json.loads(line)["path"]: json.loads(line) for line in result.stdout.splitlines()}
    assert set(rows) == {"new/sea_new.jpg", "new/forest_new.jpg"}  # only the untagged photos
    for row in rows.values():
        assert row["model"] == f"personal:{model_id}"
        # the blend fitted by finetune ranks; each suggestion names the signals that raised it
        assert all(set(s["source"].split("+")) <= set(signal_names()) for s in row["suggestions"])
        assert {s["tag"] for s in row["suggestions"]} <= {"sunset", "sea", "forest", "snow", "hike", "Places|Beach"}
    # the owner's words for what the photos show, hierarchical ones with their path
    assert "sea" in [s["tag"] for s in rows["new/sea_new.jpg"]["suggestions"]]
    assert "forest" in [s["tag"] for s in rows["new/forest_new.jpg"]["suggestions"]]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_models_use_and_remove_round_trip_and_suggest_names_the_model_in_use(library, tmp_path):
    trained = _cli("finetune", library, "--epochs", "1", "--json", *FAST[:-1])  # not --quiet: the terminal line
    first = json.loads(trained.stdout.splitlines()[-1])
    assert not first["made_default"] and first["in_use"] is None  # suggest had no personal model and keeps none
    figures = first["comparison"]
    assert (
        f"personal model: P@5 {figures['with']:.2f} on {figures['photos']} held-out photo(s) vs "
        f"{figures['without']:.2f} without it — too few to tell (10 needed): kept as an option, not made the "
        "default (suggest keeps no personal model"
    ) in " ".join(trained.output.split())

    def in_use():
        rows = [json.loads(line) for line in _cli("models", library, "--json").stdout.splitlines()]
        return [row["id"] for row in rows if row["used_by_suggest"]]

    def suggest_line():
        result = _cli("suggest", library, "--top-k", "2")
        assert result.exit_code == 0, result.output
        return [line for line in result.stdout.splitlines() if line.startswith("model: ")]

    from tests.train.small_library import LOOKS, make_photo

    make_photo(library / "new" / "sea_new.jpg", LOOKS["sea"][0], seed=101)
    assert in_use() == [] and "no personal model" in suggest_line()[0]
    used = _cli("models", library, "--use", first["model"])
    assert used.exit_code == 0 and f"now uses personal model {first['model']}" in used.output
    assert in_use() == [first["model"]] and suggest_line() == [
        f"model: personal model {first['model']} (`phototag models DIR` lists and chooses models)"
    ]
    # a second finetune that does not beat the ranking without it keeps the model chosen
    second = json.loads(
        _cli("finetune", library, "--epochs", "1", "--json", *FAST[:-3], "--seed", "4", "--quiet").stdout.splitlines()[
            -1
        ]
    )
    assert not second["made_default"] and second["in_use"] == first["model"] and in_use() == [first["model"]]
    assert _cli("models", library, "--use", "general").exit_code == 0 and in_use() == []
    assert "no personal model" in suggest_line()[0]
    assert _cli("models", library, "--use", "nope").exit_code == 1

    photos = _tree(library)
    models_dir = ck.models_dir(_data_dir(library, tmp_path))
    asked = _cli("models", library, "--remove", second["model"])  # no terminal to ask on: nothing without --yes
    assert asked.exit_code == 2 and "--yes" in asked.output and (models_dir / second["model"]).is_dir()
    assert _cli("models", library, "--use", second["model"]).exit_code == 0 and in_use() == [second["model"]]
    removed = _cli("models", library, "--remove", second["model"], "--yes")
    assert removed.exit_code == 0 and "now ranks without a personal model" in removed.output
    assert not (models_dir / second["model"]).exists() and in_use() == []  # no silent switch to the other one
    assert _cli("models", library, "--remove", first["model"], "-y").exit_code == 0
    assert _cli("models", library, "--json").stdout == "" and _tree(library) == photos  # the photos untouched
    assert _cli("models", library, "--remove", first["model"], "-y").exit_code == 1
