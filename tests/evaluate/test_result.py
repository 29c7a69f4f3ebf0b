"""Combining the splits of an eval run: means, standard deviations, per-split figures."""

import pytest

from phototag.evaluate.report import figure, markdown_table, splits_line
from phototag.evaluate.result import EvalResult, SplitResult
from phototag.metrics import Evaluation, metric_names


def _split(seed: int, p5: float) -> SplitResult:
    figures = {name: p5 / 2 for name in metric_names((5,))} | {"P@5": p5}
    return SplitResult(
        seed,
        {"test_photos_scored": 10},
        {"knn": Evaluation(figures, dict(figures), 10, 1)},
        {},
        {"knn": {"signal": "knn", "parameters": {"k": 20, "temperature": 0.1, "evidence": 3.0}, "val_P@5": 0.5}},
    )


def test_combine_gives_mean_and_sample_sd_and_keeps_every_split():
    result = EvalResult.combine({"protocol": "partial"}, [_split(0, 0.3), _split(1, 0.4), _split(2, 0.5)], 1.0)
    assert result.results["knn"].per_photo["P@5"] == pytest.approx(0.4)
    assert result.sd("knn", "per_photo", "P@5") == pytest.approx(0.1)
    assert figure(result, "knn", "per_photo", "P@5") == "0.400 ± 0.100"
    assert "0.400 ± 0.100" in markdown_table(result, "per_photo", ks=(5,))
    assert splits_line(result) == (
        "seeds 0, 1, 2 (mean ± sd), protocol partial; knn k=20 temperature=0.1, k=20 temperature=0.1, "
        "k=20 temperature=0.1"
    )
    report = result.to_json()
    assert [s["seed"] for s in report["splits"]] == [0, 1, 2]
    assert report["splits"][1]["rows"]["knn"]["per_photo"]["P@5"] == 0.4
    assert report["rows"][0]["sd"]["per_owner"]["mAP"] == pytest.approx(0.05)
    assert report["rows"][0]["tuned"][0]["parameters"]["k"] == 20 and report["rows"][0]["tuned"][0]["val_P@5"] == 0.5


def test_a_single_split_prints_plain_figures():
    result = EvalResult.combine({}, [_split(4, 0.3)], 1.0)
    assert result.sd("knn", "per_photo", "P@5") is None
    assert figure(result, "knn", "per_photo", "P@5") == "0.300"
    assert splits_line(result).startswith("seed 4, protocol untagged")
