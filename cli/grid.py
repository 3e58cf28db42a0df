"""`aostbench grid`: run every missing cell of Table 2 or 3 and print it beside the paper."""
from __future__ import annotations

from typing import List, Optional

import typer

from benchmark.text_safety import for_terminal as term
from cli.common import PROFILE_HELP, SET_HELP, console, err_console, friendly_errors, say

_HELP = """Run every missing cell of a paper table from the baseline recipes (baselines/recipes/).

Cells already completed with the same settings are skipped; a cell whose run was
interrupted is resumed. Then the table is printed with the paper's numbers beside ours.

Examples:

  aostbench grid --table 3 --sim --profile cpu

  aostbench grid --table 2 --sim --test sim-market,sim-duke --seeds 3

  aostbench grid --table 2 --profile paper          # real data under --data-root

  aostbench grid --table 3 --sim --executor local --jobs 2 --threads 1

  aostbench grid --table 3 --profile paper --executor slurm --partition gpu --gpus-per-job 1 --time 12:00:00

With --executor local or slurm every cell is one job (submitit); jobs write only
their run folder and this command ingests each result as it lands. See
`aostbench grid status` and `aostbench grid cancel`.
"""


grid_app = typer.Typer(help=_HELP, invoke_without_command=True, no_args_is_help=False)

_RUNS_HELP = "Run artefacts folder (default: $AOSTBENCH_RUNS or runs/ next to the DB); the job table is in its grid/."


