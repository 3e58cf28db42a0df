"""Shared CLI plumbing: clean errors (no tracebacks unless --debug), console."""
from __future__ import annotations

import functools
import os
import sys

import typer
from rich.console import Console

from benchmark.interrupts import Interrupted
from benchmark.text_safety import for_terminal

# wide tables stay legible when piped to a file or a log (rich would wrap them at 80 columns);
# emoji codes off: a stranger's ":warning:" shows as typed (markup is escaped by for_terminal)
console = Console(width=None if sys.stdout.isatty() else 160, emoji=False)
err_console = Console(stderr=True, emoji=False)


def out_console(piped_width: int = 200) -> Console:
    """The terminal as it is; piped output gets a wide console instead of rich's 80 columns."""
    return console if sys.stdout.isatty() else Console(width=piped_width, emoji=False)


def say(message: object) -> None:
    """One progress/log line from the library: printed as plain text (its names come from files and specs)."""
    console.print(for_terminal(message, keep="\n"), highlight=False, soft_wrap=True)


PROFILE_HELP = "paper | cpu | smoke, or a user profile .toml (base = \"cpu\" plus changed fields)."
SET_HELP = ("Change one profile setting, KEY=VALUE (repeatable), e.g. --set epochs=60 --set lr_steps=40; "
            "`aostbench profiles show NAME` lists the keys.")


def debug_enabled() -> bool:
    return os.environ.get("AOSTBENCH_DEBUG") == "1"


def enable_debug() -> None:
    """`--debug` given on a command (the same as `aostbench --debug COMMAND`)."""
    os.environ["AOSTBENCH_DEBUG"] = "1"


def narrow_paths(**flags) -> None:
    """A command's own path flags on top of the Paths the root callback resolved, for the rest of the
    command (friendly_errors, around every command, undoes it when the command ends)."""
    from benchmark import paths

    paths.install(paths.current().with_flags(**flags))


def fail(message: str, code: int = 1) -> "typer.Exit":
    err_console.print(f"[bold red]error:[/] {for_terminal(message, keep=chr(10))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def friendly_errors(fn):
    """Turn the library's expected exceptions into one clear message and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from benchmark import paths

        try:
            with paths.scope():  # a command's narrowed folders end with it
                return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:  # a run said it stopped and how to resume it: no traceback
            raise typer.Exit(130) from None
        except Interrupted as exc:  # SIGTERM (a Slurm time limit)
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:  # noqa: BLE001 - the CLI boundary
            if debug_enabled():
                raise
            raise fail(f"{exc}{_db_hint(exc)}\n(run with --debug for the traceback)") from None

    return wrapper


def _db_hint(exc: BaseException) -> str:
    """A raw DuckDB error means the results DB file itself is unreadable, unwritable or damaged."""
    if not type(exc).__module__.lstrip("_").startswith("duckdb"):
        return ""
    return ("\nthe results database could not be used as it is: `aostbench db check` says what is wrong, "
            "`aostbench db rebuild` recreates it from the run and submission files (the old file is kept)")
