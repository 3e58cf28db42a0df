"""`aostbench weights list|fetch`: the pretrained files the profiles use, checked and fetched on request."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from benchmark.text_safety import for_terminal as term
from cli.common import console, err_console, fail, friendly_errors

weights_app = typer.Typer(
    help="Pretrained weights (VGG-19, ResNet-50 and other backbones, FID Inception): where they are looked for, "
         "whether they are there and verified, and fetching them. `run` never downloads.\n\n"
         "Examples:\n\n  aostbench weights list\n\n  aostbench weights fetch vgg19 resnet50 fid-inception\n\n"
         "  aostbench weights fetch --all --dest ~/weights",
    no_args_is_help=True,
)


@weights_app.command("list")
@friendly_errors
def list_cmd(
    all_files: bool = typer.Option(False, "--all", help="Also the backbones no built-in profile names."),
) -> None:
    """Each weights file the profiles use: where it is looked for, present or not, checksum status."""

    from rich.table import Table

    from benchmark import weights as W
    from benchmark.paths import weights_dirs
    from benchmark.profiles import BUILTIN, builtin

    used: dict[str, list[str]] = {}
    for prof in map(builtin, BUILTIN):
        for wf, why in W.needed_by(prof):
            used.setdefault(wf.name, []).append(f"{prof.name}: {why}")
    names = list(W.KNOWN) if all_files else [n for n in W.KNOWN if n in used]
    console.print("looked for in: " + term(", then ".join(str(d) for d in weights_dirs())), highlight=False)
    table = Table("name", "file", "used by", "present", "checksum", "path")
    for n in names:
        st = W.status(W.KNOWN[n])
        table.add_row(n, st["file"], term("; ".join(used.get(n, ["(no built-in profile)"]))),
                      "yes" if st["present"] else "no", st["checksum"], term(st["path"] or "-"))
    console.print(table)
    missing = [n for n in names if not W.status(W.KNOWN[n])["present"]]
    if missing:
        console.print(f"fetch the missing ones with: aostbench weights fetch {' '.join(missing)}", highlight=False)


@weights_app.command("fetch")
@friendly_errors
def fetch_cmd(
    names: Optional[List[str]] = typer.Argument(None, help="Files by name (see `weights list --all`)."),
    all_used: bool = typer.Option(False, "--all", help="Every file a built-in profile uses."),
    dest: Optional[Path] = typer.Option(None, "--dest", help="Folder to write to (default: $AOSTBENCH_WEIGHTS, "
                                                              "else the torch hub cache)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", envvar="AOSTBENCH_WEIGHTS_URL",
                                           help="Fetch <base-url>/<file name> instead of the official URL (a mirror)."),
    force: bool = typer.Option(False, "--force", help="Download again even if a verified file is present."),
) -> None:
    """Download weights from their official URLs, resume partial downloads, verify the SHA-256 prefix."""


    from benchmark import weights as W
    from benchmark.paths import weights_dirs
    from benchmark.profiles import BUILTIN, builtin

    if all_used:
        wanted = []
        for prof in map(builtin, BUILTIN):
            wanted += [wf for wf, _ in W.needed_by(prof) if wf not in wanted]
    elif names:
        unknown = [n for n in names if n not in W.KNOWN]
        if unknown:
            raise fail(f"unknown weights name(s) {', '.join(map(repr, unknown))}; known: {', '.join(W.KNOWN)}")
        wanted = [W.KNOWN[n] for n in dict.fromkeys(names)]
    else:
        raise fail("name the files to fetch (see `aostbench weights list --all`) or pass --all")
    target = Path(dest) if dest else weights_dirs()[0]
    failed = 0
    for wf in wanted:
        existing = target / wf.filename
        if existing.is_file() and not force and W.checksum_status(wf.filename, W.sha256_of(existing)) != "mismatch":
            console.print(term(f"{wf.filename}: already in {target}"), highlight=False)
            continue
        try:
            path = W.fetch(wf, target, base_url=base_url)
        except (OSError, ValueError) as exc:
            failed += 1
            err_console.print(f"[bold red]error:[/] {term(str(exc))}", highlight=False, soft_wrap=True)
            continue
        state = W.checksum_status(wf.filename, W.sha256_of(path))
        console.print(term(f"{wf.filename}: saved to {path} (checksum {state})"), highlight=False)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(weights_app, name="weights")
