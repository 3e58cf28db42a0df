"""`aostbench submit PATH --name NAME` and `aostbench submissions list|show|remove|index-known`.

Thin: every command calls benchmark.submissions and prints. Names, paths and
messages that come from a submission go through `for_terminal`, so a file
called `[red]x`, one holding terminal escapes or a non-UTF-8 byte shows as typed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from benchmark.text_safety import for_terminal as term
from cli.common import fail, friendly_errors, narrow_paths, out_console

submissions_app = typer.Typer(
    help="Submitted datasets: list, show the validation report, remove; index known datasets for duplicates.\n\n"
         "Examples:\n\n  aostbench submissions list\n\n  aostbench submissions show my-synth",
    no_args_is_help=True,
)

_DB_HELP = "Results DB (default: $AOSTBENCH_DB or ./results/aostbench.duckdb)."
_DIR_HELP = "Where <name>/submission.toml goes (default: $AOSTBENCH_SUBMISSIONS or ./submissions)."
_STYLE = {"accepted": "green", "rejected": "red", "valid": "green", "invalid": "red"}
_SHOW = 20


def _out() -> Console:
    return out_console(200)


def _plain(out: Console, text: str) -> None:
    out.print(term(text, keep="\n"), highlight=False, soft_wrap=True)


def _items(out: Console, title: str, items: list[str]) -> None:
    if not items:
        return
    _plain(out, f"  {title} ({len(items)}):")
    for m in items[:_SHOW]:
        _plain(out, "    - " + m.replace("\n", "\n      "))
    if len(items) > _SHOW:
        _plain(out, f"    ... and {len(items) - _SHOW} more (see --json)")


def _print_report(out: Console, report: dict) -> None:
    counts = report.get("counts") or {}
    for split in ("train", "query", "gallery"):
        c = counts.get(split)
        if c and c["images"]:
            _plain(out, f"  {split:<8}{c['images']:>9,} images {c['ids']:>7,} ids {c['cameras']:>4} cameras")
    img = report.get("images") or {}
    if img:
        _plain(out, f"  images   {', '.join(f'{k} {v:,}' for k, v in img['formats'].items())}; "
                    f"width {img['width']['min']}-{img['width']['max']}, height {img['height']['min']}-"
                    f"{img['height']['max']} px; {img['distinct_sizes']} distinct size(s); {img['bytes']:,} bytes")
    ids = report.get("ids") or {}
    if ids:
        _plain(out, f"  ids with < 2 images: {ids['fewer_than_2_images']['count']}; "
                    f"seen by one camera only: {ids['single_camera']['count']}")
    dup = report.get("duplicates") or {}
    if dup:
        w = dup.get("within") or {}
        _plain(out, f"  duplicates: {w.get('images', 0)} within; "
                    f"{sum(s['images'] for s in dup.get('submissions', []))} shared with submissions; "
                    f"{sum(k['images'] for k in dup.get('known', []))} shared with known datasets")
    attrs = (report.get("attributes") or {}).get("columns") or []
    for c in attrs:
        _plain(out, f"  attribute {c['name']} ({c['kind']}, per {c['per']}, from {c['source']}): "
                    f"{len(c['values'])} values, coverage {c['coverage']:.1%}")
    if "seconds" in report:
        _plain(out, f"  validated in {report['seconds']:.2f} s")
    _items(out, "notes", report.get("notes") or [])
    _items(out, "warnings", report.get("warnings") or [])
    _items(out, "errors", report.get("errors") or [])


@friendly_errors
def submit_cmd(
    path: Path = typer.Argument(..., help="A folder, or an archive (.zip, .tar, .tar.gz, .tgz)."),
    name: str = typer.Option(..., "--name", help="Submission name: lower-case letters, digits, '-', '_'."),
    attributes: Optional[Path] = typer.Option(None, "--attributes",
                                              help="CSV of attributes keyed by pid (per id) or path (per image)."),
    description: str = typer.Option("", "--description", help="What the data is and how it was made."),
    license: str = typer.Option("", "--license", help="The licence the data is shared under."),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
    data_root: Optional[Path] = typer.Option(None, "--data-root",
                                             help="The store goes to <data_root>/submissions-store unless --store."),
    store: Optional[Path] = typer.Option(None, "--store", help="Submissions store folder (content-addressed)."),
    submissions_dir: Optional[Path] = typer.Option(None, "--submissions-dir", help=_DIR_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate only; record and store nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
) -> None:
    """Submit a synthetic dataset: validate it, store it read-only, record it (a new version per submit).

    Layouts: a Market-style folder (bounding_box_train/ with PID_cCAM....jpg) or a folder with manifest.csv (path, pid, camid[, split][, attribute columns]). Exit code 1 when rejected. See submissions/README.md.
    """
    from benchmark.submissions import submit

    narrow_paths(data=data_root, db=db, submissions_store=store, submissions=submissions_dir)  # caches follow --db
    result = submit(path, name, attributes=attributes, description=description, license=license, db_path=db,
                    data_root=data_root, store_root=store, submissions_dir=submissions_dir, dry_run=dry_run)
    out = _out()
    if as_json:
        doc = {"name": result.name, "status": result.status, "version": result.version, "reasons": result.reasons,
               "store_path": str(result.store_path) if result.store_path else None,
               "manifest_path": str(result.manifest_path) if result.manifest_path else None,
               "report": result.report}
        _plain(out, json.dumps(doc, indent=2, default=str))
    else:
        version = f" version {result.version}" if result.version is not None else ""
        out.print(f"[bold {_STYLE[result.status]}]{result.status}[/]: submission {term(result.name)}{version}",
                  highlight=False)
        _print_report(out, result.report)
        if result.status == "accepted":
            _plain(out, f"  stored at {result.store_path}\n  manifest  {result.manifest_path}")
            stages = "+aost" if result.report.get("attributes", {}).get("has_attributes") else ""
            _plain(out, f"next: aostbench run --train submission:{result.name}{stages} --test sim-market")
    if not result.accepted:
        raise typer.Exit(1)


@submissions_app.command("list")
@friendly_errors
def list_cmd(
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
    all_versions: bool = typer.Option(False, "--all", help="Every version, not only the latest per name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Submissions recorded in the results DB: latest version per name, with status and counts."""
    from benchmark.submissions import list_submissions

    rows = list_submissions(db)
    if not all_versions:
        latest: dict[str, dict] = {}
        for r in rows:
            latest[r["name"]] = r
        rows = list(latest.values())
    out = _out()
    if as_json:
        _plain(out, json.dumps([{k: v for k, v in r.items() if k != "report"} for r in rows], indent=2, default=str))
        return
    if not rows:
        _plain(out, "no submissions yet; submit one with: aostbench submit PATH --name NAME")
        return
    table = Table(title="submissions")
    for col in ("name", "version", "status", "images", "ids", "cameras", "attributes", "created", "reason"):
        table.add_column(col, overflow="fold")
    for r in rows:
        reason = (r.get("reasons") or [""])[0]
        table.add_row(term(r["name"]), term(r["version"]), f"[{_STYLE.get(r['status'], 'white')}]{term(r['status'])}[/]",
                      _n(r.get("n_images")), _n(r.get("n_ids")), _n(r.get("n_cams")),
                      "yes" if r.get("has_attributes") else "no", term(r.get("created_at") or ""),
                      term(reason[:80]))
    out.print(table)


