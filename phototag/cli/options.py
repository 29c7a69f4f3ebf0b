"""Every option more than one command takes, defined once.

Choices come from the domain constants (devices and backbones from the model
package, sidecar styles and owner modes from the library), so a new device or
style needs no change here.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional, get_args

import typer

from phototag.app.suggest import SuggestOptions
from phototag.model.choices import BACKBONES, DEFAULT_BACKBONE, DEVICES


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A str Enum whose values are `values` (Typer shows and checks them; '-' is '_' in member names)."""
    return Enum(name, [(value.replace("-", "_"), value) for value in values], type=str, module=__name__)


Device = _choices("Device", DEVICES)  # where the backbone runs (phototag.model.features)
Backbone = _choices("Backbone", BACKBONES)  # visual encoder (phototag.model.backbone)


class HistoryMode(str, Enum):
    """History vector u_h of suggest (phototag.model.recommend.Recommender)."""

    owner = "owner"
    folder = "folder"
    none = "none"


class ModelChoice(str, Enum):
    auto = "auto"
    personal = "personal"
    general = "general"


def check_owner_from(value: str) -> str:
    from phototag.library.history import OWNER_MODES

    value = value.lower()
    if value not in OWNER_MODES:
        raise typer.BadParameter(f"must be one of {', '.join(OWNER_MODES)}", param_hint="--owner-from")
    return value


def check_sidecar_style(value: str) -> str:
    from phototag.library.sidecar_names import SIDECAR_STYLES

    style = value.lower()
    if style not in SIDECAR_STYLES:
        raise typer.BadParameter(f"must be {' or '.join(SIDECAR_STYLES)}, not {value!r}", param_hint="--sidecar-style")
    return style


# The library and its index.
LibraryArg = Annotated[
    Path,
    typer.Argument(
        help="Root folder of the photo library.", metavar="DIR", exists=True, file_okay=False, resolve_path=True
    ),
]
IndexOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--index",
        envvar="PHOTOTAG_INDEX",
        help="Index database to use instead of the per-library default under the user data dir.",
        dir_okay=False,
    ),
]
OwnerFromOpt = Annotated[
    str,
    typer.Option(
        "--owner-from",
        help="Who owns each photo: 'library' (one owner, default), 'creator' (XMP dc:creator / EXIF Artist) "
        "or 'folder' (first folder level).",
        case_sensitive=False,
        callback=check_owner_from,
    ),
]

# Output.
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON to stdout.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Also print every warning to the terminal.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary; errors only.")]

