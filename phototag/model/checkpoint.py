"""Personal models of a library and resumable training state, stored so that a crash never leaves a usable-looking
broken file.

Layout under `index.data_dir`:

    models/<UTC timestamp>/heads.safetensors   trained ALTReco heads + owner history vectors
    models/<UTC timestamp>/meta.json           vocabulary, hierarchy paths, options, metrics,
                                               date, phototag version, sha256 of the safetensors
    models/choice.json                         which model suggest uses: {"use": "<id>" | "general"}
                                               (finetune and `phototag models --use` write it)
    finetune-resume/<UTC timestamp>/state.pt   resumable training state of an unfinished run
    finetune-resume/<UTC timestamp>/meta.json  sha256 of state.pt and the run's signature

Every entry is written into a hidden temporary folder beside its final place,
each file fsynced, then the folder is renamed into place (atomic on POSIX) and
the parent fsynced. A folder whose meta.json is missing or unreadable, whose
payload is missing, or whose sha256 does not match is reported and never loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from phototag import __version__
from phototag.errors import PhototagError
from phototag.fsio import atomic_write, fsync_dir

MODELS_DIR = "models"
RESUME_DIR = "finetune-resume"
HEADS_FILE = "heads.safetensors"
STATE_FILE = "state.pt"
META_FILE = "meta.json"
CHOICE_FILE = "choice.json"
GENERAL = "general"  # the choice of no personal model: suggest ranks with the general model and the library alone
FORMAT = "phototag-personal-model/1"


class CheckpointError(PhototagError, RuntimeError):
    """A checkpoint folder is incomplete, corrupt or does not match its checksum."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utc_stamp() -> str:
    """Sortable folder name: UTC time to the microsecond."""
    now = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1e6):06d}Z"


def write_entry(
    parent: Path, payload_name: str, payload: bytes, meta: dict[str, Any], name: Optional[str] = None
) -> Path:
    """Atomically create parent/<name>/ holding the payload and meta.json (with the payload's sha256)."""
    parent.mkdir(parents=True, exist_ok=True)
    name = name or utc_stamp()
    final = parent / name
    while final.exists():  # two saves in one microsecond: never overwrite
        name = utc_stamp()
        final = parent / name
    temporary = parent / f".tmp-{name}-{os.getpid()}"
    temporary.mkdir()
    try:
        meta = dict(meta, sha256=sha256_bytes(payload), payload=payload_name)
        for file_name, data in (
            (payload_name, payload),
            (META_FILE, json.dumps(meta, indent=2, ensure_ascii=False).encode()),
        ):
            with open(temporary / file_name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        fsync_dir(temporary)
        os.rename(temporary, final)
        fsync_dir(parent)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return final


def read_entry(folder: Path) -> tuple[dict[str, Any], bytes]:
    """meta and payload of one entry; raises CheckpointError when anything does not add up."""
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{folder}: {META_FILE} missing (partial checkpoint)") from None
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{folder}: unreadable {META_FILE}: {error}") from None
    if (
        not isinstance(meta, dict)
        or not isinstance(meta.get("sha256"), str)
        or not isinstance(meta.get("payload"), str)
    ):
        raise CheckpointError(f"{folder}: {META_FILE} lacks sha256/payload")
    payload_path = folder / os.path.basename(meta["payload"])
    try:
        payload = payload_path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"{folder}: cannot read {payload_path.name}: {error.strerror or error}") from None
    actual = sha256_bytes(payload)
    if actual != meta["sha256"]:
        raise CheckpointError(
            f"{folder}: checksum mismatch for {payload_path.name} (expected {meta['sha256'][:12]}…, got {actual[:12]}…)"
        )
    return meta, payload


