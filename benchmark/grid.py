"""Run every missing cell of the paper's Tables 2-3 from the baseline recipes.

A cell is one run: (recipe's train spec, test sets, profile, seed). A cell is
skipped when a completed run with the same run key (benchmark.runkey: spec,
stage options, every profile setting, dataset fingerprints, target) and seed
already covers its test sets; a cell whose last run with that key and seed
failed (a killed grid) is resumed from that run. A run with other settings
never makes a cell look done. Runs that adapt to a target (+ao, +st) get one cell per
test set, as the paper optimises per target domain.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from baselines import Recipe, recipes_for_table
from benchmark.datasets import canonical_key
from benchmark.names import builtin_kind
from benchmark.specs import parse_spec

SIM_TESTS = {2: ["sim-market1501", "sim-dukemtmc", "sim-cuhk03"], 3: ["sim-market1501"]}
REAL_TESTS = {2: ["market1501", "dukemtmc", "cuhk03"], 3: ["market1501"]}


@dataclass(frozen=True)
class Cell:
    recipe: str
    spec: str
    tests: tuple[str, ...]
    seed: int
    profile: str
    budget: int | None = None
    sample_ids: int | None = None
    sample_per_id: int | None = None
    overrides: tuple[tuple[str, str], ...] = ()  # `--set` KEY=VALUE pairs on top of the profile

    @property
    def label(self) -> str:
        sets = "".join(f", {k}={v}" for k, v in self.overrides)
        return f"{self.spec} -> {','.join(self.tests)} (seed {self.seed}, {self.profile}{sets})"


@dataclass
class GridReport:
    planned: list[Cell] = field(default_factory=list)
    skipped: list[Cell] = field(default_factory=list)
    ran: list[tuple[Cell, str]] = field(default_factory=list)  # (cell, run id)
    failed: list[tuple[Cell, str]] = field(default_factory=list)  # (cell, error)


def plan_cells(table: int, *, sim: bool, profile: str, seeds: int = 1, tests: list[str] | None = None,
               recipes: list[Recipe] | None = None, budget: int | None = None,
               overrides: dict[str, str] | None = None, data_root: str | Path | None = None) -> list[Cell]:
    """The cells of a table: one per recipe x seed (x test set for target-adapted specs).

    Test sets may be your datasets registered under `data_root`."""
    test_sets = [canonical_key(t, data_root) for t in tests] if tests else (SIM_TESTS if sim else REAL_TESTS)[table]
    cells = []
    for recipe in recipes if recipes is not None else recipes_for_table(table):
        spec = parse_spec(recipe.spec(sim))
        adapted = spec.adapts_to_target
        sample_budget = budget if budget is not None else None
        if recipe.budget and not sim:
            sample_budget = budget or recipe.budget  # the paper's 124,200 on real FineGPR
        for seed in range(seeds):
            groups = [(t,) for t in test_sets] if adapted else [tuple(test_sets)]
            for group in groups:
                cells.append(Cell(recipe.key, spec.text, group, seed, profile,
                                  sample_budget if spec.stages else None,
                                  recipe.sample_ids if not sim else None,
                                  recipe.sample_per_id if not sim else None,
                                  tuple(sorted((overrides or {}).items()))))
    return cells


def _runs_by_cell(db: str | None, log: Callable[[str], None] = print):
    """Completed test coverage and the latest failed run id per (run key, seed)."""
    from benchmark.store import StoreEmpty, mark_stale_runs
    from benchmark.store.queries import runs_df

    try:
        for rid in mark_stale_runs(db):  # a run whose process died is failed, so its cell is resumed
            log(f"marked run {rid} failed: its process is gone")
        runs = runs_df(db)
    except StoreEmpty:
        return {}, {}
    done: dict[tuple, set[str]] = {}
    failed: dict[tuple, str] = {}
    for r in runs.sort_values("started_at").itertuples(index=False):
        if not isinstance(r.run_key, str):
            continue  # an older run whose settings are unknown cannot stand for a cell
        key = (r.run_key, int(r.seed))
        tests = set(r.test_sets) if r.test_sets is not None else set()
        if r.status == "completed":
            done.setdefault(key, set()).update(tests)
        elif r.status == "failed":
            failed[(key, tuple(sorted(tests)))] = r.id
    return done, failed


def cell_request(cell: Cell, **kwargs):
    """The RunRequest a cell runs as (kwargs: data_root, db, device, nproc, resume, ...)."""
    from benchmark.pipeline import RunRequest

    return RunRequest(train=cell.spec, tests=list(cell.tests), profile=cell.profile, seed=cell.seed,
                      budget=cell.budget, sample_ids=cell.sample_ids, sample_per_id=cell.sample_per_id,
                      profile_overrides=dict(cell.overrides), **kwargs)


def cell_key(cell: Cell, *, data_root: str | None = None, db: str | None = None,
             datasets: dict | None = None, sizes: dict | None = None) -> str | None:
    """The run key the cell's run would get; None when its data cannot be read (the run then says why).

    `datasets` and `sizes` are benchmark.pipeline.plan_key's caches, shared across cells."""
    from benchmark.pipeline import plan_key

    try:
        return plan_key(cell_request(cell, data_root=data_root, db=db), datasets, sizes).key
    except Exception:  # noqa: BLE001 - missing data is reported by the run itself, with instructions
        return None


