"""The Typer application object; command modules register themselves on it."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from phototag import __version__

app = typer.Typer(
    name="phototag",
    help=(
        "Learns how you tag your photos and suggests tags in your own vocabulary.\n\n"
        "Start with [bold]phototag scan DIR[/] to read the keywords you already gave, "
        "then [bold]phototag tags DIR[/] to see your vocabulary."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"phototag {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """phototag command line."""
