"""What every command shares when things go wrong: the run log (private files; a log that cannot be written never
stops the work) and the one place that turns errors into one line and an exit code (phototag.cli.app)."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from phototag.cli.common import RunLog


def test_log_folder_and_file_are_private_whatever_the_umask(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOTAG_LOG_DIR", str(tmp_path / "state" / "log"))
    previous = os.umask(0)
    try:
        runlog = RunLog("scan")
        runlog.warn("a warning")
        runlog.close()
    finally:
        os.umask(previous)
    assert runlog.path.read_text(encoding="utf-8").endswith("WARNING a warning\n")
    assert stat.S_IMODE(runlog.path.stat().st_mode) == 0o600
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "state", runlog.path.parent)} == {0o700}


def test_an_unwritable_log_folder_sends_warnings_to_stderr_with_one_note(tmp_path, monkeypatch, capsys):
    (tmp_path / "a-file").write_text("in the way")
    monkeypatch.setenv("PHOTOTAG_LOG_DIR", str(tmp_path / "a-file" / "log"))
    runlog = RunLog("scan")
    runlog.warn("first")
    runlog.skip(tmp_path / "x.jpg", "not a photo")
    runlog.print_footer()
    runlog.close()
    err = capsys.readouterr().err
    assert err.count("cannot write the log file") == 1
    assert "warning: first" in err and "x.jpg: not a photo" in err
    assert "2 warning(s), 1 file(s) skipped (shown above)" in err
    assert runlog.path is None and runlog.exit_code == 3


def test_a_run_log_is_its_own_whatever_handlers_others_registered(tmp_path, monkeypatch):
    """Handlers that a library or a test runner puts on logging's loggers, even under the run log's own name,
    never see (or break) a run's log."""
    monkeypatch.setenv("PHOTOTAG_LOG_DIR", str(tmp_path))
    seen = []
    foreign = logging.Handler()
    foreign.emit = lambda record: seen.append(record.getMessage())
    runlog = RunLog("scan")
    names = ("", "phototag", "phototag.run", runlog._open().name)
    for name in names:
        logging.getLogger(name).addHandler(foreign)
    try:
        runlog.warn("only in the run's file")
        runlog.close()
    finally:
        for name in names:
            logging.getLogger(name).removeHandler(foreign)
    assert seen == []
    assert runlog.path.read_text(encoding="utf-8").endswith("WARNING only in the run's file\n")


def test_a_log_write_that_fails_later_falls_back_once(tmp_path, monkeypatch, capsys):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    monkeypatch.setenv("PHOTOTAG_LOG_DIR", str(tmp_path))
    runlog = RunLog("scan")
    runlog.warn("written")
    (handler,) = runlog._logger.handlers  # the run's own log file, and nothing else
    handler.stream.close()
    handler.stream = open("/dev/full", "w", encoding="utf-8")  # a disk that filled up meanwhile
    runlog.warn("second")
    runlog.warn("third")
    runlog.close()
    err = capsys.readouterr().err
    assert err.count("cannot write the log file") == 1 and "Logging error" not in err
    assert "warning: second" in err and "warning: third" in err


@pytest.mark.parametrize(
    "raised, code, line",
    [
        ("phototag", 5, "error: a thing the person can fix"),
        ("sqlite", 4, "error: the index failed: database or disk is full"),
        ("os", 1, "error: Permission denied: /some/file"),
    ],
)
def test_the_command_group_turns_errors_into_one_line(raised, code, line):
    """The one place (phototag.cli.app): any command's PhototagError, SQLite or OS error is one line and a code."""
    import sqlite3

    import typer
    from typer.testing import CliRunner

    from phototag.cli.app import _Commands
    from phototag.errors import PhototagError

    class Fixable(PhototagError):
        exit_code = 5

    errors = {
        "phototag": Fixable("a thing the person can fix"),
        "sqlite": sqlite3.OperationalError("database or disk is full"),
        "os": PermissionError(13, "Permission denied", "/some/file"),
    }
    app = typer.Typer(cls=_Commands)

    @app.command()
    def fails() -> None:
        raise errors[raised]

    @app.command()
    def other() -> None:  # (two commands: a group, as phototag's)
        pass

    result = CliRunner().invoke(app, ["fails"])
    assert result.exit_code == code and result.output.strip() == line
    assert result.exception is None or isinstance(result.exception, SystemExit)
