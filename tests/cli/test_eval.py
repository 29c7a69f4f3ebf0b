"""`phototag eval` on a small real two-owner library: one table, every row and figure, seeded splits."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from phototag.cli import app
from phototag.metrics import metric_names
from tests.train.small_library import build_library

pytestmark = pytest.mark.slow  # every test trains models
ROWS = ["library", "owner", "knn", "propagation", "A1", "A2", "A6", "A4", "suggest_owner", "suggest"]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return build_library(tmp_path_factory.mktemp("eval") / "lib", per_look=6, folders=True)


def _eval(library, *args):
    result = CliRunner().invoke(
        app, ["eval", str(library), "--owner-from", "folder", "--min-count", "2", "--epochs", "2", "--seed", "1", *args]
    )
    assert result.exit_code == 0, result.output
    return result


def test_eval_json_has_every_row_and_figure(library):
    report = json.loads(_eval(library, "--json", "--quiet").stdout)
    assert [row["method"] for row in report["rows"]] == ROWS
    counts = report["counts"]
    assert counts["tagged_photos"] == 24 and counts["owners"] == 2
    assert counts["train_photos"] + counts["test_photos_scored"] + counts["test_photos_without_vocabulary_tags"] == 24
    for row in report["rows"]:
        for average in ("per_photo", "per_owner"):
            assert set(row[average]) == set(metric_names())
            assert all(0.0 <= v <= 1.0 for v in row[average].values())
        assert row["photos"] == counts["test_photos_scored"]
        # recall grows with k, precision@k cannot exceed accuracy@k
        figures = row["per_photo"]
        assert figures["R@1"] <= figures["R@3"] <= figures["R@5"] <= figures["R@10"]
        assert all(figures[f"P@{k}"] <= figures[f"Acc@{k}"] for k in (1, 3, 5, 10))
    by = {row["method"]: row["per_photo"] for row in report["rows"]}
    # the look of these photos decides their tags: visual neighbours must beat "the library's top tags"
    assert by["knn"]["P@1"] > by["library"]["P@1"]
    training = {row["method"]: row.get("training") for row in report["rows"]}
    assert training["A4"]["best_epoch"] >= 1
    # the suggest rows say how their blend was fitted and what each --min-score would show
    assert set(training["suggest"]["blend"][0]["weights"]) == {"untagged", "partial"}
    assert {"0.3", "0.5"} <= set(training["suggest"]["thresholds"][0])
    assert 0.0 <= training["suggest"]["ece"] <= 1.0  # expected calibration error of its five best tags per photo
    assert by["suggest"]["P@1"] > by["library"]["P@1"]
    assert set(report["relative_gain_P@5"]["per_photo"]) == set(ROWS) - {"suggest"}  # suggest against every other row


def test_same_seed_same_split_and_owner_split_holds_out_whole_owners(library):
    first = json.loads(_eval(library, "--json", "--quiet").stdout)
    again = json.loads(_eval(library, "--json", "--quiet").stdout)
    for row in first["rows"] + again["rows"]:
        row.get("training", {}).pop("seconds", None)
    assert first["rows"] == again["rows"]  # training is seeded too: identical figures
    by_owner = json.loads(_eval(library, "--json", "--quiet", "--split-by", "owner").stdout)
    assert by_owner["counts"]["test_owners"] == 1
    assert by_owner["counts"]["test_owners_unseen_in_training"] == 1


def test_table_output(library):
    result = _eval(library, "--markdown")
    assert "| Full model (A6) |" in result.stdout and "Mean over owners" in result.stdout
    assert "| kNN signal alone, tuned |" in result.stdout


def test_repeats_and_partial_protocol(library):
    report = json.loads(_eval(library, "--json", "--quiet", "--repeats", "2", "--protocol", "partial").stdout)
    assert [row["method"] for row in report["rows"]] == [
        "library",
        "owner",
        "knn",
        "propagation",
        "cooc",
        "A1",
        "A2",
        "A6",
        "A4",
        "suggest_owner",
        "suggest",
    ]
    assert [split["seed"] for split in report["splits"]] == [1, 2] and report["config"]["protocol"] == "partial"
    for row in report["rows"]:  # mean and spread over the two splits
        values = [split["rows"][row["method"]]["per_photo"]["P@5"] for split in report["splits"]]
        assert row["per_photo"]["P@5"] == pytest.approx(sum(values) / 2)
        assert row["sd"]["per_photo"]["P@5"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
    knn = next(row for row in report["rows"] if row["method"] == "knn")
    assert len(knn["tuned"]) == 2 and all(choice["parameters"]["k"] >= 1 for choice in knn["tuned"])
    assert all(choice["parameters"]["kept_bonus"] == 0.2 for choice in knn["tuned"])  # registered: not tuned
    # each look has two tags: one is kept, the other is found by co-occurrence within the first three
    cooc = next(row for row in report["rows"] if row["method"] == "cooc")
    assert cooc["per_photo"]["R@3"] == 1.0


def test_event_protocol_and_mean_sd_table(library):
    report = json.loads(_eval(library, "--json", "--quiet", "--protocol", "event", "--knn", "5").stdout)
    assert "neighbours" in [row["method"] for row in report["rows"]]
    assert report["counts"]["test_photos_outside_protocol"] == 0  # every folder holds tagged training photos
    assert next(row for row in report["rows"] if row["method"] == "knn")["tuned"][0]["parameters"]["k"] == 5
    table = _eval(library, "--markdown", "--repeats", "2").stdout
    assert "± " in table and "seeds 1, 2 (mean ± sd), protocol untagged" in table


def test_unknown_protocol_is_refused(library):
    result = CliRunner().invoke(app, ["eval", str(library), "--protocol", "everything"])
    assert result.exit_code != 0 and "--protocol" in result.output


def test_without_and_signals_add_the_suggest_rows_with_signals_left_out(library):
    report = json.loads(_eval(library, "--json", "--quiet", "--without", "neighbours", "--signals", "knn,probe").stdout)
    methods = [row["method"] for row in report["rows"]]
    assert methods == ROWS[:-2] + [
        "suggest_owner",
        "suggest_owner without neighbours",
        "suggest_owner with only knn,probe",
        "suggest",
        "suggest without neighbours",
        "suggest with only knn,probe",
    ]
    rows = {row["method"]: row for row in report["rows"]}
    assert rows["suggest without neighbours"]["label"] == "phototag suggest (after finetune), without neighbours"
    for key, weighed in (
        ("suggest without neighbours", {"knn", "probe", "personal", "general", "history", "cooc"}),
        ("suggest with only knn,probe", {"knn", "probe"}),
        ("suggest_owner with only knn,probe", {"knn"}),
    ):
        blend = rows[key]["training"]["blend"][0]
        assert set(blend["weights"]["partial"]) - {"bias"} == weighed, key
        assert set(blend["signals"]) == weighed  # the saved parameters are those of the signals it weighs
    # the closing comparison is against the other methods, not against suggest's own ablations
    table = _eval(library, "--without", "neighbours").stderr
    assert "best other row" in table and "without neighbours (" not in table.splitlines()[-2]


def test_an_unknown_signal_is_a_usage_error(library):
    for option in ("--without", "--signals"):
        result = CliRunner().invoke(app, ["eval", str(library), option, "knn,nosuch"])
        assert result.exit_code == 2 and "no signal nosuch; the signals are knn, propagation, probe" in result.output
        assert "Traceback" not in result.output
