"""`phototag eval --html` on a small real two-owner library: one self-contained page, read back."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from phototag.cli import app
from phototag.evaluate.result import ROWS
from tests.cli.test_eval import _eval, library  # noqa: F401 (the same library fixture and eval call)
from tests.evaluate.html_page import read_page
from tests.train.small_library import LOOKS

pytestmark = pytest.mark.slow  # every test trains models
LABELS = dict(ROWS)


def test_html_page_has_the_plots_every_row_and_example_photos(library, tmp_path):  # noqa: F811 (the imported fixture)
    out = tmp_path / "report.html"
    report = json.loads(_eval(library, "--json", "--quiet", "--html", str(out)).stdout)
    page = read_page(out.read_text(encoding="utf-8"))
    methods = [row["method"] for row in report["rows"]]
    # two owners: over photos and over owners; then the suggest rows' reliability diagram (issue #19)
    assert page.plots == ["Precision@k", "Recall@k", "Accuracy@k"] * 2 + ["reliability diagram"]
    assert {"suggest", "suggest_owner"} <= set(report["calibration"])
    assert all(0.0 <= row["ece"] <= 1.0 and len(row["reliability"]) == 10 for row in report["calibration"].values())
    photos, owners = page.tables
    assert [row[0] for row in photos[1:]] == [LABELS[m] for m in methods] == [row[0] for row in owners[1:]]
    first = report["rows"][0]
    assert photos[1][1] == f"{first['per_photo']['P@1']:.3f}" and owners[1][1] == f"{first['per_owner']['P@1']:.3f}"
    assert page.links == []  # a single file: nothing to fetch
    # example test photos of the first split, as data URIs, with each row's top 5 (also in --json)
    examples = report["examples"]
    assert len(page.images) == len(examples) == 5  # the whole test part (fewer than 8 photos)
    assert all(src.startswith("data:image/jpeg;base64,") for src in page.images)
    all_tags = {tag for _, tags in LOOKS.values() for tag in tags} | {"Beach"}
    for example in examples:
        assert example["path"].endswith(".jpg") and example["truth"]
        assert list(example["top"]) == methods and all(len(tags) == 5 for tags in example["top"].values())
        assert set(example["truth"]) <= all_tags
    hits = [text for cls, text in page.chips if "hit" in cls][1:]  # after the key above the photos
    expected = [tag for e in examples for tags in e["top"].values() for tag in tags if tag in e["truth"]]
    assert hits == expected


def test_html_with_repeats_and_partial_protocol(library, tmp_path):  # noqa: F811 (the imported fixture)
    out = tmp_path / "report.html"
    _eval(library, "--quiet", "--repeats", "2", "--protocol", "partial", "--html", str(out))
    html = out.read_text(encoding="utf-8")
    page = read_page(html)
    assert page.error_bars > 0 and "± standard deviation over the 2 seeded splits" in html
    assert LABELS["cooc"] in [row[0] for row in page.tables[0]]
    assert all("± " in cell for cell in page.tables[0][1][1:])
    assert html.count("given: ") == len(page.images) > 0  # the tag each photo kept as input


def test_html_into_a_missing_folder_is_refused_before_the_run(library, tmp_path):  # noqa: F811 (the imported fixture)
    result = CliRunner().invoke(app, ["eval", str(library), "--html", str(tmp_path / "nowhere" / "r.html")])
    assert result.exit_code == 2 and "--html" in result.output
