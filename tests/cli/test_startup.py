"""The command line starts fast: importing it loads no PyTorch (commands that need it import it themselves)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_importing_the_cli_loads_no_torch():
    # A fresh interpreter: the test process itself may have imported torch already.
    check = (
        "import sys, phototag.cli; heavy = sorted(m for m in ('torch', 'timm', 'onnxruntime') if m in "
        "sys.modules); print(heavy)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", check],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", f"importing phototag.cli loads {proc.stdout.strip()}"
