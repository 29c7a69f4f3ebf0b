"""`phototag export-onnx`: export the inference graph for onnxruntime (used by `suggest --device onnx|auto`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from phototag.cli.app import app
from phototag.cli.common import EXIT_OK, err_console, fail, open_index
from phototag.cli.options import Backbone, IndexOpt, QuietOpt


@app.command("export-onnx")
def export_onnx(
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output",
            "-o",
            help="Folder for the .onnx files (default: phototag's cache, where suggest looks).",
            file_okay=False,
        ),
    ] = None,
    backbone: Annotated[Backbone, typer.Option("--backbone", help="Visual encoder to export.")] = Backbone.lite0,
    library: Annotated[
        Optional[Path],
        typer.Option(
            "--library",
            help="Also export this library's newest personal model heads.",
            exists=True,
            file_okay=False,
            resolve_path=True,
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Compare onnxruntime with PyTorch on random inputs.")
    ] = True,
    index_path: IndexOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Export the backbone (images -> features) and the general/personal heads (features -> tag probabilities).

    The graphs are checked against PyTorch (to 1e-4) before they are kept.

    Examples:
      [bold]phototag export-onnx -o ./onnx[/]
      [bold]phototag export-onnx --library ~/Pictures[/] (with its personal model)
    """
    from phototag.errors import require_torch

    require_torch("phototag export-onnx")
    from phototag.app.export_onnx import TOLERANCE, export_graphs
    from phototag.model.checkpoint import load_latest_good

    personal = None
    if library is not None:
        with open_index(library, index_path) as index:
            personal = load_latest_good(index, warn=lambda m: err_console.print(f"[yellow]warning:[/] {m}"))
        if personal is None:
            raise fail(f"no personal model for {library}; run `phototag finetune` first")
    exported = export_graphs(backbone.value, output, personal, check)
    worst = max((d for _, d in exported if d is not None), default=0.0)
    if not quiet:
        for path, difference in exported:
            note = f" (max |onnxruntime - torch| = {difference:.2e})" if difference is not None else ""
            err_console.print(f"wrote {path}{note}", highlight=False)
    if check and worst > TOLERANCE:
        raise fail(f"onnxruntime and PyTorch disagree by {worst:.2e} (> 1e-4); the export is not usable")
    raise typer.Exit(EXIT_OK)
