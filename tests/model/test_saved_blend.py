"""Versioned blends (issue 20, item 3): a personal model's saved blend records its format and every signal's
parameters; suggest checks them against the code when it loads the model. A changed parameter, a signal gone
or a signal new since the fit each give one warning and a ranking that is not stale, never a crash."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from phototag.model.checkpoint import load_latest_good, save_model
from phototag.model.ranking import BLEND_FORMAT, Blend, load_blend
from phototag.model.signals import REGISTRY, available, registered, replace_parameters
from tests.model.test_recommend import owner_library, suggestions_for
from tests.model.test_signals import TOY

PERSONAL = ["general", "personal"]  # the outputs of a personal model saved without a probe


def _fitted(names) -> Blend:
    """A blend as finetune saves one: weights off the defaults, a calibration map."""
    blend = Blend.defaults(names)
    for weights in blend.weights.values():
        for name in weights:
            weights[name] = round(weights[name] + 0.05, 4)
    blend.calibration = {
        mode: {"evidence": 0.9, "slope": 0.8, "intercept": -0.1, "pairs": 50} for mode in blend.weights
    }
    blend.fitted_on = {"untagged": {"photos": 40, "pairs": 900}}
    return blend


def _save_personal(index, backbone, blend_json) -> None:
    from phototag.model.altreco import ALTReco

    torch.manual_seed(0)
    heads = ALTReco(3, 3, feature_channels=320)
    heads.shared.load_from_backbone(backbone.head)
    meta = {
        "vocabulary": ["holiday", "family", "Cats"],
        "hierarchy": {"Cats": "Animals|Cats"},
        "model_kwargs": heads.config,
        "backbone": "lite0",
        "feature_pool": 3,
        "blend": blend_json,
    }
    save_model(index, heads.state_dict(), torch.zeros(1, 3), meta)


def _suggest(index, backbone):
    """suggest with the library's newest personal model, as SuggestSession loads it: the warnings it gave."""
    warnings: list[str] = []
    recommender, results = suggestions_for(index, backbone, personal=load_latest_good(index), warn=warnings.append)
    assert results and all(r.suggestions for r in results.values())  # it ranks, whatever the blend said
    return recommender, warnings


@pytest.fixture
def library(tmp_path, example_photo, scanned):
    return scanned(owner_library(tmp_path / "lib", example_photo))


def test_a_saved_blend_records_its_format_and_every_signals_parameters():
    saved = json.loads(json.dumps(_fitted(available(PERSONAL)).to_json()))
    assert saved["format"] == BLEND_FORMAT == 2
    assert saved["signals"]["knn"] == dict(REGISTRY["knn"].parameters) and saved["signals"]["knn"]["k"] == 50
    assert set(saved["signals"]) == set(available(PERSONAL)) and saved["settings"] == {}
    blend, problem = load_blend(saved, available(PERSONAL))
    assert (
        problem is None
        and blend.weights == _fitted(available(PERSONAL)).weights
        and blend.calibration == saved["calibration"]
    )


def test_a_blend_that_matches_the_code_is_used_as_saved_without_a_word(library, backbone):
    fitted = _fitted(available(PERSONAL))
    _save_personal(library, backbone, fitted.to_json())
    recommender, warnings = _suggest(library, backbone)
    assert (
        warnings == []
        and recommender.blend.weights == fitted.weights
        and recommender.blend.calibration == fitted.calibration
    )


def test_a_changed_parameter_gives_one_warning_and_the_default_weights(library, backbone):
    _save_personal(library, backbone, _fitted(available(PERSONAL)).to_json())
    knn = REGISTRY["knn"]
    with registered(replace_parameters(knn, {**knn.parameters, "k": 10})):
        recommender, warnings = _suggest(library, backbone)
        defaults = Blend.defaults(available(PERSONAL))
    assert len(warnings) == 1 and "other signal parameters (knn k 50 -> 10)" in warnings[0]
    assert "default weights" in warnings[0] and "phototag finetune" in warnings[0]
    assert recommender.blend.weights == defaults.weights and recommender.blend.calibration == {}


def test_a_signal_gone_since_the_fit_gives_one_warning_and_the_default_weights(library, backbone):
    with registered(TOY):  # fitted while the toy signal existed
        _save_personal(library, backbone, _fitted(available(PERSONAL)).to_json())
    recommender, warnings = _suggest(library, backbone)
    assert len(warnings) == 1 and "does not have (toy)" in warnings[0]
    assert "toy" not in recommender.blend.signals()
    assert recommender.blend.weights == Blend.defaults(available(PERSONAL)).weights


def test_a_signal_new_since_the_fit_gives_one_warning_and_the_saved_blend_without_it(library, backbone):
    fitted = _fitted(available(PERSONAL))
    _save_personal(library, backbone, fitted.to_json())
    with registered(TOY):
        recommender, warnings = _suggest(library, backbone)
    assert len(warnings) == 1 and "fitted before signal(s) toy existed: ranking without them" in warnings[0]
    assert recommender.blend.weights == fitted.weights and recommender.blend.calibration == fitted.calibration


def test_an_old_or_unreadable_blend_is_said_never_a_crash(library, backbone):
    old = {"weights": _fitted(available(PERSONAL)).weights}  # saved before blends had a format
    blend, problem = load_blend(old, available(PERSONAL))
    assert blend.weights == old["weights"] and "cannot be checked" in problem
    for broken in ({"weights": {"untagged": {}}}, {"weights": "nonsense"}, {"format": 99, "weights": old["weights"]}):
        blend, problem = load_blend(broken, available(PERSONAL))
        assert problem and blend.weights == Blend.defaults(available(PERSONAL)).weights
    _save_personal(library, backbone, {"weights": {"untagged": {"knn": "x"}}})
    recommender, warnings = _suggest(library, backbone)
    assert len(warnings) == 1 and "cannot be read" in warnings[0]
    assert np.isfinite(list(recommender.blend.weights["untagged"].values())).all()


def test_matching_by_meaning_off_since_the_fit_is_said_and_the_saved_blend_kept(library, backbone):
    fitted = _fitted(available(PERSONAL))
    fitted.settings = {"general_by_meaning": True}  # finetune matched tags by meaning; this suggest runs --no-embed
    _save_personal(library, backbone, fitted.to_json())
    warnings: list[str] = []
    recommender, _ = suggestions_for(
        library, backbone, personal=load_latest_good(library), warn=warnings.append, embeddings=False
    )
    assert warnings == [
        "the personal model's blend was fitted with other settings (general_by_meaning True -> False):"
        " its scores may be a little off"
    ]
    assert recommender.blend.weights == fitted.weights and recommender.blend.settings == fitted.settings
