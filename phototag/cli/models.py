"""`phototag models DIR`: the personal models of a library, their figures, and which one suggest uses;
`--use ID` / `--use general` chooses, `--remove ID` deletes one."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from phototag.cli.app import app
from phototag.cli.common import EXIT_USAGE, err_console, fail, open_index, out_console
from phototag.cli.options import IndexOpt, JsonOpt, LibraryArg
from phototag.reporting import escape_controls

UseOpt = Annotated[
    Optional[str],
    typer.Option("--use", metavar="ID", help="Make suggest use this personal model, or `general` for none."),
]
RemoveOpt = Annotated[
    Optional[str],
    typer.Option(
        "--remove", metavar="ID", help="Delete this personal model (its folder in phototag's data, nothing else)."
    ),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="With --remove: do not ask (needed without a terminal).")]


@app.command()
def models(
    library: LibraryArg,
    use: UseOpt = None,
    remove: RemoveOpt = None,
    yes: YesOpt = False,
    index_path: IndexOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """List the personal models trained on this library (newest first) with their figures, and which one
    [bold]phototag suggest[/] uses.

    finetune makes a new model the one in use only when it beats the ranking without it on the same held-out
    photos; --use picks any good model (or `general`: none), --remove deletes one after asking. Broken or
    partial models are listed with the reason and never used.

    Example: [bold]phototag models ~/Pictures[/]   or   [bold]phototag models ~/Pictures --use general[/]
    """
    from phototag.app.models import UnknownModel, check_removable, list_models, remove_model, use_model

    if use and remove:
        raise fail("choose one of --use and --remove", EXIT_USAGE)
    with open_index(library, index_path) as index:
        try:
            if use:
                found = use_model(index, use)
                err_console.print(_using(found.used), highlight=False)
            elif remove:
                folder = check_removable(index, remove)
                _confirm_removal(remove, folder, yes)
                found = remove_model(index, remove)
                err_console.print(
                    f"removed personal model {escape_controls(remove)}. {_using(found.used)}", highlight=False
                )
            else:
                found = list_models(index)
        except UnknownModel as error:
            raise fail(str(error)) from None
    if use or remove:
        raise typer.Exit(0)
    _list(library, found, json_output)


def _using(used: Optional[str]) -> str:
    if used is None:
        return "phototag suggest now ranks without a personal model (the general model and your tagged photos)."
    return f"phototag suggest now uses personal model {used}."


def _confirm_removal(model_id: str, folder, yes: bool) -> None:
    """Ask on a terminal; without one, only --yes removes (a script never deletes by accident)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise fail(f"not removing {model_id} without confirmation: add --yes", EXIT_USAGE)
    if not typer.confirm(f"Remove personal model {model_id} ({folder})?", default=False, err=True):
        raise fail("nothing removed")


def _list(library, found, json_output: bool) -> None:
    rows = []
    for info in found.infos:
        meta = info.meta or {}
        metrics = meta.get("metrics", {})
        rows.append(
            {
                "id": info.id,
                "path": str(info.path),
                "ok": info.ok,
                "problem": info.problem,
                "used_by_suggest": info.id == found.used,
                "created": meta.get("created"),
                "phototag_version": meta.get("phototag_version"),
                "vocabulary": len(meta.get("vocabulary", [])) if info.ok else None,
                "photos": meta.get("photos"),
                "owner_from": meta.get("owner_from"),
                "best_epoch": metrics.get("best_epoch"),
                "validation": metrics.get("validation", {}),
                "comparison": metrics.get("comparison"),
            }
        )
    if json_output:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        raise typer.Exit(0)
    if not rows:
        raise fail(f"no personal model for {library} yet; train one with `phototag finetune {library}`")
    _table(library, rows)
    err_console.print(_in_use_line(found), highlight=False)


def _in_use_line(found) -> str:
    if found.used is not None:
        return f"suggest uses personal model {found.used}."
    why = "chosen with --use general or kept by finetune" if found.choice == "general" else "none is usable"
    return f"suggest uses no personal model ({why}); `phototag models DIR --use ID` picks one."


def _table(library, rows: list[dict]) -> None:
    table = Table(
        title=Text(f"Personal models of {escape_controls(library)}"),
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )  # (no outer border: the status column still fits 80 columns)
    table.add_column("model\n(UTC time)", overflow="fold", min_width=11)
    # Figures never wrap or shrink (a number cut to "0.…" says nothing); the id and the status fold.
    for column in (
        "tags",
        "photos\ntrain/val",
        "best\nepoch",
        "val\nP@1",
        "val\nP@5",
        "val\nR@5",
        "ranked P@5\nwith/w/o",
    ):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("status", overflow="fold", min_width=6)
    for row in rows:
        val = row["validation"] or {}
        photos = row["photos"] or {}
        if row["used_by_suggest"]:
            status = Text("in use", style="green")
        else:
            status = (
                Text("ok") if row["ok"] else Text.assemble(("broken:", "red"), " ", escape_controls(row["problem"]))
            )
        table.add_row(
            row["id"],
            str(row["vocabulary"] or ""),
            f"{photos.get('train', '')}/{photos.get('validation', '')}" if photos else "",
            str(row["best_epoch"] or ""),
            *(f"{val[k]:.3f}" if k in val else "" for k in ("P@1", "P@5", "R@5")),
            _comparison_cell(row["comparison"]),
            status,
        )
    out_console.print(table)


def _comparison_cell(comparison: Optional[dict]) -> str:
    """What finetune measured: the suggestion ranking's P@5 with and without this model on its held-out photos."""
    if not comparison:
        return ""
    return f"{comparison['with']:.2f}/{comparison['without']:.2f}\n({comparison['photos']} photos)"
