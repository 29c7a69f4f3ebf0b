"""`phototag review --web` options and messages that need no server."""

from __future__ import annotations

import sys

from typer.testing import CliRunner

from phototag.cli import app

runner = CliRunner()


def test_without_the_web_extra_the_message_says_what_to_install(library, monkeypatch, tmp_path):
    for name in [n for n in sys.modules if n == "starlette" or n.startswith("starlette.")] or ["starlette"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if Starlette were not installed (nor imported yet)
    monkeypatch.delitem(sys.modules, "phototag.web.server", raising=False)
    result = runner.invoke(
        app, ["review", str(library), "--web", "--no-browser", "--index", str(tmp_path / "i.sqlite")]
    )
    assert result.exit_code == 1
    assert "--web needs the optional web extra: pip install 'phototag[web]' (starlette is missing)" in result.output


def test_review_help_shows_the_web_options():
    result = runner.invoke(app, ["review", "--help"])
    assert result.exit_code == 0
    for option in ("--web", "--port", "--no-browser"):
        assert option in result.output
