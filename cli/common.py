"""Shared CLI plumbing: clean errors (no tracebacks unless --debug), console."""
from __future__ import annotations

import functools
import os
import sys

import typer
from rich.console import Console
from rich.markup import escape

# wide tables stay legible when piped to a file or a log (rich would wrap them at 80 columns)
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)


PROFILE_HELP = "paper | cpu | smoke, or a user profile .toml (base = \"cpu\" plus changed fields)."
SET_HELP = ("Change one profile setting, KEY=VALUE (repeatable), e.g. --set epochs=60 --set lr_steps=40; "
            "`aostbench profiles show NAME` lists the keys.")


def debug_enabled() -> bool:
    return os.environ.get("AOSTBENCH_DEBUG") == "1"


def fail(message: str, code: int = 1) -> "typer.Exit":
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def friendly_errors(fn):
    """Turn the library's expected exceptions into one clear message and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - the CLI boundary
            if debug_enabled():
                raise
            raise fail(f"{exc}\n(run with --debug for the traceback)") from None

    return wrapper
