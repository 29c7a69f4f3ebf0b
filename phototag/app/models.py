"""Use case: the personal models of a library and which one suggest uses (`phototag models`).

Listing reads meta.json files and checks checksums only: it imports no PyTorch (about 3 s saved).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from phototag.library.index import Index
from phototag.model import checkpoint as ck

GENERAL = ck.GENERAL


class UnknownModel(Exception):
    """A model id that the library does not have, or one that is broken (the message says which)."""


@dataclass
class Models:
    infos: list  # phototag.model.checkpoint.CheckpointInfo, newest first
    used: Optional[str]  # the id suggest uses; None: no personal model
    choice: Optional[str]  # what was chosen (an id or GENERAL); None: never chosen, the newest good one is used


def list_models(index: Index) -> Models:
    infos = ck.list_checkpoints(index)
    choice = ck.chosen(index)
    return Models(infos, ck.in_use(infos, choice), choice)


def _find(models: Models, model_id: str):
    for info in models.infos:
        if info.id == model_id:
            return info
    known = ", ".join(info.id for info in models.infos) or "none"
    raise UnknownModel(f"no personal model {model_id!r} in this library (models: {known}; or `general` for none)")


def use_model(index: Index, model_id: str) -> Models:
    """Make `model_id` (or GENERAL) the model suggest uses; a broken model cannot be chosen."""
    if model_id != GENERAL:
        info = _find(list_models(index), model_id)
        if not info.ok:
            raise UnknownModel(f"personal model {model_id} is broken and cannot be used: {info.problem}")
    ck.choose(index, model_id)
    return list_models(index)


def check_removable(index: Index, model_id: str) -> Path:
    """The folder `remove_model` would delete (to show before asking); raises UnknownModel."""
    return _find(list_models(index), model_id).path


def remove_model(index: Index, model_id: str) -> Models:
    """Delete one personal model (its folder under the library's data folder, nothing else)."""
    check_removable(index, model_id)
    ck.remove_model(index, model_id)
    return list_models(index)
