"""Where a grid's cells run: in this process (the default), as local processes, or as Slurm jobs.

    from benchmark.executors import ExecutorOptions, run_cells
    report = run_cells(cells, ExecutorOptions("local", jobs=2, threads=1), data_root=..., db=...)

The local and Slurm executors go through submitit: each cell is one job (a
pickled call of `benchmark.executors.job.run_cell_job`). A job writes only its
run folder (`runs/<id>/result.json`, never the DuckDB file); this process, the
head, ingests each result as it lands and keeps the grid's job table in
`runs/grid/` (one file per cell: job id, state, log path), which
`aostbench grid status` and `aostbench grid cancel` read.
"""
from __future__ import annotations

from .options import EXECUTORS, ExecutorOptions, SlurmOptions

__all__ = ["EXECUTORS", "ExecutorOptions", "SlurmOptions", "run_cells", "grid_status", "cancel_cells"]


def __getattr__(name: str):  # the head's loop pulls in submitit and the store only when used
    if name in ("run_cells", "grid_status", "cancel_cells"):
        from . import head

        return getattr(head, name)
    raise AttributeError(name)
