"""`aostbench perf grid`: the same grid cells in one process (T threads) against local jobs (J x 1 thread).

Why: the demo picks its executor from this (benchmark.demo.DEMO_EXECUTOR). Both
sides run the same cells from nothing (own DB, runs folder and feature cache
under --workdir), one after the other in this run; the ratio is the answer,
the seconds depend on what else the machine is doing (printed: load average).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from benchmark.profiles import torch_threads


@dataclass(frozen=True)
class GridTiming:
    mode: str
    cells: int
    failed: int
    seconds: float
    load: float  # 1-minute load average at the end


def time_grid(cells, mode: str, workdir: Path, data_root: Path, jobs: int, threads: int) -> GridTiming:
    """Run `cells` from nothing as `mode` ("inprocess" with `threads` threads, or "local" jobs x 1 thread)."""
    from benchmark.executors import ExecutorOptions
    from benchmark.grid import run_grid

    folder = workdir / mode
    os.environ["AOSTBENCH_CACHE"] = str(folder / "cache")  # no side reuses the other's features
    t0 = time.perf_counter()
    if mode == "inprocess":
        with torch_threads(threads):
            rep = run_grid(cells, data_root=str(data_root), db=str(folder / "a.duckdb"), log=lambda m: None)
    else:
        rep = run_grid(cells, data_root=str(data_root), db=str(folder / "a.duckdb"), log=lambda m: None,
                       executor=ExecutorOptions("local", jobs=jobs, threads=1))
    return GridTiming(mode, len(cells), len(rep.failed), time.perf_counter() - t0, os.getloadavg()[0])


def register(perf_app: typer.Typer) -> None:
    @perf_app.command("grid")
    def grid_cmd(
        workdir: Path = typer.Option(..., "--workdir", help="Empty folder for both sides' DBs, runs and caches."),
        profile: str = typer.Option("smoke", "--profile"),
        cells: Optional[int] = typer.Option(None, "--cells", help="Only the first N of the demo's cells."),
        jobs: int = typer.Option(2, "--jobs", help="Local jobs at once (1 torch thread each)."),
        threads: int = typer.Option(2, "--threads", help="Torch threads of the in-process side."),
        data_root: Optional[str] = typer.Option(None, "--data-root"),
    ) -> None:
        """The demo's cells: one process with --threads threads vs --jobs local jobs of 1 thread (same run).

        Example: aostbench perf grid --workdir /tmp/perf-grid --cells 4
        """
        from benchmark import paths
        from benchmark.demo import demo_cells
        from benchmark.grid import ensure_twins, needed_datasets

        if workdir.exists() and any(workdir.iterdir()):
            raise typer.BadParameter(f"--workdir {workdir} is not empty; both sides must start from nothing")
        todo = demo_cells(profile)[: cells or None]
        root = paths.data_root(data_root)
        ensure_twins(needed_datasets(todo), root)
        a = time_grid(todo, "inprocess", workdir, root, jobs, threads)
        b = time_grid(todo, "local", workdir, root, jobs, threads)
        for t, what in ((a, f"1 process x {threads} threads"), (b, f"{jobs} local jobs x 1 thread")):
            print(f"{what:>26}: {t.seconds:7.1f} s for {t.cells} cells ({t.failed} failed), load {t.load:.1f}")
        print(f"local jobs / in-process: {b.seconds / a.seconds:.2f}x the time "
              f"({a.seconds / b.seconds:.2f}x faster) on {os.cpu_count()} CPUs")
