"""The eval use case: every row from one split, stages and epochs reported, too little data refused."""

from __future__ import annotations

import pytest
import torch

from phototag.app.evaluate import EvalConfig, evaluate_library, run_eval
from phototag.app.scan import scan
from phototag.evaluate.result import ROWS
from phototag.library.index import Index
from phototag.reporting import CollectingReporter
from phototag.train.finetune import TrainOptions
from phototag.train.fit import NotEnoughData
from tests.train.small_library import build_library


@pytest.mark.slow
def test_run_eval_scores_every_row_and_reports_its_stages(tmp_path):
    library = build_library(tmp_path / "lib", per_look=6, folders=True)
    with Index.for_library(library) as index:
        scan(index, CollectingReporter())
        photos = index.photos()
    generator = torch.Generator().manual_seed(0)
    features = {p.fingerprint: torch.rand(16, 3, 3, generator=generator).half() for p in photos}  # plumbing only
    reporter = CollectingReporter()
    epochs = []
    config = EvalConfig(owner_from="folder", min_count=2, seed=1, train=TrainOptions(epochs=1, seed=1))
    result = run_eval(photos, features, config, reporter, on_epoch=lambda variant, report: epochs.append(variant))

    assert list(result.results) == [key for key, _ in ROWS]
    assert reporter.notes == ["kNN label transfer", "training A1", "training A2", "training A6"]
    assert epochs == ["A1", "A2", "A6"]
    counts = result.counts
    assert counts["tagged_photos"] == 24 and counts["owners"] == 2
    assert counts["fit_photos"] + counts["val_photos"] == counts["train_photos"]
    assert counts["train_photos"] + counts["test_photos_scored"] + counts["test_photos_without_vocabulary_tags"] == 24
    assert result.training["A4"] == result.training["A6"]


def test_too_few_tagged_photos_to_evaluate(tmp_path):
    library = build_library(tmp_path / "lib", per_look=2)  # 8 tagged photos
    with Index.for_library(library) as index, pytest.raises(NotEnoughData, match="only 8 tagged photo"):
        evaluate_library(index, EvalConfig(), CollectingReporter(), device="cpu")