# Writing sidecars (apply, review, undo; suggest --write).
SidecarStyleOpt = Annotated[
    str,
    typer.Option(
        "--sidecar-style",
        help="Name of NEW sidecars when the folder has no convention yet: darktable (IMG.CR2.xmp) or "
        "lightroom (IMG.xmp).",
        case_sensitive=False,
        callback=check_sidecar_style,
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", "-n", help="Change nothing; print a unified diff of every sidecar change.")
]

# Links (README "Links"): by default folder links are not followed and nothing outside the library is written.
FollowLinksOpt = Annotated[
    bool,
    typer.Option(
        "--follow-links",
        help="Follow symbolic links to folders: scan the photos there and write their sidecars, even outside "
        "the library (default: such links are skipped with a reason).",
    ),
]
ReplaceLinksOpt = Annotated[
    bool,
    typer.Option(
        "--replace-links",
        help="Replace a sidecar that is a symbolic link, or has other hard links, by a regular file with the "
        "tags added (default: it is skipped, never written through; undo links a hard link back).",
    ),
]

# How suggestions are computed (suggest and review: the same ranking for the same options).
OnlyUntaggedOpt = Annotated[
    bool, typer.Option("--only-untagged/--all", help="Suggest only for photos without tags (default), or for all.")
]
TopKOpt = Annotated[int, typer.Option("--top-k", min=1, help="Suggestions per photo.")]
MinScoreOpt = Annotated[
    float,
    typer.Option(
        "--min-score",
        min=0.0,
        max=1.0,
        help="Leave out suggestions below this score. With your tags, a score is the probability (calibrated "
        "on your own tagged photos) that you would keep the tag: at 0.5 more of what is shown is right "
        "than wrong; lower it for more, raise it for surer.",
    ),
]
DeviceOpt = Annotated[
    Device,
    typer.Option(
        "--device",
        help="auto: CUDA if available; else Lite2's packaged int8 graph, or for Lite0 the faster of PyTorch and"
        " onnxruntime. onnx-int8: the packaged int8 graph, about 1.8x the float graph on a CPU core (Lite0), tags"
        " differ slightly (see the model card).",
    ),
]
BackboneOpt = Annotated[Backbone, typer.Option("--backbone", help="Visual encoder (a personal model fixes its own).")]
HistoryOpt = Annotated[
    HistoryMode,
    typer.Option(
        "--history",
        help="The personal model's history vector u_h: the owner's tags, the photo's folder (itself left "
        "out), or none (cold start: how often you use each tag is ignored everywhere).",
    ),
]
ModelOpt = Annotated[
    ModelChoice,
    typer.Option(
        "--model",
        help="auto: the personal model in use (see `phototag models`), else none. "
        "personal: that one, or the newest good one. general: no personal model.",
    ),
]
NewTagsOpt = Annotated[
    bool, typer.Option("--new-tags", help="Also suggest general tags that are not in your vocabulary yet.")
]
EmbedOpt = Annotated[
    bool,
    typer.Option(
        "--embed/--no-embed", help="Match your tags to general tags by meaning too (all-MiniLM-L6-v2, offline)."
    ),
]
WorkersOpt = Annotated[int, typer.Option("--workers", min=0, help="Decode worker processes (0: automatic).")]
GpuDecodeOpt = Annotated[
    bool, typer.Option("--gpu-decode/--no-gpu-decode", help="On CUDA, decode JPEGs on the GPU (nvJPEG/nvImageCodec).")
]


# The options that decide suggest's ranking, named as phototag.app.suggest.SuggestOptions' fields
# (whose values are their defaults).
SUGGEST_OPTIONS = {
    "only_untagged": OnlyUntaggedOpt,
    "top_k": TopKOpt,
    "min_score": MinScoreOpt,
    "device": DeviceOpt,
    "backbone": BackboneOpt,
    "history": HistoryOpt,
    "model": ModelOpt,
    "new_tags": NewTagsOpt,
    "embed": EmbedOpt,
    "workers": WorkersOpt,
    "gpu_decode": GpuDecodeOpt,
    "follow_links": FollowLinksOpt,
}


def _default(group: type, name: str, hint) -> object:
    """The default of field `name` of the dataclass `group`, as the option's type (an Enum member for a choice)."""
    value, kind = getattr(group(), name), get_args(hint)[0]
    return kind(value) if isinstance(kind, type) and issubclass(kind, Enum) else value


def _with_option_group(command, parameter: str, options: dict, group: type):
    """`command` with the options of `options` (parameter name -> annotated type) in place of its
    parameter `parameter`, which receives them as one `group` (a dataclass whose fields are the
    options' names and whose values are their defaults; choices arrive as their plain values)."""
    signature = inspect.signature(command, eval_str=True)
    added = [
        inspect.Parameter(
            name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=_default(group, name, hint), annotation=hint
        )
        for name, hint in options.items()
    ]
    parameters = []
    for each in signature.parameters.values():
        parameters += added if each.name == parameter else [each]

    @functools.wraps(command)
    def with_options(**values):
        chosen = {name: values.pop(name) for name in options}
        return command(**{parameter: group(**{name: getattr(v, "value", v) for name, v in chosen.items()})}, **values)

    with_options.__signature__ = signature.replace(parameters=parameters)
    with_options.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": signature.return_annotation}
    return with_options


def with_suggest_options(command):
    """Give `command` the options of SUGGEST_OPTIONS in place of its `options` parameter, which
    receives them as one phototag.app.suggest.SuggestOptions.

    suggest and review both take their options this way, so they cannot offer or pass them
    differently: the same options give the same ranking (tests/cli/test_review.py checks it).
    """
    return _with_option_group(command, "options", SUGGEST_OPTIONS, SuggestOptions)


# Learning from the tagged photos (finetune and eval).
NoScanOpt = Annotated[
    bool, typer.Option("--no-scan", help="Use the index as it is; do not look for new or changed photos first.")
]
MinCountOpt = Annotated[
    int, typer.Option("--min-count", min=1, help="Learn only tags you used on at least this many photos.")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed: same seed, same photos, same model.")]
EpochsOpt = Annotated[
    int, typer.Option("--epochs", min=1, help="Most passes over the photos (early stopping usually ends sooner).")
]
LossWeightsOpt = Annotated[
    str,
    typer.Option(
        "--loss-weights",
        help="Weights of L_p (personal tags), L_g (general tags), L_r (history reconstruction), L_adv "
        "(adversarial), comma-separated. The paper uses 1,1,1,1; the default weakens the adversary "
        "(chosen on validation data, see BENCHMARKS.md).",
    ),
]


def parse_loss_weights(text: str) -> tuple[float, float, float, float]:
    """--loss-weights as four non-negative numbers (a usage error otherwise)."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or any(v < 0 for v in values):
        raise typer.BadParameter(
            "four non-negative numbers: L_p,L_g,L_r,L_adv (e.g. 1,1,1,1)", param_hint="--loss-weights"
        )
    return values  # type: ignore[return-value]


@dataclass(frozen=True)
class LearningOptions:
    """What finetune and eval learn from and how: the values of LEARNING_OPTIONS (defaults here)."""

    owner_from: str = "library"
    min_count: int = 3
    epochs: int = 40
    loss_weights: str = "1,1,1,0.1"  # as typed; weights() parses it
    seed: int = 0
    backbone: str = DEFAULT_BACKBONE
    device: str = "auto"
    no_scan: bool = False
    follow_links: bool = False

    def weights(self) -> tuple[float, float, float, float]:
        return parse_loss_weights(self.loss_weights)


LEARNING_OPTIONS = {
    "owner_from": OwnerFromOpt,
    "min_count": MinCountOpt,
    "epochs": EpochsOpt,
    "loss_weights": LossWeightsOpt,
    "seed": SeedOpt,
    "backbone": BackboneOpt,
    "device": DeviceOpt,
    "no_scan": NoScanOpt,
    "follow_links": FollowLinksOpt,
}


def with_learning_options(command):
    """Give `command` the options of LEARNING_OPTIONS in place of its `learning` parameter, which
    receives them as one LearningOptions: finetune and eval offer them alike."""
    return _with_option_group(command, "learning", LEARNING_OPTIONS, LearningOptions)


def ray_option(does: str):
    """`--ray ADDRESS` for a command that does `does` on a Ray cluster (scan, suggest, finetune: one wording)."""
    return Annotated[
        Optional[str],
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help=f"{does} on the Ray cluster at ADDRESS (auto: RAY_ADDRESS, else the one started on this machine); "
            "the library must be at the same path on every node. Needs pip install 'phototag\\[ray]'.",
        ),
    ]