@grid_app.callback()
@friendly_errors
def grid_cmd(
    ctx: typer.Context,
    table: Optional[int] = typer.Option(None, "--table", help="2 or 3"),
    test: Optional[str] = typer.Option(None, "--test", help="Test sets (default: the paper's three, or Market for Table 3)."),
    profile: str = typer.Option("cpu", "--profile", help=PROFILE_HELP),
    sets: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
    seeds: int = typer.Option(1, "--seeds", help="Seeds per cell (0..N-1)."),
    sim: bool = typer.Option(False, "--sim", help="Use the procedural twins (sim-*) instead of real data."),
    only: Optional[str] = typer.Option(None, "--only", help="Recipes to run, comma-separated (e.g. finegpr,finegpr_aost)."),
    budget: Optional[int] = typer.Option(None, "--budget", help="Images for +random/+ao cells."),
    submissions: bool = typer.Option(False, "--submissions", help="Also run every accepted submission."),
    data_root: Optional[str] = typer.Option(None, "--data-root"),
    db: Optional[str] = typer.Option(None, "--db"),
    runs: Optional[str] = typer.Option(None, "--runs", help=_RUNS_HELP),
    device: str = typer.Option("auto", "--device"),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the cells and whether they would run."),
    executor: str = typer.Option("inprocess", "--executor", help="inprocess (one after another, here) | local "
                                 "(each cell a process; --jobs at once) | slurm (each cell a Slurm job)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", help="Local executor: jobs at once (default: cores / threads)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch threads per cell (default: local cores / jobs; "
                                          "Slurm --cpus-per-job; in-process torch's own)."),
    nproc: int = typer.Option(1, "--nproc", help="Processes per cell for training/features (torchrun, DDP)."),
    partition: Optional[str] = typer.Option(None, "--partition", help="Slurm partition."),
    time_limit: Optional[str] = typer.Option(None, "--time", help="Time limit per job: minutes, H:MM:SS or D-HH:MM:SS "
                                             "(Slurm default 24:00:00; local: none)."),
    gpus_per_job: Optional[int] = typer.Option(None, "--gpus-per-job", help="GPUs per job (Slurm --gpus-per-node)."),
    cpus_per_job: Optional[int] = typer.Option(None, "--cpus-per-job", help="CPUs per job (Slurm --cpus-per-task)."),
    mem_gb: Optional[float] = typer.Option(None, "--mem-gb", help="Memory per job in GB (Slurm --mem)."),
    array_parallelism: Optional[int] = typer.Option(None, "--array-parallelism", help="Slurm: array tasks at once."),
    sbatch: Optional[List[str]] = typer.Option(None, "--sbatch", help="Extra sbatch flag, NAME=VALUE or NAME "
                                               "(repeat): --sbatch account=abc --sbatch qos=normal."),
    setup: Optional[List[str]] = typer.Option(None, "--setup", help="Slurm: a shell line run before each job "
                                              "(repeat), e.g. 'source ~/venv/bin/activate'."),
    python: Optional[str] = typer.Option(None, "--python", help="Command that starts Python in a job "
                                         "(default: this interpreter)."),
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from baselines import recipes_for_table
    from benchmark import paths
    from benchmark.executors import ExecutorOptions, SlurmOptions
    from benchmark.executors.options import parse_sbatch_flags, parse_time_min
    from benchmark.grid import ensure_twins, needed_datasets, plan_cells, run_grid, submission_cells
    from benchmark.profiles import load_profile, parse_sets

    overrides = parse_sets(sets)
    profile_name = load_profile(profile, overrides).name  # a bad key or value stops here, before any work
    if table not in (2, 3):
        raise typer.BadParameter("--table must be 2 or 3 (or a subcommand: status, cancel)")
    opts = ExecutorOptions(
        executor, jobs=jobs, threads=threads, nproc=nproc, python=python,
        slurm=SlurmOptions(partition=partition, time_min=parse_time_min(time_limit), gpus_per_job=gpus_per_job,
                           cpus_per_job=cpus_per_job, mem_gb=mem_gb, array_parallelism=array_parallelism,
                           sbatch=parse_sbatch_flags(sbatch or []), setup=tuple(setup or ())))
    recipes = recipes_for_table(table)
    if only:
        wanted = {k.strip() for k in only.split(",")}
        unknown = wanted - {r.key for r in recipes}
        if unknown:
            raise typer.BadParameter(f"unknown recipe(s) {', '.join(sorted(unknown))}; Table {table} has "
                                     f"{', '.join(r.key for r in recipes)}")
        recipes = [r for r in recipes if r.key in wanted]
    tests = [t for t in test.split(",") if t.strip()] if test else None
    cells = plan_cells(table, sim=sim, profile=profile, seeds=seeds, tests=tests, recipes=recipes, budget=budget,
                       overrides=overrides, data_root=data_root)
    if submissions:
        cells += submission_cells(cells, db=db, profile=profile, seeds=seeds, overrides=overrides)
    if dry_run:
        for c in cells:
            say(c.label)
        return
    if sim:
        ensure_twins(needed_datasets(cells), paths.data_root(data_root), log=say)
    if threads and executor == "inprocess":
        import torch

        torch.set_num_threads(threads)
    log = say
    if executor == "inprocess":
        report = run_grid(cells, data_root=data_root, db=db, device=device, log=log, nproc=nproc)
    else:
        from benchmark.executors import run_cells

        report = run_cells(cells, opts, data_root=data_root, db=db, runs_dir=runs, device=device, log=log)
    console.print(f"grid: {len(report.ran)} ran, {len(report.skipped)} skipped, {len(report.failed)} failed")
    for cell, err in report.failed:
        console.print(f"[red]failed[/] {term(cell.label)}: {term(err)}", highlight=False)
    from benchmark.store import queries, tables

    df = queries.table_rows(table, test_sets=sorted({t for c in cells for t in c.tests}), profile=profile_name, db_path=db)
    console.print(tables.to_rich(df))
    if report.failed:
        raise typer.Exit(1)


def _fmt_elapsed(s: float | None) -> str:
    if s is None:
        return "–"
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@grid_app.command("status")
@friendly_errors
def status_cmd(
    db: Optional[str] = typer.Option(None, "--db"),
    runs: Optional[str] = typer.Option(None, "--runs", help=_RUNS_HELP),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per cell."),
) -> None:
    """Every cell the grid submitted: job id, state (queued/running/completed/failed/cancelled), elapsed, log.

    Example: aostbench grid status --db results/aostbench.duckdb
    """
    import json

    from rich.table import Table

    from benchmark.executors import grid_status

    recs, problems = grid_status(db, runs)
    if as_json:
        for r in recs:
            print(json.dumps({"cell": r.label, "run_id": r.run_id, "executor": r.executor, "job_id": r.job_id,
                              "state": r.state, "elapsed_s": r.elapsed(), "log": r.stdout, "stderr": r.stderr,
                              "reason": r.reason, "attempts": r.attempts}))
    else:
        t = Table("cell", "run", "job", "state", "elapsed", "log", "reason")
        t.columns[5].overflow = "fold"  # a path is only useful whole
        colour = {"completed": "green", "failed": "red", "cancelled": "yellow", "running": "cyan"}
        for r in recs:
            c = colour.get(r.state)
            state = f"[{c}]{r.state}[/]" if c else r.state
            t.add_row(term(r.label), r.run_id, f"{r.executor} {r.job_id or '–'}", state, _fmt_elapsed(r.elapsed()),
                      term(r.stdout or "–"), term(r.reason))
        console.print(t)
        if not recs:
            console.print("no grid jobs yet (run `aostbench grid --executor local|slurm ...`)")
    for p in problems:
        err_console.print(f"[yellow]problem:[/] {term(p)}", highlight=False, soft_wrap=True)


@grid_app.command("cancel")
@friendly_errors
def cancel_cmd(
    run_ids: Optional[List[str]] = typer.Argument(None, help="Run ids to cancel (default: every queued or running job)."),
    db: Optional[str] = typer.Option(None, "--db"),
    runs: Optional[str] = typer.Option(None, "--runs", help=_RUNS_HELP),
) -> None:
    """Cancel the grid's queued and running jobs (scancel on Slurm); the next `aostbench grid` resumes them.

    Example: aostbench grid cancel
    """
    from benchmark.executors import cancel_cells

    done = cancel_cells(db, runs, run_ids or None)
    for r in done:
        console.print(f"cancelled {r.executor} job {r.job_id or '(not submitted)'}: {term(r.label)}", highlight=False)
    console.print(f"{len(done)} job(s) cancelled")


def register(app: typer.Typer) -> None:
    app.add_typer(grid_app, name="grid")
