"""`aostbench grid`: run every missing cell of Table 2 or 3 and print it beside the paper."""
from __future__ import annotations

from typing import List, Optional

import typer

from benchmark.text_safety import for_terminal as term
from cli.common import PROFILE_HELP, SET_HELP, console, friendly_errors, say

_HELP = """Run every missing cell of a paper table from the baseline recipes (baselines/recipes/).

Cells already completed with the same settings are skipped; a cell whose run was
interrupted is resumed. Then the table is printed with the paper's numbers beside ours.

Examples:

  aostbench grid --table 3 --sim --profile cpu

  aostbench grid --table 2 --sim --test sim-market,sim-duke --seeds 3

  aostbench grid --table 2 --profile paper          # real data under --data-root
"""


def register(app: typer.Typer) -> None:
    @app.command("grid", help=_HELP)
    @friendly_errors
    def grid_cmd(
        table: int = typer.Option(..., "--table", help="2 or 3"),
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
        device: str = typer.Option("auto", "--device"),
        dry_run: bool = typer.Option(False, "--dry-run", help="List the cells and whether they would run."),
    ) -> None:
        from baselines import recipes_for_table
        from benchmark import paths
        from benchmark.grid import ensure_twins, needed_datasets, plan_cells, run_grid, submission_cells
        from benchmark.profiles import load_profile, parse_sets

        overrides = parse_sets(sets)
        profile_name = load_profile(profile, overrides).name  # a bad key or value stops here, before any work
        if table not in (2, 3):
            raise typer.BadParameter("--table must be 2 or 3")
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
        report = run_grid(cells, data_root=data_root, db=db, device=device,
                          log=say)
        console.print(f"grid: {len(report.ran)} ran, {len(report.skipped)} skipped, {len(report.failed)} failed")
        for cell, err in report.failed:
            console.print(f"[red]failed[/] {term(cell.label)}: {term(err)}", highlight=False)
        from benchmark.store import queries, tables

        df = queries.table_rows(table, test_sets=sorted({t for c in cells for t in c.tests}), profile=profile_name, db_path=db)
        console.print(tables.to_rich(df))
        if report.failed:
            raise typer.Exit(1)
