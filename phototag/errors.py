"""Exit codes and the one base class of the errors a person can act on (a base module: every layer imports it).

A `PhototagError` carries a one-line message and the exit code it ends a command with; the command line
catches it in one place (phototag.cli.app) and prints `error: MESSAGE`, never a traceback. The codes are
documented in README "Exit codes".
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1  # nothing or only part was done; the message says what
EXIT_USAGE = 2  # bad option, argument or input file
EXIT_INCOMPLETE = 3  # done, but files were skipped or some file's keywords could not all be read
EXIT_INDEX = 4  # the index cannot be used: damaged, not phototag's, another library's, read-only, its disk full
EXIT_INTERRUPTED = 130  # Ctrl-C


class PhototagError(Exception):
    """A user-facing error: one line that says what is wrong (and what to do), and an exit code."""

    exit_code = EXIT_ERROR
