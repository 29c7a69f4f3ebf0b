"""ALTReco heads (paper section IV) over cached backbone feature maps.

    features f [B, C, h, w]  (frozen EfficientNet-Lite trunk, cached in the index)
        -> shared stage S: conv_head 1x1 + BN + ReLU6, initialised from the pretrained
           backbone and trainable           -> e [B, 1280, h, w]
    u_h [B, V] -> U_E: FC 1024-512-256-128 (ReLU, tanh latent) -> u_p [B, 128]
    u_p -> U_D: FC 128-256-512-1024 (ReLU) with the mirrored encoder activations
           concatenated in (U-net skips), then FC V + sigmoid -> reconstruction of u_h
    C([e, tile(u_p)]): two 3x3 convs (ReLU), global average pool, two FC -> personal logits [B, V]
    G(e): three 3x3 convs (ReLU), global average pool, FC -> general logits [B, Vg]
    D(tags [B, Vg]): FC 1024-256-64-16 (ReLU) -> 1 logit (sigmoid in the loss)

Differences from the paper, and why: the paper trains ResNet-50 end to end; we
freeze the trunk so its output can be cached (a second run skips decoding and
the backbone, and finetuning fits a laptop CPU). The shared stage S sits between
the frozen trunk and C/G, so the general-tag and adversarial losses still shape
the features C uses. Heads pool globally before their FC layers so Lite0 (7x7)
and Lite2 (9x9) maps both work. Outputs are logits; callers apply sigmoid
(numerically stable BCE-with-logits in training, sigmoid at inference).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

LATENT = 128
HIDDEN = 128
SHARED_CHANNELS = 1280


class ALTRecoOutput(NamedTuple):
    personal_logits: torch.Tensor  # [B, V]
    general_logits: torch.Tensor  # [B, Vg]
    reconstruction: torch.Tensor  # [B, V], after sigmoid
    preference: torch.Tensor  # [B, 128], u_p


def conv3x3(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True))


class SharedStage(nn.Module):
    """1x1 conv + BN + ReLU6: the backbone's own conv_head, made trainable."""

    def __init__(self, in_channels: int, out_channels: int = SHARED_CHANNELS):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3)
        self.act = nn.ReLU6(inplace=True)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(features)))

    @torch.no_grad()
    def load_from_backbone(self, head: nn.Sequential) -> None:
        """Copy conv_head + bn2 from an `EfficientNetLite.head` (timm's BatchNormAct2d)."""
        conv, bn = head[0], head[1]
        self.conv.weight.copy_(conv.weight)
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(self.bn, name).copy_(getattr(bn, name))


