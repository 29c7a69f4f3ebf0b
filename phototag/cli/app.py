"""The Typer application object; command modules register themselves on it.

Errors a person can act on end every command here, in one place: `error: MESSAGE` on one line and the
exit code of phototag.errors (README "Exit codes"), never a traceback.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from phototag import __version__
from phototag.cli.common import err_console, print_line
from phototag.errors import EXIT_ERROR, EXIT_INDEX, PhototagError


class _Commands(TyperGroup):
    """The command group: turns the errors of any command into one line and its exit code."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except PhototagError as error:
            code, message = error.exit_code, str(error)
        except sqlite3.Error as error:  # the index failed outside an `Index` block (phototag.library.index)
            code, message = EXIT_INDEX, f"the index failed: {error}"
        except OSError as error:  # the system refused (a file, a folder, a device): not a bug of phototag
            code, message = EXIT_ERROR, f"{error.strerror or error}" + (f": {error.filename}" if error.filename else "")
        print_line(err_console, message, "error:", "red")
        raise typer.Exit(code)


def _plain_help() -> None:
    """Typer 0.29 prints `<bool>` beside every flag (--web, --dry-run, --help), which takes no value, and
    `{DIR}` for a required argument in the usage line: show a type only for options that take a value,
    and the usage as `phototag review [OPTIONS] DIR`, as the help texts write it."""
    from typer.core import TyperArgument, TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is not None and not getattr(shown, "phototag", False):

        def display_type_rich(self, ctx):
            return None if self.is_flag and self.metavar is None else shown(self, ctx)

        display_type_rich.phototag = True
        TyperOption.display_type_rich = display_type_rich
    usage = getattr(TyperArgument, "_usage_display_name", None)
    if usage is not None and not getattr(usage, "phototag", False):

        def _usage_display_name(self) -> str:
            name = usage(self)
            return name[1:-1] if name.startswith("{") and name.endswith("}") else name

        _usage_display_name.phototag = True
        TyperArgument._usage_display_name = _usage_display_name


_plain_help()

app = typer.Typer(
    name="phototag",
    cls=_Commands,
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
