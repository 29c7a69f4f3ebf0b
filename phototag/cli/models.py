"""`phototag models DIR`: the personal models of a library, their figures, and which one suggest uses."""

from __future__ import annotations

import json
import sys

import typer
from rich.table import Table
from rich.text import Text

from phototag.cli.app import app
from phototag.cli.common import fail, open_index, out_console
from phototag.cli.options import IndexOpt, JsonOpt, LibraryArg
from phototag.reporting import escape_controls


@app.command()
def models(library: LibraryArg, index_path: IndexOpt = None, json_output: JsonOpt = False) -> None:
    """List the personal models trained on this library (newest first) with their validation figures.

    The newest model that passes its checksum is the one [bold]phototag suggest[/] uses;
    broken or partial ones are listed with the reason and never used.

    Example: [bold]phototag models ~/Pictures[/]
    """
    from phototag.model.checkpoint import list_checkpoints

    with open_index(library, index_path) as index:
        infos = list_checkpoints(index)
    used = next((info.id for info in infos if info.ok), None)
    rows = []
    for info in infos:
        meta = info.meta or {}
        metrics = meta.get("metrics", {})
        rows.append(
            {
                "id": info.id,
                "path": str(info.path),
                "ok": info.ok,
                "problem": info.problem,
                "used_by_suggest": info.id == used,
                "created": meta.get("created"),
                "phototag_version": meta.get("phototag_version"),
                "vocabulary": len(meta.get("vocabulary", [])) if info.ok else None,
                "photos": meta.get("photos"),
                "owner_from": meta.get("owner_from"),
                "best_epoch": metrics.get("best_epoch"),
                "validation": metrics.get("validation", {}),
            }
        )
    if json_output:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        raise typer.Exit(0)
    if not rows:
        raise fail(f"no personal model for {library} yet; train one with `phototag finetune {library}`")
    table = Table(title=Text(f"Personal models of {escape_controls(library)}"), title_justify="left")
    table.add_column("model\n(UTC time)", overflow="fold", min_width=11)
    # Figures never wrap or shrink (a number cut to "0.…" says nothing); the id and the status fold.
    for column in ("tags", "photos\ntrain/val", "best\nepoch", "val\nP@1", "val\nP@5", "val\nR@5"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("status", overflow="fold", min_width=6)
    for row in rows:
        val = row["validation"] or {}
        photos = row["photos"] or {}
        if row["used_by_suggest"]:
            status = Text("in use", style="green")
        else:
            status = Text("ok") if row["ok"] else Text.assemble(("broken:", "red"), " ", escape_controls(row["problem"]))
        table.add_row(
            row["id"],
            str(row["vocabulary"] or ""),
            f"{photos.get('train', '')}/{photos.get('validation', '')}" if photos else "",
            str(row["best_epoch"] or ""),
            *(f"{val[k]:.3f}" if k in val else "" for k in ("P@1", "P@5", "R@5")),
            status,
        )
    out_console.print(table)