def run_grid(cells: list[Cell], *, data_root: str | None = None, db: str | None = None, device: str = "auto",
             log: Callable[[str], None] = print, keep_going: bool = True, executor=None,
             nproc: int = 1) -> GridReport:
    """Run the missing cells here, one after another; or as jobs when `executor` (ExecutorOptions) says so."""
    if executor is not None and executor.kind != "inprocess":
        from benchmark.executors import run_cells

        return run_cells(cells, executor, data_root=data_root, db=db, device=device, log=log)
    from benchmark.pipeline import run

    report = GridReport(planned=list(cells))
    done, failed = _runs_by_cell(db, log)
    datasets: dict = {}  # fingerprints by dataset key, computed once for the whole grid
    for i, cell in enumerate(cells, 1):
        key = (cell_key(cell, data_root=data_root, db=db, datasets=datasets), cell.seed)
        if key[0] is not None and set(cell.tests) <= done.get(key, set()):
            report.skipped.append(cell)
            log(f"[{i}/{len(cells)}] skip (done): {cell.label}")
            continue
        resume = failed.get((key, tuple(sorted(cell.tests)))) if key[0] is not None else None
        log(f"[{i}/{len(cells)}] {'resume ' + resume if resume else 'run'}: {cell.label}")
        req = cell_request(cell, data_root=data_root, db=db, device=device, resume=resume, nproc=nproc)
        try:
            result = run(req, log=log)
            report.ran.append((cell, result.id))
            done.setdefault((result.run_key, cell.seed), set()).update(cell.tests)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one broken cell must not stop the grid
            report.failed.append((cell, f"{type(exc).__name__}: {exc}"))
            log(f"    failed: {exc}")
            if not keep_going:
                raise
    return report


def needed_datasets(cells: list[Cell]) -> list[str]:
    """Dataset keys the cells read (to make the procedural twins first)."""
    keys: list[str] = []
    for c in cells:
        base = parse_spec(c.spec).base
        for k in (base, *c.tests):
            if not k.startswith("submission:") and k not in keys:
                keys.append(k)
    return keys


def ensure_twins(keys: list[str], data_root: Path, log: Callable[[str], None] = print, scale: str = "demo",
                 workers: int | None = None) -> None:
    """Generate the procedural twins among `keys` that are not on disk yet, rendering on every core
    (the bytes do not depend on `workers`)."""
    import os

    from benchmark.synth import make_twin

    workers = workers or max(1, min(4, os.cpu_count() or 1))
    for k in keys:
        if builtin_kind(k) != "procedural":  # your twins are made from your .toml (data make), not here
            continue
        if (data_root / k / "twin.toml").is_file():
            continue
        log(f"making {k} ({scale}) under {data_root}")
        make_twin(k, data_root, scale=scale, workers=workers)


def submission_cells(cells: list[Cell], *, db: str | None, profile: str, seeds: int,
                     overrides: dict[str, str] | None = None) -> list[Cell]:
    """One cell per accepted submission, tested on the same test sets as the table's cells."""
    from benchmark.store import StoreEmpty
    from benchmark.store.queries import submissions_df

    try:
        subs = submissions_df(db, latest_only=True)
    except StoreEmpty:
        return []
    tests = tuple(dict.fromkeys(t for c in cells for t in c.tests))
    out = []
    for name in sorted(set(subs[subs["status"] == "accepted"]["name"])):
        for seed in range(seeds):
            out.append(Cell(f"submission:{name}", f"submission:{name}", tests, seed, profile,
                            overrides=tuple(sorted((overrides or {}).items()))))
    return out
