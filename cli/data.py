"""`aostbench data ...`: list, check, add/remove your own, make and preview datasets.

Thin: every command calls benchmark.datasets or benchmark.synth and prints.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from benchmark.text_safety import for_terminal as term
from cli.common import console, err_console, friendly_errors

data_app = typer.Typer(help="Datasets: what is on disk, validation, procedural twins.", no_args_is_help=True)

_DATA_ROOT_HELP = "Folder holding the datasets (default: $AOSTBENCH_DATA or ./data)."
SCALES = ("demo", "full")


def _root(explicit: Optional[Path]) -> Path:
    from benchmark.paths import data_root

    return data_root(explicit)


def _fmt_counts(counts: dict | None) -> str:
    if not counts:
        return ""
    parts = []
    for split in ("train", "query", "gallery"):
        c = counts.get(split)
        if c and c["images"]:
            parts.append(f"{split} {c['images']:,}/{c['ids']:,} ids")
    return ", ".join(parts) or "no images"


@data_app.command("list")
@friendly_errors
def list_cmd(data_root: Optional[Path] = typer.Option(None, "--data-root", help=_DATA_ROOT_HELP)) -> None:
    """Every dataset: found or missing, where it is expected, counts; how to get what is missing."""
    from benchmark.datasets import dataset_status

    root = _root(data_root)
    rows = dataset_status(root)
    table = Table(title=f"datasets under {root.absolute()}", show_lines=False)
    for col in ("key", "kind", "status", "counts (images/ids)", "expected at"):  # kind: "user labeled" etc.
        table.add_column(col, overflow="fold")
    for r in rows:
        if not r["found"]:
            status = "[yellow]missing[/]"
        elif r["error"]:
            status = "[red]invalid[/]"
        else:
            status = "[green]found[/]"
        counts = (f"{r['counts']['train']['images']:,} images, unlabeled" if r["counts"] and r["role"] == "target-only"
                  else _fmt_counts(r["counts"]))
        table.add_row(term(r["key"]), term(r["kind"]), status, term(counts), term(r["expected"]))
    console.print(table)
    broken = [r for r in rows if r["error"]]
    for r in broken:
        console.print(f"[red]{term(r['key'])}[/]: {term(r['error'].splitlines()[0])}  (details: aostbench data check {term(r['key'])})")
    for r in rows:
        if r.get("user") and not r["found"]:
            console.print(f"[yellow]{term(r['key'])}[/]: {term(r['hint'])}", highlight=False)
    missing_real = [r for r in rows if not r["found"] and r["kind"] in ("real", "synthetic")]
    if missing_real:
        console.print("\n[bold]Missing real/synthetic data[/] (nothing is downloaded for you):")
        for r in missing_real:
            console.print(f"  {term(r['key'])}: {term(r['hint'])}", highlight=False)
    missing_twins = [r["key"] for r in rows if not r["found"] and r["kind"] == "procedural"]
    if missing_twins:
        console.print(
            f"\n[bold]Procedural twins not generated[/]: {', '.join(missing_twins)}\n"
            f"  make one in seconds: aostbench data make sim-market1501 --scale demo --data-root {root}",
            highlight=False,
        )


@data_app.command("check")
@friendly_errors
def check_cmd(
    name: str = typer.Argument(..., help="Dataset key or alias, e.g. market1501, sim-market."),
    deep: bool = typer.Option(False, "--deep", help="Also decode every image (finds truncated files; slow)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help=_DATA_ROOT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Validate a dataset: layout, file names, counts, camera coverage, (--deep) decodability. Exit 1 on errors."""
    import json

    from benchmark.datasets import check_dataset

    report = check_dataset(name, _root(data_root), deep=deep)  # user datasets: from the data root's registrations
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
    else:
        console.print(term(report.to_text(), keep="\n"), highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)


def twin_name(name: str, root: Optional[Path] = None) -> str:
    """The canonical twin key for `make`/`preview` (built-in or yours); a path to a twin spec file passes through."""
    from benchmark.datasets import get_spec

    p = Path(name)
    if p.suffix.lower() in (".toml", ".yaml", ".yml"):
        if not p.is_file():
            raise FileNotFoundError(f"twin spec file {p} not found")
        return str(p)
    spec = get_spec(name, _root(root))
    if not spec.is_twin:
        if spec.user is not None:
            raise ValueError(f"{spec.key!r} is your {spec.user.kind} folder, not a procedural twin")
        raise ValueError(f"{spec.key!r} is a real dataset and cannot be generated; its procedural twin is sim-{spec.key}")
    return spec.key


