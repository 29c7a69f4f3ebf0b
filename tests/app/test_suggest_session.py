"""phototag.app.suggest: targets, --model personal without a model, results chunk by chunk."""

from __future__ import annotations

import pytest
from photos import make_jpeg, write_sidecar

from phototag.app import suggest as suggest_module
from phototag.app.suggest import NoPersonalModel, SuggestOptions, SuggestSession
from phototag.library.index import Index
from phototag.reporting import CollectingReporter


@pytest.fixture
def index(tmp_path):
    root = tmp_path / "lib"
    for i in range(5):
        make_jpeg(root / f"u{i}.jpg", color=(40 * i, 120, 60))
    make_jpeg(root / "tagged.jpg", color=(30, 120, 200))
    write_sidecar(root / "tagged.jpg.xmp", subjects=["sky"])
    with Index.for_library(root, tmp_path / "i.sqlite") as index:
        yield index


def test_session_scans_and_picks_untagged_or_all(index):
    untagged = SuggestSession(index, SuggestOptions(), CollectingReporter())
    assert len(untagged.photos) == 6
    assert sorted(p.display_path for p in untagged.targets) == [f"u{i}.jpg" for i in range(5)]
    assert len(SuggestSession(index, SuggestOptions(only_untagged=False), CollectingReporter()).targets) == 6


def test_model_personal_without_a_personal_model_is_refused(index):
    session = SuggestSession(index, SuggestOptions(model="personal"), CollectingReporter())
    with pytest.raises(NoPersonalModel, match="run `phototag finetune` first"):
        session.load()


@pytest.mark.slow
def test_results_come_in_chunks_with_one_progress_task(index, monkeypatch):
    monkeypatch.setattr(suggest_module, "CHUNK", 2)
    reporter = CollectingReporter()
    session = SuggestSession(
        index, SuggestOptions(device="cpu", embed=False, top_k=3, min_score=0.0, new_tags=True), reporter
    )
    session.load()
    chunks = list(session.results())
    assert [len(chunk) for chunk in chunks] == [2, 2, 1]
    assert [r.photo.display_path for chunk in chunks for r in chunk] == [p.display_path for p in session.targets]
    assert all(len(r.suggestions) == 3 for chunk in chunks for r in chunk)
    task = reporter.tasks[-1]
    assert task.description == "Suggesting (cpu)" and task.total_count == task.done == 5
    assert session.backbone == "lite2" and session.model_id.endswith("+history")
