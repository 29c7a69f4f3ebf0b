"""ALTReco heads: shapes, cold start, the preference auto-encoder, jitter, Huber, gradients."""

from __future__ import annotations

import torch

from phototag.model.altreco import (
    ALTReco,
    Discriminator,
    GeneralReadout,
    jitter_tags,
    reconstruction_loss,
)


def small(vocab=12, general=20):
    torch.manual_seed(0)
    return ALTReco(vocab, general, feature_channels=320, hidden=16)


def test_output_shapes_and_cold_start():
    model = small().eval()
    features = torch.rand(3, 320, 7, 7, dtype=torch.float16)
    with torch.no_grad():
        out = model(features, torch.zeros(3, 12))  # u_h = 0: a photo of a new owner
    assert out.personal_logits.shape == (3, 12)
    assert out.general_logits.shape == (3, 20)
    assert out.reconstruction.shape == (3, 12)
    assert out.preference.shape == (3, 128)
    assert all(torch.isfinite(t).all() for t in out)
    assert float(out.preference.abs().max()) <= 1.0  # tanh latent
    assert 0.0 <= float(out.reconstruction.min()) and float(out.reconstruction.max()) <= 1.0


def test_history_changes_personal_scores_but_not_general_ones():
    model = small().eval()
    features = torch.rand(1, 320, 7, 7).repeat(2, 1, 1, 1)
    history = torch.stack([torch.zeros(12), torch.linspace(0, 1, 12)])
    out = model(features, history)
    assert not torch.allclose(out.personal_logits[0], out.personal_logits[1])
    assert torch.allclose(out.general_logits[0], out.general_logits[1])  # G never sees u_p


def test_lite2_feature_maps_work():
    model = ALTReco(5, 7, feature_channels=352, hidden=8).eval()
    out = model(torch.rand(2, 352, 9, 9), torch.rand(2, 5))
    assert out.personal_logits.shape == (2, 5)


def test_general_and_adversarial_losses_reach_the_shared_stage():
    model = small()
    discriminator = Discriminator(20)
    out = model(torch.rand(4, 320, 7, 7), torch.rand(4, 12))
    fake = torch.sigmoid(out.general_logits)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(discriminator(fake), torch.ones(4, 1))
    loss.backward()
    assert model.shared.conv.weight.grad is not None and model.shared.conv.weight.grad.abs().sum() > 0
    assert model.classifier.fc2.weight.grad is None  # the adversarial loss is on G only


def test_jitter_ranges_follow_the_paper():
    tags = torch.randint(0, 2, (200, 30)).float()
    jittered = jitter_tags(tags, generator=torch.Generator().manual_seed(1))
    present, absent = jittered[tags == 1], jittered[tags == 0]
    assert float(present.min()) >= 0.7 and float(present.max()) <= 1.0
    assert float(absent.min()) >= 0.0 and float(absent.max()) <= 0.3
    assert float(absent.std()) > 0.05  # it is noise, not a constant


def test_huber_is_quadratic_below_delta_and_linear_above():
    zero = torch.zeros(1, 1)
    assert torch.isclose(reconstruction_loss(torch.full((1, 1), 0.5), zero), torch.tensor(0.125))
    assert torch.isclose(reconstruction_loss(torch.full((1, 1), 3.0), zero), torch.tensor(2.5))


def test_load_matching_copies_only_what_fits():
    source = small(vocab=12, general=20)
    target = ALTReco(30, 20, feature_channels=320, hidden=16)
    loaded = target.load_matching(source.state_dict())
    assert "generator.fc.weight" in loaded and "shared.conv.weight" in loaded
    assert "preference.enc.0.weight" not in loaded  # vocabulary size differs
    assert torch.equal(target.generator.fc.weight, source.generator.fc.weight)


def test_general_readout_is_the_backbone_head_aggregated(backbone):
    aggregation = torch.zeros(2, 1000)
    aggregation[0, :500] = 1
    aggregation[1, :] = 1
    readout = GeneralReadout(backbone.head, backbone.classifier, aggregation).eval()
    features = torch.rand(2, 320, 7, 7) * 3
    with torch.inference_mode():
        probabilities = backbone.imagenet_logits_from_features(features).softmax(dim=1)
        general = readout(features)
    assert torch.allclose(general[:, 0], probabilities[:, :500].sum(dim=1), atol=1e-5)
    assert torch.allclose(general[:, 1], torch.ones(2), atol=1e-5)
