"""`aostbench profiles list|show`: the run settings, fully resolved."""
from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import SET_HELP, console, fail, friendly_errors

profiles_app = typer.Typer(
    help="Run profiles (paper, cpu, smoke, or your own TOML): every setting, typed and documented.\n\n"
         "Examples:\n\n  aostbench profiles list\n\n  aostbench profiles show paper --set epochs=60 --set lr_steps=40"
         "\n\n  aostbench profiles show my_profile.toml --format toml",
    no_args_is_help=True,
)


@profiles_app.command("list")
@friendly_errors
def list_cmd() -> None:
    """The built-in profiles with the settings that tell them apart."""
    from benchmark.profiles import BUILTIN, SETTING_KEYS, builtin, field_doc, format_value

    profs = [builtin(n) for n in BUILTIN]
    t = Table(title="built-in profiles (a user profile: a .toml naming base = \"cpu\" plus changed fields)")
    t.add_column("setting")
    for p in profs:
        t.add_column(p.name)
    t.add_column("meaning")
    for k in SETTING_KEYS:
        t.add_row(k, *(escape(format_value(getattr(p, k))) for p in profs), escape(field_doc(k)))
    console.print(t)


@profiles_app.command("show")
@friendly_errors
def show_cmd(
    name: str = typer.Argument(..., help="paper | cpu | smoke, or a user profile .toml"),
    sets: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
    fmt: str = typer.Option("text", "--format", "-f", help="text | toml | json"),
) -> None:
    """Every setting of one profile after its base and --set changes, and how it differs from its base."""
    from benchmark.profiles import describe, differences, field_doc, format_value, load_profile, to_toml

    if fmt not in ("text", "toml", "json"):
        raise fail(f"--format must be text, toml or json, got {fmt!r}")
    p = load_profile(name, sets)
    if fmt == "toml":
        sys.stdout.write(to_toml(p))
        return
    if fmt == "json":
        sys.stdout.write(json.dumps(p.to_dict(), indent=2) + "\n")
        return
    changed = differences(p)
    t = Table(title=escape(describe(p)), title_justify="left")
    for col in ("setting", "value", "meaning"):
        t.add_column(col)
    for k, v in p.to_dict().items():
        mark = " [yellow](changed)[/]" if k in changed else ""
        t.add_row(k, escape(format_value(v)) + mark, escape(field_doc(k)))
    console.print(t)


def register(app: typer.Typer) -> None:
    app.add_typer(profiles_app, name="profiles")
