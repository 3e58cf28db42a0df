"""The embedded default: the paper's tables on the procedural twins, on this CPU, in minutes.

`aostbench demo` (= `make demo`) makes the twins it needs, runs Table 3 on
sim-market1501 (FineGPR, +Random, +AO, +AOST) and a Table 2 subset at the cpu
profile, prints both tables beside the paper's, and writes a markdown report.
Runs already in the DB are reused, so a second demo (or one after an
interruption) only does what is missing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from baselines import load_recipes
from benchmark import paths
from benchmark.grid import Cell, GridReport, ensure_twins, needed_datasets, plan_cells, run_grid

TABLE3_TESTS = ["sim-market1501"]
TABLE2_TESTS = ["sim-market1501", "sim-dukemtmc"]
TABLE2_RECIPES = ["randperson", "personx", "finegpr", "supervised_market1501"]
# the demo's cells run as 2 local jobs x 1 torch thread: faster here than one process with 2 threads
# (measured on the demo's cells at the smoke profile; PERFORMANCE.md, "The demo on the local executor")
DEMO_EXECUTOR = "local"


@dataclass
class DemoResult:
    report_path: Path
    seconds: float
    grid: GridReport


def demo_cells(profile: str = "cpu", seeds: int = 1, overrides: dict[str, str] | None = None) -> list[Cell]:
    recipes = {r.key: r for r in load_recipes()}
    t2 = plan_cells(2, sim=True, profile=profile, seeds=seeds, tests=TABLE2_TESTS,
                    recipes=[recipes[k] for k in TABLE2_RECIPES], overrides=overrides)
    t3 = plan_cells(3, sim=True, profile=profile, seeds=seeds, tests=TABLE3_TESTS, overrides=overrides)
    # FineGPR's Table 3 row is covered by its Table 2 cell (which tests on Market too)
    return t2 + [c for c in t3 if c.spec != "sim-finegpr"]


def demo_executor(kind: str | None = None, jobs: int | None = None):
    """How the demo runs its cells: DEMO_EXECUTOR unless `kind` says otherwise (see PERFORMANCE.md)."""
    from benchmark.executors import ExecutorOptions

    kind = kind or DEMO_EXECUTOR
    if kind == "local":  # two jobs of one torch thread each on a 2-core machine
        return ExecutorOptions("local", jobs=jobs or 2, threads=1)
    return ExecutorOptions(kind, jobs=jobs)


def run_demo(*, profile: str = "cpu", seeds: int = 1, data_root: str | None = None, db: str | None = None,
             device: str = "auto", log: Callable[[str], None] = print,
             overrides: dict[str, str] | None = None, executor=None) -> DemoResult:
    from benchmark.profiles import load_profile

    t0 = time.perf_counter()
    name = load_profile(profile, overrides).name  # checked before any work; tables filter by the name
    root = paths.data_root(data_root)
    cells = demo_cells(profile, seeds, overrides)
    ensure_twins(needed_datasets(cells), root, log=log)
    grid = run_grid(cells, data_root=str(root), db=db, device=device, log=log,
                    executor=executor if executor is not None else demo_executor())
    seconds = time.perf_counter() - t0
    report = write_report(paths.db_path(db).parent / "demo_report.md", db, name, seconds, grid)
    return DemoResult(report, seconds, grid)


def write_report(path: Path, db: str | None, profile: str, seconds: float, grid: GridReport) -> Path:
    """A short markdown report: both tables beside the paper's, FID by stage, AO recovery, costs."""
    from benchmark.store import queries, tables

    parts = [
        "# aostbench demo report",
        "",
        f"Procedural twins, profile `{profile}`, {len(grid.ran)} runs made and {len(grid.skipped)} reused "
        f"in {seconds / 60:.1f} min. Ours are trained and tested on the procedural twins (sim-*): "
        "they mirror the paper's rows, they are not the same experiment. The paper's rows show the "
        "published numbers on the real datasets.",
        "",
        "## Table 3: FineGPR ablation on sim-market1501",
        "",
        tables.render(queries.table_rows(3, test_sets=TABLE3_TESTS, profile=profile, db_path=db), "md"),
        "",
        "## Table 2 (subset): training sets compared",
        "",
        tables.render(queries.table_rows(2, test_sets=TABLE2_TESTS, profile=profile, db_path=db), "md"),
        "",
    ]
    fid = queries.fid_df(db)
    if len(fid):
        parts += ["## FID by stage (Fig. 8)", "", "| run | stage | target | FID | weights | n |", "|---|---|---|---|---|---|"]
        for r in fid.itertuples(index=False):
            parts.append(f"| {r.run_id} | {r.stage} | {r.target} | {r.value:.2f} | {r.weights} | {r.n} |")
        parts += ["", "FID with `random` weights uses a seeded random-init Inception (the official FID weights "
                  "were not on disk): comparable between our rows, not with published FID values.", ""]
    if grid.failed:
        parts += ["## Failed cells", ""] + [f"- {c.label}: {e}" for c, e in grid.failed] + [""]
    parts += ["Open the leaderboard: `aostbench leaderboard` (then http://localhost:8501)."]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n")
    return path
