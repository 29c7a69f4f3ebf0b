"""The training loop on small synthetic feature maps: it learns, it is seeded, and resuming changes nothing."""

from __future__ import annotations

import copy

import pytest
import torch

from phototag.library.index import PhotoRow
from phototag.train.data import Examples
from phototag.train.finetune import TrainOptions, predict, train_heads

VOCABULARY = ["a", "b", "c", "d"]


def _examples(n: int, seed: int) -> Examples:
    """Tag i is present exactly when channel block i of the feature map is bright."""
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.rand(n, 4, generator=generator) < 0.4).float()
    labels[labels.sum(1) == 0, 0] = 1.0
    features = torch.rand(n, 16, 1, 1, generator=generator) * 0.2
    for tag in range(4):
        features[:, tag * 4 : tag * 4 + 4] += labels[:, tag, None, None, None] * 2.0
    histories = labels.mean(0, keepdim=True).repeat(n, 1)
    photos = [PhotoRow(i, None, b"", str(i), "", 0, 0, f"fp{seed}-{i}", None, None, None, "ok", None) for i in range(n)]
    truths = [{VOCABULARY[j] for j in range(4) if labels[i, j]} for i in range(n)]
    return Examples(photos, ["me"] * n, features, labels, histories, truths)


@pytest.mark.slow
def test_learns_separable_tags_and_is_reproducible():
    train, val = _examples(48, 0), _examples(16, 1)
    options = TrainOptions(epochs=8, batch_size=16, patience=8, seed=5)
    result = train_heads(train, val, VOCABULARY, options)
    assert result.best_val["P@1"] > 0.9
    again = train_heads(train, val, VOCABULARY, options)
    for name, tensor in result.model.state_dict().items():
        assert torch.equal(tensor, again.model.state_dict()[name]), name
    scores = predict(result.model, val)
    assert scores.shape == (16, 4) and ((scores >= 0) & (scores <= 1)).all()


@pytest.mark.slow
def test_resuming_from_a_saved_epoch_gives_the_uninterrupted_result():
    train, val = _examples(32, 2), _examples(8, 3)
    options = TrainOptions(epochs=4, batch_size=16, patience=10, seed=1)
    straight = train_heads(train, val, VOCABULARY, options)
    saved = []
    train_heads(
        train,
        val,
        VOCABULARY,
        TrainOptions(epochs=2, batch_size=16, patience=10, seed=1),
        save_state=lambda state: saved.append(copy.deepcopy(state)),
    )  # as if serialised
    assert [s["epoch"] for s in saved] == [1, 2]
    resumed = train_heads(train, val, VOCABULARY, options, resume_state=saved[-1])
    assert resumed.resumed_from == 2 and [r.epoch for r in resumed.reports] == [3, 4]
    assert resumed.best_epoch == straight.best_epoch
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_variants_train_what_they_should():
    train, val = _examples(16, 4), _examples(8, 5)
    for variant, losses in (
        ("A1", {"L_p"}),
        ("A2", {"L_p", "L_g", "L_r"}),
        ("A6", {"L_p", "L_g", "L_r", "L_adv", "L_d"}),
    ):
        result = train_heads(train, val, VOCABULARY, TrainOptions(variant=variant, epochs=1, batch_size=16, seed=0))
        assert set(result.reports[0].losses) == losses, variant
