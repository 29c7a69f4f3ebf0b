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
    assert (meta["backbone"], meta["features"], meta["feature_pool"], meta["feature_shape"]) == ("lite0", "lite0@224", 3, [320, 7, 7])
    assert meta["photos"] == {"train": len(done.fitset.fit), "validation": len(done.fitset.val)}
    assert meta["options"]["min_count"] == 2 and meta["owner_from"] == "library"


def test_too_few_tagged_photos_is_said_before_any_feature_is_computed(tmp_path):
    (tmp_path / "empty").mkdir()
    reporter = CollectingReporter()
    with Index.for_library(tmp_path / "empty") as index, pytest.raises(NotEnoughData, match="too little to learn"):
        finetune(index, FinetuneConfig(device="cpu"), reporter)
    assert [task.description for task in reporter.tasks] == ["Scanning"]
