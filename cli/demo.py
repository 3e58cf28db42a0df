"""`aostbench demo`: the README's main job on the embedded procedural data."""
from __future__ import annotations

from typing import List, Optional

import typer

from cli.common import SET_HELP, console, friendly_errors, say


def register(app: typer.Typer) -> None:
    @app.command("demo", help="Make the procedural twins, run Table 3 and a Table 2 subset at the cpu profile, "
                 "print both beside the paper's numbers and write a markdown report. Reuses finished runs.")
    @friendly_errors
    def demo_cmd(
        profile: str = typer.Option("cpu", "--profile", help="cpu (default) or smoke for a quick look, or a "
                                    "user profile .toml."),
        sets: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
        seeds: int = typer.Option(1, "--seeds"),
        data_root: Optional[str] = typer.Option(None, "--data-root"),
        db: Optional[str] = typer.Option(None, "--db"),
        device: str = typer.Option("auto", "--device"),
        executor: Optional[str] = typer.Option(None, "--executor", help="local (default: 2 jobs x 1 torch thread) "
                                               "or inprocess (one process, torch's threads)."),
        jobs: Optional[int] = typer.Option(None, "--jobs", help="Local jobs at once (default 2)."),
    ) -> None:
        from benchmark.demo import TABLE2_TESTS, TABLE3_TESTS, demo_executor, run_demo
        from benchmark.profiles import load_profile, parse_sets
        from benchmark.store import queries, tables

        overrides = parse_sets(sets)
        name = load_profile(profile, overrides).name  # a bad key or value stops here, before any work
        res = run_demo(profile=profile, seeds=seeds, data_root=data_root, db=db, device=device,
                       log=say, overrides=overrides,
                       executor=demo_executor(executor, jobs))
        profile = name
        console.rule("Table 3 (sim-market1501)")
        console.print(tables.to_rich(queries.table_rows(3, test_sets=TABLE3_TESTS, profile=profile, db_path=db)))
        console.rule("Table 2 (subset)")
        console.print(tables.to_rich(queries.table_rows(2, test_sets=TABLE2_TESTS, profile=profile, db_path=db)))
        console.print(f"demo finished in {res.seconds / 60:.1f} min; report: {res.report_path}")
        console.print("open the leaderboard: aostbench leaderboard" + (f" --db {db}" if db else ""))
        if res.grid.failed:
            raise typer.Exit(1)
