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


TORCH_EXTRA = "pip install 'phototag[torch]'"  # PyTorch and the backbones' PyTorch weights (pyproject `torch` extra)


class TorchMissing(PhototagError):
    """A command or option that needs PyTorch (finetune, --device cpu/cuda, a float graph's export) where it is
    not installed: scan, suggest's default path, review, apply, undo and eval's non-training rows run without it."""


def optional_torch():
    """The `torch` module, or None where PyTorch is not installed (or cannot be imported)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def require_torch(what: str):
    """The `torch` module, or TorchMissing: `WHAT needs PyTorch: pip install 'phototag[torch]'`."""
    torch = optional_torch()
    if torch is None:
        raise TorchMissing(f"{what} needs PyTorch: {TORCH_EXTRA}")
    return torch
