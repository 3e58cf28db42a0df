"""`aostbench db rebuild|check|info` and `aostbench export --parquet DIR`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cli.common import console, err_console, friendly_errors

db_app = typer.Typer(
    help="The results DB: rebuild it from run artefacts, check it, see what it holds.\n\n"
         "Examples:\n\n  aostbench db check\n\n  aostbench db rebuild --runs results/runs",
    no_args_is_help=True,
)

_DB_HELP = "Results DB (default: $AOSTBENCH_DB or ./results/aostbench.duckdb)."
_RUNS_HELP = "Run artefacts folder holding <id>/result.json (default: $AOSTBENCH_RUNS or runs/ next to the DB)."


@db_app.command("rebuild")
@friendly_errors
def rebuild_cmd(
    runs: Optional[Path] = typer.Option(None, "--runs", help=_RUNS_HELP),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Recreate the DB from every runs/<id>/result.json (datasets and submissions are kept).

    Run it while no `aostbench run` is writing. Example: aostbench db rebuild --runs results/runs
    """
    from benchmark.store import rebuild_from_runs

    report = rebuild_from_runs(runs, db)
    kept = ", ".join(f"{n} {t}" for t, n in report.carried.items()) or "nothing"
    console.print(f"rebuilt {report.db_path}: {report.runs} run(s) from artefacts; kept {kept} from the old DB")
    for message in report.skipped:
        err_console.print(f"[yellow]skipped:[/] {message}", highlight=False, soft_wrap=True)


@db_app.command("check")
@friendly_errors
def check_cmd(
    runs: Optional[Path] = typer.Option(None, "--runs", help=_RUNS_HELP),
    db: Optional[Path] = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Verify the DB against the run artefacts; exit 1 when anything is off.

    Example: aostbench db check --db results/aostbench.duckdb
    """
    from benchmark.store import check_db

    problems = check_db(db, runs)
    if not problems:
        console.print("[green]ok[/]: the DB and the run artefacts agree")
        return
    for p in problems:
        err_console.print(f"[red]problem:[/] {p}", highlight=False, soft_wrap=True)
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
        err_console.print(f"[yellow]{e}[/]", highlight=False, soft_wrap=True)
        return
    runs = ", ".join(f"{n} {k}" for k, n in s["runs"].items())
    console.print(f"{s['db_path']} (schema {s['schema_version']}): runs {runs}; {s['submissions']} submission(s); "
                  f"{s['datasets']} dataset(s); {s['reference_rows']} paper rows; last activity "
                  f"{s['last_activity'] or '–'}", highlight=False)


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
    console.print(f"wrote {len(files)} file(s) to {parquet}: " + ", ".join(f.name for f in files), highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.command("export")(export_cmd)