class PreferenceAutoencoder(nn.Module):
    """U_E and U_D with concatenation skips (paper IV-a)."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.enc = nn.ModuleList(
            [nn.Linear(vocab_size, 1024), nn.Linear(1024, 512), nn.Linear(512, 256), nn.Linear(256, LATENT)]
        )
        self.dec = nn.ModuleList(
            [nn.Linear(LATENT, 128), nn.Linear(128 + 256, 256), nn.Linear(256 + 512, 512), nn.Linear(512 + 1024, 1024)]
        )
        self.out = nn.Linear(1024, vocab_size)

    def forward(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = history
        skips = []
        for i, layer in enumerate(self.enc):
            x = layer(x)
            x = torch.tanh(x) if i == len(self.enc) - 1 else F.relu(x)
            skips.append(x)
        latent = x
        # decoder layer i also sees the encoder activation of the mirrored width: 256, 512, 1024
        y = F.relu(self.dec[0](latent))
        for layer, skip in zip(self.dec[1:], (skips[2], skips[1], skips[0])):
            y = F.relu(layer(torch.cat([y, skip], dim=1)))
        return latent, torch.sigmoid(self.out(y))


class PersonalClassifier(nn.Module):
    """C on [e, tiled u_p]: two 3x3 convs, two FC layers."""

    def __init__(self, channels: int, vocab_size: int, hidden: int = HIDDEN):
        super().__init__()
        self.convs = nn.Sequential(conv3x3(channels + LATENT, hidden), conv3x3(hidden, hidden))
        self.fc1 = nn.Linear(hidden, 256)
        self.fc2 = nn.Linear(256, vocab_size)

    def forward(self, e: torch.Tensor, preference: torch.Tensor) -> torch.Tensor:
        tiled = preference[:, :, None, None].expand(-1, -1, e.shape[2], e.shape[3]).to(e.dtype)
        x = self.convs(torch.cat([e, tiled], dim=1)).mean(dim=(2, 3))
        return self.fc2(F.relu(self.fc1(x)))


class Generator(nn.Module):
    """G on e: three 3x3 convs and one FC layer; no user preference."""

    def __init__(self, channels: int, general_size: int, hidden: int = HIDDEN):
        super().__init__()
        self.convs = nn.Sequential(conv3x3(channels, hidden), conv3x3(hidden, hidden), conv3x3(hidden, hidden))
        self.fc = nn.Linear(hidden, general_size)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convs(e).mean(dim=(2, 3)))


class ALTReco(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        general_size: int,
        feature_channels: int = 320,
        shared_channels: int = SHARED_CHANNELS,
        hidden: int = HIDDEN,
    ):
        super().__init__()
        if vocab_size < 1 or general_size < 1:
            raise ValueError("vocabulary sizes must be at least 1")
        self.config = dict(
            vocab_size=vocab_size,
            general_size=general_size,
            feature_channels=feature_channels,
            shared_channels=shared_channels,
            hidden=hidden,
        )
        self.shared = SharedStage(feature_channels, shared_channels)
        self.preference = PreferenceAutoencoder(vocab_size)
        self.classifier = PersonalClassifier(shared_channels, vocab_size, hidden)
        self.generator = Generator(shared_channels, general_size, hidden)

    def forward(self, features: torch.Tensor, history: torch.Tensor) -> ALTRecoOutput:
        e = self.shared(features.float())
        preference, reconstruction = self.preference(history.float())
        return ALTRecoOutput(
            personal_logits=self.classifier(e, preference),
            general_logits=self.generator(e),
            reconstruction=reconstruction,
            preference=preference,
        )

    def load_matching(self, state: dict[str, torch.Tensor]) -> list[str]:
        """Initialise from another ALTReco state dict where names and shapes match; returns what was loaded."""
        own = self.state_dict()
        loaded = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        own.update(loaded)
        self.load_state_dict(own)
        return sorted(loaded)


def personal_kwargs(vocabulary_size: int, channels: int) -> dict[str, int]:
    """Constructor arguments of the heads for a personal vocabulary (C and G both over it, as in the paper)."""
    return {"vocab_size": vocabulary_size, "general_size": vocabulary_size, "feature_channels": channels}


def pool_features(features: torch.Tensor, pool: int) -> torch.Tensor:
    """Feature maps average-pooled to `pool` x `pool` (0, or maps already that small: unchanged)."""
    if pool and (features.shape[2] > pool or features.shape[3] > pool):
        return F.adaptive_avg_pool2d(features.float(), pool)
    return features


class PooledHeads(nn.Module):
    """ALTReco heads reading feature maps average-pooled to `pool` x `pool` first (0: the full map).

    The heads' 3x3 convolutions over 1280-channel 7x7 maps cost about 0.2 GFLOP a
    photo; on 3x3 maps 5x less, which is what lets a CPU finetune a few thousand
    photos in minutes. The heads pool globally at their end anyway, so the coarse
    map keeps what they use; `phototag eval` measures the effect. A saved personal
    model records its pool (meta `feature_pool`) and is rebuilt the same way.
    """

    def __init__(self, heads: nn.Module, pool: int):
        super().__init__()
        self.heads = heads
        self.pool = int(pool)

    def forward(self, features: torch.Tensor, history: torch.Tensor):
        return self.heads(pool_features(features.float(), self.pool), history)


class Discriminator(nn.Module):
    """D: tells real (jittered) user tags from G's predictions. Returns logits [B, 1]."""

    def __init__(self, general_size: int):
        super().__init__()
        widths = [general_size, 1024, 256, 64, 16]
        layers: list[nn.Module] = []
        for cin, cout in zip(widths, widths[1:]):
            layers += [nn.Linear(cin, cout), nn.ReLU(inplace=True)]
        layers.append(nn.Linear(16, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, tag_probs: torch.Tensor) -> torch.Tensor:
        return self.net(tag_probs)


def jitter_tags(
    tags: torch.Tensor, eta: float = 0.7, iota: float = 0.3, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Paper eq. 7: p * eta + U(0, iota), so present tags land in [0.7, 1.0] and absent ones in [0, 0.3]."""
    noise = torch.rand(tags.shape, generator=generator, device=tags.device if generator is None else "cpu")
    return tags.float() * eta + noise.to(tags.device) * iota


def reconstruction_loss(reconstruction: torch.Tensor, history: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """Huber loss with delta = 1 between the reconstructed and the real history (paper eq. 1)."""
    return F.huber_loss(reconstruction, history.float(), delta=delta)


class GeneralReadout(nn.Module):
    """The packaged general tagger: ImageNet head + WordNet hypernym aggregation, exactly.

    p(tag) = sum of softmax(ImageNet logits) over the classes under the tag. The
    1x1 conv_head is applied per position, then pooled, as in the backbone.
    """

    def __init__(self, backbone_head: nn.Sequential, classifier: nn.Linear, aggregation):
        super().__init__()
        self.shared = SharedStage(backbone_head[0].in_channels, backbone_head[0].out_channels)
        self.shared.load_from_backbone(backbone_head)
        self.classifier = nn.Linear(classifier.in_features, classifier.out_features)
        self.classifier.load_state_dict(classifier.state_dict())
        self.register_buffer("aggregation", torch.as_tensor(aggregation).float().t().contiguous())  # [1000, Vg]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        pooled = self.shared(features.float()).mean(dim=(2, 3))
        probs = torch.softmax(self.classifier(pooled), dim=1)
        return (probs @ self.aggregation).clamp(0.0, 1.0)
