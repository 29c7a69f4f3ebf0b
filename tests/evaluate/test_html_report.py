"""The `eval --html` page from made-up results: plots, the --markdown figures, owners, example photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from phototag.evaluate.html_report import html_report, jpeg_data_uri
from phototag.evaluate.report import figure
from phototag.evaluate.result import ROWS, EvalResult, Example, SplitResult
from phototag.metrics import Evaluation, metric_names
from tests.evaluate.html_page import read_page

KEYS = ["library", "knn", "A6"]
TAGS = ["beach", "sea", "sunset", "R&D <lab>", "hike", "snow"]


def _figures(level: float) -> dict[str, float]:
    return {name: min(1.0, level + 0.01 * i) for i, name in enumerate(metric_names())}


def _result(tmp_path: Path, seeds=(0,), owners: int = 1, photo: Path | None = None) -> EvalResult:
    photo = photo or _photo(tmp_path / "photo.jpg")
    examples = [
        Example(photo, f"trip/{i}.jpg", ["R&D <lab>", "sea"], {key: TAGS[:5] for key in KEYS}) for i in range(3)
    ]
    splits = [
        SplitResult(
            seed,
            {"train_photos": 40, "val_photos": 6, "test_photos_scored": 10, "vocabulary": 6, "owners": owners},
            {
                key: Evaluation(_figures(0.1 * n + 0.05 * seed), _figures(0.2 + 0.05 * seed), 10, owners)
                for n, key in enumerate(KEYS)
            },
            examples=examples if seed == seeds[0] else [],
        )
        for seed in seeds
    ]
    return EvalResult.combine({"split_by": "photo", "protocol": "untagged", "min_count": 3}, splits, 12.0)


def _photo(path: Path) -> Path:
    Image.new("RGB", (400, 300), (30, 80, 200)).save(path)
    return path


def test_the_page_has_a_plot_per_metric_the_table_and_example_photos(tmp_path):
    result = _result(tmp_path)
    page = read_page(html_report(result, "phototag eval: trip"))
    assert page.headings[:2] == ["phototag eval: trip", "Mean over photos"]
    assert page.plots == ["Precision@k", "Recall@k", "Accuracy@k"]
    assert page.error_bars == 0  # one split: no spread to show
    [table] = page.tables  # one owner: no table over owners
    labels = dict(ROWS)
    assert table[0] == ["method", *metric_names()]
    assert [row[0] for row in table[1:]] == [labels[key] for key in KEYS]
    for key, row in zip(KEYS, table[1:]):  # the figures of --markdown
        assert row[1:] == [figure(result, key, "per_photo", name) for name in metric_names()]
    assert len(page.images) == 3 and all(src.startswith("data:image/jpeg;base64,") for src in page.images)
    assert page.links == []  # nothing is fetched: every image is inline
    # each example: its true tags, then each row's top 5 with the right ones marked
    assert page.chips[:2] == [("chip hit", "right"), ("chip", "wrong")]  # the key above the photos
    first = page.chips[2 : 4 + 5 * len(KEYS)]
    assert [text for _, text in first[:2]] == ["R&D <lab>", "sea"]  # escaped in the page, read back whole
    hits = {text for cls, text in first[2:] if "hit" in cls}
    assert hits == {"sea", "R&D <lab>"}


def test_several_splits_draw_error_bars_and_several_owners_get_their_own_section(tmp_path):
    result = _result(tmp_path, seeds=(0, 1), owners=2)
    page = read_page(html_report(result, "eval"))
    assert "Mean over owners (each owner's photos averaged first)" in page.headings
    assert page.plots == ["Precision@k", "Recall@k", "Accuracy@k"] * 2
    assert page.error_bars == 2 * 3 * len(KEYS) * 4  # two averages, three plots, a bar per row and k
    owners_table = page.tables[1]
    assert owners_table[1][1] == figure(result, "library", "per_owner", "P@1")
    assert "± " in page.tables[0][1][1]


def test_an_unreadable_photo_leaves_a_note_instead_of_an_image(tmp_path):
    missing = tmp_path / "gone.jpg"
    result = _result(tmp_path, photo=missing)
    html = html_report(result, "eval")
    assert read_page(html).images == [] and html.count("photo not readable") == 3


def test_thumbnails_are_small_upright_jpegs(tmp_path):
    uri = jpeg_data_uri(_photo(tmp_path / "big.jpg"))
    assert uri.startswith("data:image/jpeg;base64,") and len(uri) < 40_000


def test_the_suggest_rows_get_a_reliability_diagram_pooled_over_the_splits(tmp_path):
    from phototag.evaluate.calibration import calibration_figures, expected_calibration_error
    from phototag.evaluate.report import calibration_markdown, calibration_rows

    result = _result(tmp_path, seeds=(0, 1))
    assert "reliability diagram" not in html_report(result, "no suggest row")
    scores = [np.array([[0.9, 0.1, 0.2], [0.85, 0.3, 0.05]]), np.array([[0.25, 0.95, 0.1], [0.15, 0.2, 0.35]])]
    truths = [[{"beach"}, {"sea"}], [{"sea"}, {"beach"}]]
    for split, matrix, truth in zip(result.splits, scores, truths):
        split.results["suggest"] = split.results["A6"]
        split.training["suggest"] = calibration_figures(matrix, ["beach", "sea", "sunset"], truth, top_k=2)
    result = EvalResult.combine(result.config, result.splits, 12.0)
    pooled = result.reliability("suggest")
    assert sum(b["count"] for b in pooled) == 8
    top = np.array([0.9, 0.2, 0.85, 0.3, 0.95, 0.25, 0.35, 0.2])
    right = np.array([1, 0, 0, 1, 1, 0, 0, 0])
    [(key, ece, count)] = calibration_rows(result)
    assert key == "suggest" and count == 8 and ece == pytest.approx(expected_calibration_error(top, right))
    assert f"| {ece:.3f} | 8 |" in calibration_markdown(result)
    page = html_report(result, "with suggest")
    assert 'aria-label="reliability diagram"' in page and f"ECE {ece:.3f}" in page