def _entries(parent: Path) -> list[Path]:
    """Entry folders, newest first; temporary folders of interrupted writes are not entries."""
    if not parent.is_dir():
        return []
    return sorted(
        (p for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name, reverse=True
    )


# ----------------------------------------------------------------- personal models
@dataclass
class CheckpointInfo:
    id: str
    path: Path
    meta: Optional[dict[str, Any]]
    problem: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass
class LoadedModel:
    """A verified personal model: everything `suggest` needs to rebuild and run it."""

    id: str
    path: Path
    meta: dict[str, Any]
    tensors: dict[str, Any] = field(repr=False)

    @property
    def vocabulary(self) -> list[str]:
        return list(self.meta["vocabulary"])

    @property
    def hierarchy(self) -> dict[str, str]:
        """leaf -> full path written with '|' (only for tags that had one)."""
        return dict(self.meta.get("hierarchy", {}))

    def tag_path(self, leaf: str) -> str:
        return self.hierarchy.get(leaf, leaf)

    @property
    def owners(self) -> list[str]:
        return list(self.meta.get("owners", []))

    def history_for(self, owner: Optional[str] = None):
        """The owner's tag-history vector u_h (the first owner when None or unknown; zeros when none)."""
        import torch

        histories = self.tensors.get("histories")
        if histories is None or histories.shape[0] == 0:
            return torch.zeros(len(self.vocabulary))
        owners = self.owners
        row = owners.index(owner) if owner in owners else 0
        return histories[row]

    def heads_state(self) -> dict[str, Any]:
        return {k[len("heads.") :]: v for k, v in self.tensors.items() if k.startswith("heads.")}

    def build(self, device: str = "cpu"):
        """The ALTReco heads with the trained weights, in eval mode: call it with (features [B,C,H,W], u_h [B,V])."""
        from phototag.model.altreco import ALTReco, PooledHeads

        model = ALTReco(**self.meta["model_kwargs"])
        model.load_state_dict(self.heads_state())
        pool = int(self.meta.get("feature_pool", 0))
        if pool:
            model = PooledHeads(model, pool)  # fed full cached maps, it pools them as in training
        return model.to(device).eval()


def models_dir(data_dir: Path) -> Path:
    return Path(data_dir) / MODELS_DIR


def _data_dir(index_or_dir) -> Path:
    return Path(getattr(index_or_dir, "data_dir", index_or_dir))


def save_model(
    index_or_dir, heads_state: dict[str, Any], histories, meta: dict[str, Any], extra: Optional[dict[str, Any]] = None
) -> Path:
    """Write a personal model; returns its folder. `meta` must hold vocabulary and model_kwargs; `extra`:
    more named tensors saved beside the heads (the ranking's probe: phototag.model.probe)."""
    import torch
    from safetensors.torch import save as save_tensors

    for required in ("vocabulary", "model_kwargs"):
        if required not in meta:
            raise ValueError(f"model meta needs {required!r}")
    tensors = {f"heads.{k}": v.detach().cpu().contiguous() for k, v in heads_state.items()}
    tensors["histories"] = torch.as_tensor(histories).detach().cpu().float().contiguous()  # numpy or torch
    tensors.update(extra or {})
    payload = save_tensors(tensors, metadata={"format": FORMAT})
    meta = dict(
        meta, format=FORMAT, phototag_version=__version__, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    )
    return write_entry(models_dir(_data_dir(index_or_dir)), HEADS_FILE, payload, meta)


def model_meta(
    *,
    vocabulary: list[str],
    hierarchy: dict[str, str],
    owners: list[str],
    owner_from: str,
    backbone: str,
    features: str,
    feature_shape: Sequence[int],
    feature_pool: int,
    options: dict[str, Any],
    metrics: dict[str, Any],
    photos: dict[str, int],
    seconds: float,
) -> dict[str, Any]:
    """What a personal model's meta.json holds (save_model adds format, version, date and checksum).

    The one definition for everything that saves a model (finetune, the benchmarks): `suggest`
    rebuilds the heads from `model_kwargs` and `feature_pool`, and feeds them features of kind
    `features` (the trunk's float or int8 output, see phototag.model.features.cache_key)."""
    from phototag.model.altreco import personal_kwargs

    return {
        "vocabulary": list(vocabulary),
        "hierarchy": dict(hierarchy),
        "owners": list(owners),
        "owner_from": owner_from,
        "model_kwargs": personal_kwargs(len(vocabulary), int(feature_shape[0])),
        "backbone": backbone,
        "features": features,
        "feature_pool": int(feature_pool),
        "feature_shape": [int(n) for n in feature_shape],
        "options": options,
        "metrics": metrics,
        "photos": photos,
        "seconds": round(seconds, 1),
    }


def list_checkpoints(index_or_dir) -> list[CheckpointInfo]:
    """All personal models of a library, newest first, each verified (problem set when broken)."""
    infos = []
    for folder in _entries(models_dir(_data_dir(index_or_dir))):
        try:
            meta, payload = read_entry(folder)
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"{folder}: unknown format {meta.get('format')!r}")
            from safetensors import deserialize  # parses without PyTorch: listing models stays fast

            deserialize(payload)  # a payload that matches its checksum but does not parse is still broken
            infos.append(CheckpointInfo(folder.name, folder, meta))
        except CheckpointError as error:
            infos.append(CheckpointInfo(folder.name, folder, None, str(error)))
        except Exception as error:  # safetensors raises its own error types
            infos.append(CheckpointInfo(folder.name, folder, None, f"{folder}: unreadable {HEADS_FILE}: {error}"))
    return infos


def load_model(folder: Path) -> LoadedModel:
    from safetensors.torch import load as load_tensors

    meta, payload = read_entry(Path(folder))
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{folder}: unknown format {meta.get('format')!r}")
    try:
        tensors = load_tensors(payload)
    except Exception as error:
        raise CheckpointError(f"{folder}: unreadable {HEADS_FILE}: {error}") from None
    return LoadedModel(Path(folder).name, Path(folder), meta, tensors)


