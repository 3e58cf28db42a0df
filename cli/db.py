"""`aostbench db rebuild|check|info` and `aostbench export --parquet DIR`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from benchmark.text_safety import for_terminal as term
from cli.common import console, err_console, friendly_errors

db_app = typer.Typer(
    help="The results DB: rebuild it from run and submission files, check it against them, see what it holds.\n\n"
         "Examples:\n\n  aostbench db check\n\n  aostbench db check --repair\n\n"
         "  aostbench db rebuild --runs results/runs",
    no_args_is_help=True,
)

_DB_HELP = "Results DB (default: $AOSTBENCH_DB or ./results/aostbench.duckdb)."
_RUNS_HELP = "Run artefacts folder holding <id>/result.json (default: $AOSTBENCH_RUNS or runs/ next to the DB)."
_SUBS_HELP = "Where <name>/submission.toml files are (default: $AOSTBENCH_SUBMISSIONS or ./submissions)."
_STORE_HELP = "The submissions store (default: $AOSTBENCH_SUBMISSIONS_STORE or <data root>/submissions-store)."


def _say(style: str, label: str, message: str) -> None:
    err_console.print(f"[{style}]{label}:[/] {term(message)}", highlight=False, soft_wrap=True)


@db_app.command("rebuild")
@friendly_errors
def rebuild_cmd(
    runs: Optional[Path] = typer.Option(None, "--runs", help=_RUNS_HELP),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
    submissions_dir: Optional[Path] = typer.Option(None, "--submissions-dir", help=_SUBS_HELP),
    store: Optional[Path] = typer.Option(None, "--store", help=_STORE_HELP),
) -> None:
    """Recreate the DB from every runs/<id>/result.json and every submission's submission.toml + store folder.

    Bad files are named and skipped; the old DB is kept beside the new one (remove it when you are
    satisfied). Run it while no `aostbench run` or `submit` is writing. Example: aostbench db rebuild
    """
    from benchmark.maintenance import rebuild

    report = rebuild(runs, db, submissions_dir=submissions_dir, store_root=store)
    kept = ", ".join(f"{n} {t}" for t, n in report.carried.items() if n) or "nothing"
    console.print(term(f"rebuilt {report.db_path}: {report.runs} run(s) from artefacts, "
                       f"{report.submissions_from_files} submission version(s) from their files; "
                       f"kept {kept} from the old DB"), highlight=False, soft_wrap=True)
    if report.kept_old:
        console.print(term(f"the old DB is kept at {report.kept_old}; remove it when the new one is right"),
                      highlight=False, soft_wrap=True)
    for message in report.skipped:
        _say("yellow", "skipped", message)


@db_app.command("ingest")
@friendly_errors
def ingest_cmd(
    runs_dir: Optional[Path] = typer.Argument(None, help=_RUNS_HELP),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Add the runs whose result.json is not in the DB yet (grid jobs write only their run folder).

    Idempotent: a run already in the DB as its file says is left alone. An unreadable or
    half-written result.json is reported by path and skipped (exit 1). Example:
    aostbench db ingest results/runs
    """
    from benchmark.store import default_runs_dir
    from benchmark.store.ingest import ingest_runs

    report = ingest_runs(runs_dir or default_runs_dir(db), db)
    console.print(f"{report.db_path}: {len(report.ingested)} run(s) ingested, {len(report.unchanged)} already there, "
                  f"{len(report.skipped)} skipped", highlight=False)
    for message in report.skipped:
        err_console.print(f"[yellow]skipped:[/] {term(message)}", highlight=False, soft_wrap=True)
    if report.skipped:
        raise typer.Exit(1)


@db_app.command("check")
@friendly_errors
def check_cmd(
    runs: Optional[Path] = typer.Option(None, "--runs", help=_RUNS_HELP),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
    submissions_dir: Optional[Path] = typer.Option(None, "--submissions-dir", help=_SUBS_HELP),
    store: Optional[Path] = typer.Option(None, "--store", help=_STORE_HELP),
    repair: bool = typer.Option(False, "--repair", help="Fix what the files decide: store missing rows, restore "
                                "missing files from the DB, finish or remove what an interrupted run or submit left."),
) -> None:
    """Compare the DB with the run and submission files; every difference is listed; exit 1 when any.

    Example: aostbench db check --repair
    """
    from benchmark.maintenance import check, repair as apply

    findings = check(db, runs, submissions_dir=submissions_dir, store_root=store)
    if not findings:
        console.print("[green]ok[/]: the DB and the run and submission files agree")
        return
    if not repair:
        for f in findings:
            _say("red", "problem", f.message + ("" if f.fix is None else "  (--repair fixes it)"))
        raise typer.Exit(1)
    done, left = apply(findings)
    for message in done:
        _say("green", "repaired", message)
    for message in left:
        _say("red", "not repaired", message)
    rest = check(db, runs, submissions_dir=submissions_dir, store_root=store)
    for f in rest:
        if f.message not in left:
            _say("red", "problem", f.message)
    if rest:
        raise typer.Exit(1)


@db_app.command("migrate")
@friendly_errors
def migrate_cmd(db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP)) -> None:
    """Bring the DB's schema forward (readers never do; any run also does). Old runs get run keys
    computed from their stored settings; those that cannot be computed are marked."""
    from benchmark.store import SCHEMA_VERSION, migrate

    version = migrate(db)
    console.print(f"schema version {version} (this aostbench: {SCHEMA_VERSION})", highlight=False)


@db_app.command("info")
@friendly_errors
def info_cmd(db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP)) -> None:
    """Where the DB is, its schema version and what it holds."""
    from benchmark.store import StoreEmpty, queries

    try:
        s = queries.summary(db)
    except StoreEmpty as e:
        _say("yellow", "empty", str(e))
        return
    runs = ", ".join(f"{n} {k}" for k, n in s["runs"].items())
    console.print(term(f"{s['db_path']} (schema {s['schema_version']}): runs {runs}; {s['submissions']} "
                       f"submission(s); {s['datasets']} dataset(s); {s['reference_rows']} paper rows; last activity "
                       f"{s['last_activity'] or '–'}"), highlight=False)


@friendly_errors
def export_cmd(
    parquet: Path = typer.Option(..., "--parquet", help="Folder to write one <table>.parquet per table into."),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Export every table of the results DB as Parquet files.

    Example: aostbench export --parquet results/export
    """
    from benchmark.store import queries

    files = queries.export_parquet(parquet, db)
    console.print(term(f"wrote {len(files)} file(s) to {parquet}: " + ", ".join(f.name for f in files)),
                  highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.command("export")(export_cmd)