def _n(v) -> str:
    return "–" if v is None else f"{int(v):,}"


@submissions_app.command("show")
@friendly_errors
def show_cmd(
    name: str = typer.Argument(..., help="Submission name."),
    version: Optional[int] = typer.Option(None, "--version", help="A version (default: the latest)."),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the row and its report as JSON."),
) -> None:
    """One submission version: status, reasons and its validation report."""
    from benchmark.submissions import get_submission

    row = get_submission(name, version, db)
    out = _out()
    if as_json:
        _plain(out, json.dumps(row, indent=2, default=str))
        return
    out.print(f"submission {term(row['name'])} version {term(row['version'])}: "
              f"[bold {_STYLE.get(row['status'], 'white')}]{term(row['status'])}[/] ({term(row.get('created_at'))})",
              highlight=False)
    if row.get("path"):
        _plain(out, f"  stored at {row['path']}")
    report = dict(row.get("report") or {})
    if row["status"] == "rejected":
        report["errors"] = row.get("reasons") or report.get("errors") or []
    _print_report(out, report)


@submissions_app.command("remove")
@friendly_errors
def remove_cmd(
    name: str = typer.Argument(..., help="Submission name (every version is removed)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
    submissions_dir: Optional[Path] = typer.Option(None, "--submissions-dir", help=_DIR_HELP),
) -> None:
    """Remove a submission: its DB rows, its submission.toml and store folders no other submission uses."""
    from benchmark.submissions import get_submission, remove_submission

    get_submission(name, None, db)  # unknown or invalid names fail before the question
    if not yes and not typer.confirm(f"remove every version of submission {name}?"):
        raise fail("nothing removed")
    done = remove_submission(name, db_path=db, submissions_dir=submissions_dir)
    _plain(_out(), f"removed submission {name}: {done['rows']} version(s), "
                   f"{len(done['store_folders_deleted'])} store folder(s)"
                   + (", submission.toml" if done["toml_removed"] else ""))


@submissions_app.command("index-known")
@friendly_errors
def index_cmd(
    dataset: str = typer.Argument(..., help="A known dataset key, e.g. market1501 or sim-market."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder holding the datasets."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Index folder (default <cache>/image-hashes)."),
) -> None:
    """Hash a known dataset's images so submissions are checked against them for duplicates."""
    from benchmark.submissions import index_known_dataset

    path = index_known_dataset(dataset, data_root, out_dir)
    _plain(_out(), f"indexed {dataset}: {path}")


def register(app: typer.Typer) -> None:
    app.command("submit")(submit_cmd)
    app.add_typer(submissions_app, name="submissions")