class _Progress:
    """Adapts the engine's progress calls (done, total[, message]) to a rich progress bar."""

    def __init__(self, bar, task):
        self.bar, self.task = bar, task

    def __call__(self, *args, **kwargs) -> None:
        nums = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
        text = next((a for a in args if isinstance(a, str)), kwargs.get("message") or kwargs.get("desc"))
        done = kwargs.get("done", nums[0] if nums else None)
        total = kwargs.get("total", nums[1] if len(nums) > 1 else None)
        update = {}
        if total is not None:
            update["total"] = total
        if done is not None:
            update["completed"] = done
        if text:
            update["description"] = str(text)
        self.bar.update(self.task, **update)


@data_app.command("make")
@friendly_errors
def make_cmd(
    name: str = typer.Argument(..., help="Twin to generate, e.g. sim-market1501 (alias sim-market) or a twin spec .toml."),
    scale: str = typer.Option("demo", "--scale", help="demo (a few thousand images) or full (the real counts)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (same name+scale+seed = identical files)."),
    root: Optional[Path] = typer.Option(None, "--data-root", "--root", help=_DATA_ROOT_HELP + " (--root: old name)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing twin."),
) -> None:
    """Generate a procedural twin in its real dataset's on-disk format (yours from a .toml is registered by its name)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {', '.join(SCALES)}")
    key = twin_name(name, root)
    out_root = _root(root)
    from rich.progress import Progress

    from benchmark.synth import make_twin

    kwargs = {"scale": scale, "overwrite": overwrite}
    if seed is not None:
        kwargs["seed"] = seed
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task(f"making {key}", total=None)
        result = make_twin(key, out_root, progress=_Progress(bar, task), **kwargs)
    name = Path(result).name if isinstance(result, (str, Path)) else key  # a .toml's twin: its own name
    console.print(term(f"wrote {name} ({scale}) under {out_root}" + (f": {result}" if result is not None else "")),
                  highlight=False, markup=False)


@data_app.command("preview")
@friendly_errors
def preview_cmd(
    name: str = typer.Argument(..., help="Twin to show, e.g. sim-finegpr."),
    root: Optional[Path] = typer.Option(None, "--data-root", "--root", help=_DATA_ROOT_HELP + " (--root: old name)"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="PNG to write (default: <name>-sheet.png)."),
) -> None:
    """Write a contact sheet (ids in rows, cameras/viewpoints in columns) to look at a twin."""
    key = twin_name(name, root)
    out = output or Path(f"{Path(key).stem}-sheet.png")
    from benchmark.synth import preview_sheet

    result = preview_sheet(key, _root(root), out)
    console.print(term(f"wrote {result if isinstance(result, (str, Path)) else out}"), highlight=False)


@data_app.command("add")
@friendly_errors
def add_cmd(
    name: str = typer.Argument(..., help="Your name for it (lower-case letters, digits, '-', '_'), e.g. my-city."),
    path: Path = typer.Argument(..., help="The folder (read only; nothing is ever written inside it)."),
    fmt: str = typer.Option(..., "--format", help="Its on-disk format: a dataset key whose layout it copies "
                            "(market1501, dukemtmc, cuhk03, msmt17, personx, finegpr, ...) or `images` "
                            "(unlabeled images: a --target for AO/ST)."),
    update: bool = typer.Option(False, "--update", help="Re-register a dataset whose folder changed."),
    deep: bool = typer.Option(False, "--deep", help="Also decode every image while checking."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help=_DATA_ROOT_HELP),
) -> None:
    """Register a folder as a dataset: checked first (the `data check` report); then usable by name everywhere."""
    from benchmark.datasets.user import UserDataError, add_dataset

    root = _root(data_root)
    try:
        d, report = add_dataset(name, path, fmt, root, update=update, deep=deep)
    except UserDataError as exc:
        if getattr(exc, "report", None) is not None:
            err_console.print(term(exc.report.to_text(), keep="\n"), highlight=False, soft_wrap=True)
        raise
    console.print(term(report.to_text(), keep="\n"), highlight=False, soft_wrap=True)
    use = (f"--target {d.name}" if d.kind == "unlabeled" else f"--test {d.name}")
    console.print(f"registered {d.name} ({d.kind}, {d.format}, fingerprint {d.fingerprint}) in "
                  f"{root / 'user_datasets.toml'}; e.g. aostbench run --train sim-finegpr+ao {use}"
                  + (" --test sim-market" if d.kind == "unlabeled" else ""), highlight=False, markup=False)


@data_app.command("remove")
@friendly_errors
def remove_cmd(
    name: str = typer.Argument(..., help="A dataset you registered (data add) or a twin you made from a .toml."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help=_DATA_ROOT_HELP),
) -> None:
    """Unregister one of your datasets. No file is deleted."""
    from benchmark.datasets.user import remove_dataset

    d = remove_dataset(name, _root(data_root))
    console.print(f"unregistered {d.name}; its files stay in {d.path}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
