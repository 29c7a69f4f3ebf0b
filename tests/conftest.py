"""Shared fixtures. Every test gets its own data and log folders: the real user dirs are never touched."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch):
    base = tmp_path_factory.mktemp("userdirs")
    monkeypatch.setenv("PHOTOTAG_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("PHOTOTAG_LOG_DIR", str(base / "logs"))
    monkeypatch.delenv("PHOTOTAG_INDEX", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return base


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared corpora folder {SHARED} is absent (it sits beside the repository)")
    return SHARED


@pytest.fixture
def exiftool() -> str:
    path = shutil.which("exiftool")
    if path is None:
        pytest.skip("exiftool (Debian libimage-exiftool-perl) is not installed; .ci/run installs it")
    return path


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0
