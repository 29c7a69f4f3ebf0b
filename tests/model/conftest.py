"""Model test fixtures: one backbone per session (loading it takes seconds), real example photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """ONNX graphs and the remembered device choice go to a per-test cache folder."""
    monkeypatch.setenv("PHOTOTAG_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def backbone():
    import torch

    from phototag.model.backbone import load_backbone

    torch.set_num_threads(1)
    return load_backbone("lite0")


@pytest.fixture(scope="session")
def classified_photos() -> list[tuple[Path, list[str]]]:
    """Real photos from the examples library whose sources.json names their ImageNet class(es)."""
    sources = EXAMPLES / "sources.json"
    if not sources.exists():
        pytest.skip("examples/sources.json is absent")
    photos = json.loads(sources.read_text(encoding="utf-8"))["photos"]
    found = [(EXAMPLES / "library" / p["file"], p["imagenet"]) for p in photos if p.get("imagenet")]
    if len(found) < 4:
        pytest.skip("examples/sources.json names ImageNet classes for fewer than 4 photos")
    return found


@pytest.fixture(scope="session")
def to_tensor():
    """Decode a photo exactly as the suggest pipeline does: uint8 [3, S, S]."""
    import torch

    from phototag.imaging.pipeline import PhotoDataset

    def convert(path: Path, size: int = 224) -> "torch.Tensor":
        _, array, error = PhotoDataset([path], size)[0]
        assert error is None, error
        return torch.from_numpy(array)

    return convert


@pytest.fixture(scope="session")
def example_photo():
    """Copy an example photo to `dest` without its metadata (a clean, untagged real photo)."""
    from PIL import Image

    def copy(name: str, dest: Path) -> Path:
        source = EXAMPLES / "library" / name
        if not source.exists():
            pytest.skip(f"example photo {name} is absent")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(source) as image:
            image.convert("RGB").save(dest, "JPEG", quality=90)
        return dest

    return copy


@pytest.fixture
def scanned():
    """Scan a library folder into a fresh index (the real scanner) and return the open index."""
    from phototag.cli.common import RunLog
    from phototag.library.index import Index
    from phototag.library.scan import scan_library

    opened = []

    def scan(root: Path) -> "Index":
        index = Index.for_library(root)
        scan_library(index, RunLog("test", quiet=True))
        opened.append(index)
        return index

    yield scan
    for index in opened:
        index.close()
