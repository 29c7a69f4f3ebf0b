"""`phototag export-onnx`: export the inference graph for onnxruntime (used by `suggest --device onnx|auto`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from phototag.cli.app import app
from phototag.cli.common import EXIT_OK, err_console, fail
from phototag.cli.options import Backbone, IndexOpt, QuietOpt


@app.command("export-onnx")
def export_onnx(
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="Folder for the .onnx files (default: phototag's cache, where suggest looks).", file_okay=False),
    ] = None,
    backbone: Annotated[Backbone, typer.Option("--backbone", help="Visual encoder to export.")] = Backbone.lite0,
    library: Annotated[
        Optional[Path],
        typer.Option("--library", help="Also export this library's newest personal model heads.", exists=True, file_okay=False, resolve_path=True),
    ] = None,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Compare onnxruntime with PyTorch on random inputs.")] = True,
    index_path: IndexOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Export the backbone (images -> features) and the general/personal heads (features -> tag probabilities).

    The graphs are checked against PyTorch (to 1e-4) before they are kept.

    Example: [bold]phototag export-onnx -o ./onnx[/]   or   [bold]phototag export-onnx --library ~/Pictures[/] (with its personal model)
    """
    import torch

    from phototag.model.altreco import GeneralReadout
    from phototag.model.backbone import load_backbone
    from phototag.model.features import onnx_path
    from phototag.model.general import packaged_vocabulary
    from phototag.model.onnx import export_backbone, export_general, export_personal, max_abs_difference
    from phototag.model.weights import WeightsError, model_id

    try:
        model = load_backbone(backbone.value)
    except WeightsError as error:
        raise fail(str(error))
    folder = output or onnx_path(backbone.value).parent
    spec = model.spec
    feature_shape = (spec.feature_channels, spec.feature_size, spec.feature_size)
    size = spec.input_size
    exported: list[tuple[Path, float | None]] = []

    path = export_backbone(model, folder / onnx_path(backbone.value).name)
    images = torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8)
    exported.append((path, max_abs_difference(path, model.trunk, {"images": images}) if check else None))

    readout = GeneralReadout(model.head, model.classifier, packaged_vocabulary().aggregation_matrix()).eval()
    path = export_general(readout, feature_shape, folder / f"heads-{model_id()}-{backbone.value}.onnx")
    features = torch.rand(2, *feature_shape) * 4
    exported.append((path, max_abs_difference(path, readout, {"features": features}) if check else None))

    if library is not None:
        from phototag.library.index import Index
        from phototag.model.checkpoint import load_latest_good

        with Index.for_library(library, index_path) as index:
            personal = load_latest_good(index, warn=lambda m: err_console.print(f"[yellow]warning:[/] {m}"))
        if personal is None:
            raise fail(f"no personal model for {library}; run `phototag finetune` first")
        from phototag.model.onnx import _Probabilities
        from phototag.model.recommend import pool_for

        heads = personal.build("cpu")
        vocab = len(personal.vocabulary)
        # The graph takes features pooled as the model was trained (`feature_pool`), done before it.
        pooled_shape = tuple(pool_for(personal, torch.zeros(1, *feature_shape)).shape[1:])
        path = export_personal(heads, pooled_shape, vocab, folder / f"heads-personal-{personal.id}.onnx")
        inputs = {"features": torch.rand(2, *pooled_shape) * 4, "history": torch.rand(2, vocab)}
        exported.append((path, max_abs_difference(path, _Probabilities(heads).eval(), inputs) if check else None))

    worst = max((d for _, d in exported if d is not None), default=0.0)
    if not quiet:
        for path, difference in exported:
            note = f" (max |onnxruntime - torch| = {difference:.2e})" if difference is not None else ""
            err_console.print(f"wrote {path}{note}", highlight=False)
    if check and worst > 1e-4:
        raise fail(f"onnxruntime and PyTorch disagree by {worst:.2e} (> 1e-4); the export is not usable")
    raise typer.Exit(EXIT_OK)
