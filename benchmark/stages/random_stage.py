"""`+random`: a uniform sample of the budget (the paper's FineGPR+Random row)."""
from __future__ import annotations

import time

import numpy as np

from benchmark.datasets.records import Record
from benchmark.stages import fid_label
from benchmark.stages.context import StageContext
from benchmark.store import Cost


def uniform_sample(records: list[Record], budget: int, seed: int) -> list[Record]:
    """`budget` records drawn uniformly without replacement (all of them when the budget covers them)."""
    if budget >= len(records):
        return list(records)
    rng = np.random.default_rng([seed, 0x5A4D])
    idx = np.sort(rng.choice(len(records), size=budget, replace=False))
    return [records[i] for i in idx]


def random_stage(ctx: StageContext) -> None:
    t0 = time.perf_counter()
    full = ctx.records
    ctx.records = uniform_sample(full, ctx.budget, ctx.seed)
    ctx.fid_sets[fid_label([*ctx.stages_done, "random"])] = (ctx.records, "")
    ctx.result.costs.append(Cost("random", time.perf_counter() - t0, len(ctx.records)))
