"""The finetune use case: progress and notes through a Reporter, a saved model that says which features it reads."""

from __future__ import annotations

import json

import pytest

from phototag.app.finetune import FinetuneConfig, finetune
from phototag.library.index import Index
from phototag.reporting import CollectingReporter
from phototag.train.finetune import TrainOptions
from phototag.train.fit import NotEnoughData, batches_per_epoch
from tests.train.small_library import build_library


@pytest.mark.slow
def test_finetune_reports_through_the_reporter_and_saves_the_features_it_learnt(tmp_path):
    library = build_library(tmp_path / "lib", per_look=5)
    reporter = CollectingReporter()
    config = FinetuneConfig(min_count=2, train=TrainOptions(epochs=2, batch_size=8, seed=3), device="cpu", resume=True)
    epochs = []
    with Index.for_library(library) as index:
        done = finetune(index, config, reporter, on_epoch=epochs.append)

    assert [task.description for task in reporter.tasks] == ["Scanning", "Backbone features", "Training"]
    features_task, training = reporter.tasks[1:]
    assert features_task.done == features_task.total_count == 20
    steps = batches_per_epoch(done.fitset, config.train) * 2
    assert training.done == training.total_count == steps
    assert [report.epoch for report in epochs] == [1, 2]
    assert reporter.notes[0].startswith("nothing to resume") and reporter.notes[1].startswith("training on ")

    meta = json.loads((done.folder / "meta.json").read_text())
    # the default backbone (Lite2); the features' kind (float or int8) is what the device gave
    assert (meta["backbone"], meta["feature_pool"], meta["feature_shape"]) == ("lite2", 3, [352, 9, 9])
    assert meta["features"].startswith("lite2@260")
    assert meta["photos"] == {"train": len(done.fitset.fit), "validation": len(done.fitset.val)}
    assert meta["options"]["min_count"] == 2 and meta["owner_from"] == "library"


def test_too_few_tagged_photos_is_said_before_any_feature_is_computed(tmp_path):
    (tmp_path / "empty").mkdir()
    reporter = CollectingReporter()
    with Index.for_library(tmp_path / "empty") as index, pytest.raises(NotEnoughData, match="too little to learn"):
        finetune(index, FinetuneConfig(device="cpu"), reporter)
    assert [task.description for task in reporter.tasks] == ["Scanning"]


def test_a_personal_model_beats_the_ranking_without_it_only_by_more_than_chance_on_enough_photos():
    from phototag.app.finetune import MIN_COMPARISON_PHOTOS, Comparison

    n = MIN_COMPARISON_PHOTOS
    assert Comparison([0.4] * n, [0.2] * n).beats  # better on every photo
    assert not Comparison([0.2] * n, [0.4] * n).beats  # worse
    assert not Comparison([0.4] * n, [0.4] * n).beats  # a tie keeps what suggest had
    assert not Comparison([0.4] * (n - 1), [0.2] * (n - 1)).beats  # too few photos to tell
    noisy_with, noisy_without = [0.6, 0.0] * n, [0.2, 0.2] * n  # 0.1 better on average, as often worse as better
    assert not Comparison(noisy_with, noisy_without).beats
    assert Comparison([0.6, 0.4] * n, [0.4, 0.4] * n).beats  # smaller, but never worse
    summary = Comparison([0.2, 0.0, 0.2, 0.4], [0.2, 0.2, 0.2, 0.2]).as_dict()
    assert summary == {"metric": "P@5", "photos": 4, "with": 0.2, "without": 0.2, "beats": False}
    assert Comparison([], []).as_dict()["with"] is None and not Comparison([], []).beats


@pytest.mark.slow
def test_a_finetune_on_the_example_library_that_does_not_beat_the_ranking_without_it_is_not_made_the_default(tmp_path):
    import shutil
    from pathlib import Path

    from phototag.model import checkpoint as ck

    library = shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "library", tmp_path / "lib")
    config = FinetuneConfig(train=TrainOptions(epochs=4, seed=0), device="cpu")
    with Index(tmp_path / "index.sqlite", library) as index:
        done = finetune(index, config, CollectingReporter())
        comparison = done.comparison
        # both rankings scored on the same held-out photos (those of the 4 validation photos with a tag in the
        # vocabulary): too few to switch on
        assert 1 <= comparison.photos == len([t for t in done.fitset.val.truths if t]) <= 4
        assert 0 <= comparison.as_dict()["with"] <= 1 and 0 <= comparison.as_dict()["without"] <= 1
        assert not done.made_default and done.in_use is None
        assert ck.chosen(index) == ck.GENERAL and ck.load_in_use(index) is None  # suggest keeps what it had: none
        meta = json.loads((done.folder / "meta.json").read_text())
        assert meta["metrics"]["comparison"] == comparison.as_dict()
