"""The eval use case: every row from one split, stages and epochs reported, too little data refused."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from phototag.app.evaluate import EvalConfig, evaluate_library, run_eval
from phototag.app.scan import scan
from phototag.evaluate.baselines import TUNING
from phototag.evaluate.result import ROWS
from phototag.library.index import Index
from phototag.reporting import CollectingReporter
from phototag.train.finetune import TrainOptions
from phototag.train.fit import NotEnoughData
from tests.train.small_library import build_library


def _scanned_photos(tmp_path):
    library = build_library(tmp_path / "lib", per_look=6, folders=True)
    with Index.for_library(library) as index:
        scan(index, CollectingReporter())
        return index.photos()


@pytest.mark.slow
def test_run_eval_scores_every_row_and_reports_its_stages(tmp_path):
    photos = _scanned_photos(tmp_path)
    generator = torch.Generator().manual_seed(0)
    features = {p.fingerprint: torch.rand(16, 3, 3, generator=generator).half() for p in photos}  # plumbing only
    reporter = CollectingReporter()
    epochs = []
    config = EvalConfig(owner_from="folder", min_count=2, seed=1, train=TrainOptions(epochs=1, seed=1))
    result = run_eval(photos, features, config, reporter, on_epoch=lambda variant, report: epochs.append(variant))

    # no backbone given: the suggest rows (which need the general tagger) are left out
    assert list(result.results) == [
        key for key, _ in ROWS if key not in ("cooc", "neighbours", "suggest_owner", "suggest")
    ]
    assert reporter.notes[0] == "split 1 of 1 (seed 1), protocol untagged"
    assert reporter.notes[1].startswith("knn alone: k=")
    assert reporter.notes[2].startswith("propagation alone: k=")
    assert [note.split(":")[0] for note in reporter.notes[3:]] == ["trained A1", "trained A2", "trained A6"]
    assert epochs == ["A1", "A2", "A6"]
    # a progress bar per stage, each run to its end (early stopping ends a training bar early)
    bars = {task.description: task for task in reporter.tasks}
    assert list(bars) == [
        "tuning the signal rows on the validation photos",
        "training A1",
        "training A2",
        "training A6",
    ]
    assert all(task.done == task.total_count for task in reporter.tasks)
    assert bars["training A1"].done == result.training["A1"]["epochs"] == 1
    counts = result.counts
    assert counts["tagged_photos"] == 24 and counts["owners"] == 2
    assert counts["fit_photos"] + counts["val_photos"] == counts["train_photos"]
    assert counts["train_photos"] + counts["test_photos_scored"] + counts["test_photos_without_vocabulary_tags"] == 24
    assert result.training["A4"] == result.training["A6"]


def test_too_few_tagged_photos_to_evaluate(tmp_path):
    library = build_library(tmp_path / "lib", per_look=2)  # 8 tagged photos
    with Index.for_library(library) as index, pytest.raises(NotEnoughData, match="only 8 tagged photo"):
        evaluate_library(index, EvalConfig(), CollectingReporter(), device="cpu")


def _library_photos(tmp_path):
    photos = _scanned_photos(tmp_path)
    generator = torch.Generator().manual_seed(0)
    # Each look gets its own direction plus noise, so visual neighbours share a look (as real features would).
    looks = {look: torch.randn(16, generator=generator) for look in ("sunset", "sea", "forest", "snow")}
    features = {}
    for photo in photos:
        look = photo.path.stem.split("_")[0]
        vector = looks[look] + 0.3 * torch.randn(16, generator=generator)
        features[photo.fingerprint] = vector[:, None, None].expand(16, 3, 3).half()
    return photos, features


@pytest.mark.slow
def test_repeats_score_every_row_on_the_same_seeded_splits_and_give_mean_and_sd(tmp_path):
    photos, features = _library_photos(tmp_path)
    config = EvalConfig(owner_from="folder", min_count=2, seed=3, repeats=3, train=TrainOptions(epochs=1, seed=3))
    result = run_eval(photos, features, config, CollectingReporter())

    assert [split.seed for split in result.splits] == [3, 4, 5]
    for split in result.splits:  # every row scored on each split, on the same photos
        assert {ev.photos for ev in split.results.values()} == {split.counts["test_photos_scored"]}
        assert split.tuned["knn"]["parameters"]["k"] in TUNING["knn"]["k"]
    for key, evaluation in result.results.items():
        values = [split.results[key].per_photo["P@5"] for split in result.splits]
        assert evaluation.per_photo["P@5"] == pytest.approx(np.mean(values))
        assert result.sd(key, "per_photo", "P@5") == pytest.approx(np.std(values, ddof=1))
    report = result.to_json()
    assert len(report["splits"]) == 3 and set(report["rows"][0]["sd"]) == {"per_photo", "per_owner"}
    assert [c["parameters"]["k"] for c in next(r for r in report["rows"] if r["method"] == "knn")["tuned"]] == [
        split.tuned["knn"]["parameters"]["k"] for split in result.splits
    ]
    # the same seed gives the same splits and figures
    again = run_eval(photos, features, replace(config, repeats=1), CollectingReporter())
    assert again.splits[0].results["knn"].per_photo == result.splits[0].results["knn"].per_photo


@pytest.mark.slow
def test_partial_protocol_keeps_one_tag_as_input_and_scores_the_rest(tmp_path):
    photos, features = _library_photos(tmp_path)
    config = EvalConfig(owner_from="folder", min_count=2, seed=1, protocol="partial", rows=("library", "knn", "cooc"))
    result = run_eval(photos, features, config, CollectingReporter())

    assert list(result.results) == ["library", "knn", "cooc"]
    counts = result.counts
    assert counts["test_photos_scored"] > 0 and counts["test_photos_outside_protocol"] == 0  # every photo has 2 tags
    # each look's two tags: knowing one, co-occurrence finds the other among at most two candidates
    # ("Beach" goes with sunset and sea; "sunset" only with "Beach")
    assert result.results["cooc"].per_photo["R@3"] == 1.0
    assert result.results["cooc"].per_photo["P@1"] >= 0.5
    # the kept tag is never a hit: one tag is left to find per photo, so P@1 <= recall@1 == P@1 exactly
    for evaluation in result.results.values():
        assert evaluation.per_photo["R@1"] == pytest.approx(evaluation.per_photo["P@1"])


@pytest.mark.slow
def test_event_protocol_scores_photos_with_tagged_folder_neighbours(tmp_path):
    photos, features = _library_photos(tmp_path)
    config = EvalConfig(owner_from="library", min_count=2, seed=1, protocol="event", rows=("library", "neighbours"))
    result = run_eval(photos, features, config, CollectingReporter())

    counts = result.counts
    assert (
        counts["test_photos_scored"]
        + counts["test_photos_outside_protocol"]
        + counts["test_photos_without_vocabulary_tags"]
        + counts["train_photos"]
        == 24
    )
    # a folder holds one look: its tagged photos carry exactly the test photo's tags
    assert result.results["neighbours"].per_photo["R@3"] == 1.0
    assert result.results["neighbours"].per_photo["mAP"] > result.results["library"].per_photo["mAP"]


def test_a_protocol_or_repeats_that_do_not_exist_are_refused():
    with pytest.raises(ValueError, match="--protocol"):
        EvalConfig(protocol="everything")
    with pytest.raises(ValueError, match="--repeats"):
        EvalConfig(repeats=0)


def test_the_knn_row_is_whatever_the_registered_knn_signal_is(tmp_path):
    """One definition: eval's knn row is the registry's knn signal; a knn that only says the prior (how often
    each tag is used) scores exactly as the library's most used tags do."""
    from phototag.model.signals import REGISTRY, registered

    photos, features = _library_photos(tmp_path)
    config = EvalConfig(owner_from="library", min_count=2, seed=1, rows=("library", "knn"))
    real = run_eval(photos, features, config, CollectingReporter())
    assert real.results["knn"].per_photo["P@1"] > real.results["library"].per_photo["P@1"]  # the looks tell
    with registered(replace(REGISTRY["knn"], compute=lambda gallery, queries, self_rows, prior, **_: prior)):
        prior_only = run_eval(photos, features, config, CollectingReporter())
    assert prior_only.results["knn"].per_photo == prior_only.results["library"].per_photo
    assert prior_only.results["library"].per_photo == real.results["library"].per_photo
