"""Fixtures for the keyword-reader tests: exiftool as the independent writer and reader."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Iterable, Union

import pytest

# What exiftool reports, per field of ours (the -G1 group:tag it prints).
EXIFTOOL_TAGS = {
    "dc:subject": "XMP-dc:Subject",
    "IPTC:Keywords": "IPTC:Keywords",
    "XPKeywords": "IFD0:XPKeywords",
    "lr:hierarchicalSubject": "XMP-lr:HierarchicalSubject",
    "digiKam:TagsList": "XMP-digiKam:TagsList",
    "mediapro:CatalogSets": "XMP-mediapro:CatalogSets",
    "MicrosoftPhoto:LastKeywordXMP": "XMP-microsoft:LastKeywordXMP",
}


class ExifTool:
    def __init__(self, executable: str):
        self.executable = executable

    def write(self, files: Union[Path, Iterable[Path]], *args: str) -> None:
        """Write tags in place (on test copies only)."""
        paths = [files] if isinstance(files, Path) else list(files)
        result = subprocess.run(
            [self.executable, "-q", "-q", "-overwrite_original", *args, *map(str, paths)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr

    def fields(self, path: Path, *extra: str) -> dict[str, list[str]]:
        """Keyword fields as exiftool reads them: {our field name: [values]}; XPKeywords split on ';'."""
        result = subprocess.run(
            [self.executable, "-j", "-G1", "-a", *extra, *(f"-{tag}" for tag in EXIFTOOL_TAGS.values()), str(path)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        found = json.loads(result.stdout)[0]
        fields: dict[str, list[str]] = {}
        for ours, tag in EXIFTOOL_TAGS.items():
            group, name = tag.split(":")
            # any block of the group counts (IPTC2 is a second IPTC block, e.g. an AFCP trailer)
            for key in [k for k in found if ":" in k and k.split(":")[1] == name and k.split(":")[0].startswith(group)]:
                value = found[key]
                items = value if isinstance(value, list) else [value]
                items = [str(item) for item in items]
                if ours == "XPKeywords":
                    items = [part for item in items for part in item.split(";") if part.strip()]
                fields.setdefault(ours, []).extend(items)
        return fields


@pytest.fixture(scope="session")
def et() -> ExifTool:
    executable = shutil.which("exiftool")
    if executable is None:
        pytest.skip("exiftool (Debian libimage-exiftool-perl) is not installed; .ci/run installs it")
    return ExifTool(executable)
