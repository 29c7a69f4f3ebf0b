"""Command-line interface: one module per command, registered on one Typer app.

Heavy libraries (torch, onnxruntime) are imported inside the commands that need
them so that `phototag scan` and `phototag tags` start fast.
"""

from __future__ import annotations

import sys

from phototag.cli.app import app
from phototag.errors import EXIT_INTERRUPTED

# Each import registers its command(s) on `app`, in the order `phototag --help` lists them.
# isort: off
from phototag.cli import scan as _scan  # noqa: F401
from phototag.cli import tags as _tags  # noqa: F401
from phototag.cli import eval as _eval, finetune as _finetune, models as _models  # noqa: F401
from phototag.cli import apply as _apply, review as _review, undo as _undo  # noqa: F401
from phototag.cli import suggest as _suggest, export_onnx as _export_onnx  # noqa: F401
# isort: on


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