def load_latest_good(index_or_dir, warn: Optional[Callable[[str], None]] = None) -> Optional[LoadedModel]:
    """The newest personal model that verifies; broken newer ones are reported through `warn` and skipped."""
    for folder in _entries(models_dir(_data_dir(index_or_dir))):
        try:
            return load_model(folder)
        except CheckpointError as error:
            if warn is not None:
                warn(f"ignoring personal model {folder.name}: {error}")
    return None


# ------------------------------------------------------- which model suggest uses
def chosen(index_or_dir) -> Optional[str]:
    """The model chosen for suggest (by finetune or `phototag models --use`): a model id, GENERAL (none),
    or None when nothing was ever chosen (libraries finetuned before the choice existed: the newest good one)."""
    try:
        value = json.loads((models_dir(_data_dir(index_or_dir)) / CHOICE_FILE).read_text(encoding="utf-8")).get("use")
    except (OSError, ValueError, AttributeError):
        return None
    # a model id is one folder name inside models/, never a path elsewhere
    return value if isinstance(value, str) and value and os.path.basename(value) == value and value[0] != "." else None


def choose(index_or_dir, use: str) -> None:
    """Make `use` (a model id, or GENERAL) what suggest uses from now on."""
    folder = models_dir(_data_dir(index_or_dir))
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / CHOICE_FILE, json.dumps({"use": use}).encode())


def in_use(infos: Sequence[CheckpointInfo], choice: Optional[str]) -> Optional[str]:
    """The id of the model suggest uses among `infos` (list_checkpoints) given `choice` (chosen): the chosen one
    when it verifies, none for GENERAL or a chosen model that is gone or broken, the newest good one if none chosen."""
    good = [info.id for info in infos if info.ok]
    if choice is None:
        return good[0] if good else None
    return choice if choice in good else None


def load_in_use(index_or_dir, warn: Optional[Callable[[str], None]] = None) -> Optional[LoadedModel]:
    """The personal model suggest uses (see in_use), or None; a chosen model that no longer loads is reported."""
    choice = chosen(index_or_dir)
    if choice is None:
        return load_latest_good(index_or_dir, warn)
    if choice == GENERAL:
        return None
    try:
        return load_model(models_dir(_data_dir(index_or_dir)) / choice)
    except CheckpointError as error:
        if warn is not None:
            warn(
                f"the personal model chosen for suggest is unusable, ranking without one "
                f"(`phototag models` lists the others): {error}"
            )
        return None


def remove_model(index_or_dir, model_id: str) -> Path:
    """Delete one personal model's folder (phototag's own files, nothing else); returns it. Removing the model
    in use leaves suggest without a personal model (GENERAL) rather than silently switching to another one."""
    infos = list_checkpoints(index_or_dir)
    by_id = {info.id: info for info in infos}
    if model_id not in by_id:
        raise KeyError(model_id)
    was_used = in_use(infos, chosen(index_or_dir)) == model_id or chosen(index_or_dir) == model_id
    folder = by_id[model_id].path
    shutil.rmtree(folder)
    fsync_dir(folder.parent)
    if was_used:
        choose(index_or_dir, GENERAL)
    return folder


# ------------------------------------------------------------ resumable training
def resume_dir(data_dir: Path) -> Path:
    return Path(data_dir) / RESUME_DIR


def save_resume_state(index_or_dir, state: dict[str, Any], signature: str, keep: int = 1) -> Path:
    """Write the state of an unfinished run (after each epoch); older states beyond `keep` are removed."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    parent = resume_dir(_data_dir(index_or_dir))
    folder = write_entry(parent, STATE_FILE, buffer.getvalue(), {"signature": signature, "epoch": state.get("epoch")})
    for old in _entries(parent)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def load_resume_state(
    index_or_dir, signature: str, warn: Optional[Callable[[str], None]] = None
) -> Optional[dict[str, Any]]:
    """The newest verified resumable state for the same data and options, or None."""
    import torch

    for folder in _entries(resume_dir(_data_dir(index_or_dir))):
        try:
            meta, payload = read_entry(folder)
        except CheckpointError as error:
            if warn:
                warn(f"ignoring resumable state {folder.name}: {error}")
            continue
        if meta.get("signature") != signature:
            if warn:
                warn(f"ignoring resumable state {folder.name}: it was made from other photos, tags or options")
            continue
        try:
            return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
        except Exception as error:
            if warn:
                warn(f"ignoring resumable state {folder.name}: {error}")
    return None


def clear_resume_state(index_or_dir) -> None:
    shutil.rmtree(resume_dir(_data_dir(index_or_dir)), ignore_errors=True)
