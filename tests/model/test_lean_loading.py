"""suggest loads only what its path needs: no timm / PyTorch backbone when onnxruntime runs the trunk,
no MiniLM when every owner tag matches a general tag by spelling or WordNet; same suggestions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from photos import make_jpeg, write_sidecar

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from pathlib import Path
from phototag.library.history import TagHistory
from phototag.library.index import Index
from phototag.library.scan import scan_library
from phototag.model.features import FeatureExtractor
from phototag.model.recommend import Recommender
from phototag.reporting import CollectingReporter

with Index(Path(sys.argv[2]) / "i.sqlite", Path(sys.argv[2]) / "lib") as index:
    scan_library(index, CollectingReporter())
    history = TagHistory(index.photos())
extractor = FeatureExtractor("lite0", sys.argv[1])
Recommender(history, extractor.backbone, cache_dir=None)
print(json.dumps({name: name in sys.modules for name in ("timm", "tokenizers")}))
"""


def loaded(device: str, vocabulary: list[str], tmp_path: Path) -> dict[str, bool]:
    """Which of timm and the embedder's tokenizers a fresh process loads to suggest for a library tagged with
    `vocabulary`."""
    work = tmp_path / vocabulary[0]
    photo = make_jpeg(work / "lib" / "a.jpg")
    write_sidecar(photo.with_suffix(".xmp"), subjects=vocabulary)
    make_jpeg(work / "lib" / "b.jpg")
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, device, str(work)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO), "PHOTOTAG_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_onnxruntime_trunk_builds_no_pytorch_backbone_and_matched_tags_load_no_embedder(tmp_path):
    # 0.x built timm's model (about 250 MB with timm itself) for every device, onnxruntime included.
    assert loaded("onnx-int8", ["cat", "Beaches"], tmp_path) == {"timm": False, "tokenizers": False}
    # A tag that no general tag spells needs the embedder (MiniLM) to find its meaning.
    assert loaded("onnx-int8", ["grandma's kitchen"], tmp_path) == {"timm": False, "tokenizers": True}


LIST_MODELS = """
import json, sys
from typer.testing import CliRunner
from phototag.cli import app
result = CliRunner().invoke(app, ["models", sys.argv[1], "--index", sys.argv[2], "--json"])
print(json.dumps({"torch": "torch" in sys.modules, "exit": result.exit_code, "rows": result.stdout.splitlines()}))
"""


def test_listing_models_imports_no_pytorch(tmp_path):
    # 0.x parsed each model with safetensors.torch to check it: 3 of the 4 s that `phototag models` took.
    from phototag.library.index import library_data_dir
    from phototag.model import checkpoint as ck

    (tmp_path / "lib").mkdir()
    index_path = tmp_path / "index.sqlite"
    meta = {"vocabulary": ["cat"], "model_kwargs": {}, "owners": []}
    saved = ck.save_model(library_data_dir(index_path), {"w": torch.ones(2)}, torch.zeros(1, 1), meta)
    proc = subprocess.run(
        [sys.executable, "-c", LIST_MODELS, str(tmp_path / "lib"), str(index_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["exit"] == 0 and [json.loads(row)["id"] for row in out["rows"]] == [saved.name]
    assert json.loads(out["rows"][0])["ok"] and out["torch"] is False


BROKEN_TIMM = """
import sys
sys.modules["timm"] = None  # `import timm` fails, as beside a torchvision built for another torch
from phototag.cli import main
sys.argv = ["phototag", "suggest", sys.argv[1], "--device", "cpu", "--index", sys.argv[2]]
main()
"""


def test_a_pytorch_backbone_that_cannot_be_built_is_one_error_line_not_a_traceback(tmp_path):
    photo = make_jpeg(tmp_path / "lib" / "a.jpg")
    write_sidecar(photo.with_suffix(".xmp"), subjects=["cat"])
    make_jpeg(tmp_path / "lib" / "b.jpg")
    proc = subprocess.run(
        [sys.executable, "-c", BROKEN_TIMM, str(tmp_path / "lib"), str(tmp_path / "i.sqlite")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO), "PHOTOTAG_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "cannot build the PyTorch backbone: importing timm failed" in proc.stderr
    assert "--device onnx-int8" in proc.stderr
