"""A results DB for the leaderboard's tests, written through the real Store API.

`seed_demo_db(db_path, runs_dir)` is the one entry point: the tests only rely on
what it returns and on what the store's queries read back, so it can be swapped
for a DB built by real smoke-profile pipeline runs.

What it holds (profile smoke unless said; tests sim-market1501 and sim-dukemtmc):
- sim-finegpr (seeds 0 and 1), sim-finegpr+random, sim-finegpr+ao, sim-finegpr+aost (seeds 0 and 1);
- sim-finegpr+aost under the cpu profile (other comparability settings: a second rank group);
- sim-market1501 (supervised on sim-market1501, cross-domain on sim-dukemtmc);
- a failed sim-finegpr+aost run;
- submission:toy-crowd (accepted, with a run) and a rejected submission whose name is hostile markup;
- FID by stage (full / random / ao / aost) with fallback ("random") weights and one run with "official" weights,
  and style methods color / spgan / cyclegan;
- attribute distributions (full, selected, target-true) for every FineGPR attribute on the +ao/+aost runs;
- run folders with a log, config.json and stage sample sheets (PNG) for one +aost run.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark import attributes as vocab
from benchmark.profiles import CPU, SMOKE, Profile
from benchmark.store import AttributeDist, Cost, FidRow, Metrics, RunResult, Store, SurrogateFit

TESTS = ("sim-market1501", "sim-dukemtmc")
TOY_SUBMISSION = "toy-crowd"
# GFM autolink literals in every form: the app must show them as text, never as links
AUTOLINK_REASON = "see www.example.com/x, http://evil.example/a, https://x.example, a@b.example and mailto:c@d.example"
HOSTILE_SUBMISSION = "<script>alert('x')</script> **bold** [link](javascript:alert(1))"


@dataclass
class DemoDB:
    """What seed_demo_db wrote: paths, and run ids by role (for the tests to find them)."""

    db_path: Path
    runs_dir: Path
    runs: dict[str, list[str]] = field(default_factory=dict)  # role -> run ids
    failed: list[str] = field(default_factory=list)
    submissions: list[str] = field(default_factory=list)
    sheet_run: str = ""  # a run whose folder holds stage sample images


def _scores(base: float, seed: int, test_index: int) -> Metrics:
    """Deterministic scores that differ by spec, seed and test set (all within 0..100)."""
    r1 = base + 1.5 * seed - 6.0 * test_index
    return Metrics(r1=r1, r5=min(100.0, r1 + 18.0), map=r1 * 0.45, r10=min(100.0, r1 + 25.0), minp=r1 * 0.12,
                   num_query=60, num_gallery=240, eval_seconds=0.8)


def _dists(rng: np.random.Generator, target: str) -> list[AttributeDist]:
    """full (the source's spread), target-true (the twin's prior) and selected (V*, between the two)."""
    out = []
    for a in vocab.ALL_ATTRIBUTES:
        full = np.full(a.n, 1.0 / a.n)
        true = rng.dirichlet(np.full(a.n, 0.6))
        selected = 0.7 * true + 0.3 * rng.dirichlet(np.ones(a.n))
        for source, p in (("full", full), ("target-true", true), ("selected", selected)):
            p = np.asarray(p, dtype=float)
            out.append(AttributeDist(a.name, source, (p / p.sum()).tolist(), target))
    return out


def _sheet(path: Path, seed: int, tint: tuple[int, int, int]) -> None:
    """A small contact sheet of coloured 'person' boxes, like a stage's sample sheet."""
    rng = np.random.default_rng(seed)
    tiles = []
    for _ in range(8):
        tile = np.full((64, 32, 3), 235, np.uint8)
        colour = (rng.integers(0, 255, 3) * 0.5 + np.array(tint) * 0.5).astype(np.uint8)
        tile[8:56, 8:24] = colour
        tile[2:10, 12:20] = (200, 160, 130)
        tiles.append(tile)
    Image.fromarray(np.concatenate(tiles, axis=1)).save(path)


def _run(store: Store, spec: str, profile: Profile, seed: int, base: float, *, tests=TESTS,
         images: int = 300, stages: tuple[str, ...] = (), fid_weights: str | None = None,
         style_method: str = "color") -> RunResult:
    run = RunResult.new(spec, profile, seed, list(tests))
    run.code_version, run.dirty = "0123456789abcdef", False
    run.library_versions = {"torch": "2.14.1", "duckdb": "fixture"}
    run.config.update(request={"train": spec, "tests": list(tests), "profile": profile.name, "seed": seed})
    run.data_fingerprints = {t: f"fp-{t}" for t in tests}
    store.start_run(run)
    for i, t in enumerate(tests):
        run.metrics[t] = _scores(base, seed, i)
    run.train_images, run.train_ids = images, 20
    run.budget = images if stages else None
    run.wall_seconds = 40.0 + 10.0 * len(stages) + seed
    weights = fid_weights or profile.fid_weights
    fid_stages = ("full", *stages)
    for k, stage in enumerate(fid_stages):
        styled = stage == "aost"
        run.fid.append(FidRow(stage, tests[0], 180.0 - 25.0 * k - 2.0 * seed, weights, profile.fid_dims, images,
                              200, style_method if styled else ""))
    run.costs = [Cost("train", 30.0 + seed, images * 2, "cpu"), Cost("evaluate", 1.6, 300, "cpu"),
                 Cost("fid", 2.5, None, "cpu")]
    if "random" in stages:
        run.costs.append(Cost("sample", 0.4, images, "cpu"))
    if "ao" in stages or "aost" in stages:
        run.costs += [Cost("distances", 6.0, profile.ao_probe, "cpu"), Cost("surrogate", 1.2, None, "cpu"),
                      Cost("search", 3.4, None, "cpu")]
        run.surrogate = [SurrogateFit(tests[0], 0.42 + 0.05 * seed, profile.ao_probe, r2_train=0.91)]
        run.attribute_dists = _dists(np.random.default_rng([seed, len(spec)]), tests[0])
    if "aost" in stages:
        run.costs.append(Cost("style", 4.0, images, "cpu"))
    run_dir = store.run_dir(run.id)
    (run_dir / "config.json").write_text(json.dumps(run.config, indent=2))
    (run_dir / "run.log").write_text(
        f"run {run.id}: {spec} -> {', '.join(tests)} (profile {profile.name}, seed {seed}, cpu)\n"
        + "".join(f"  {t}: R1 {m.r1:.1f}  mAP {m.map:.1f}\n" for t, m in run.metrics.items())
        + f"run {run.id} completed\n")
    store.finish_run(run)
    return run


def seed_demo_db(db_path: str | Path, runs_dir: str | Path) -> DemoDB:
    """Write the demo results (see the module doc) into a fresh DB and runs folder; returns what was made."""
    db_path, runs_dir = Path(db_path), Path(runs_dir)
    store = Store(db_path, runs_dir)
    demo = DemoDB(db_path, runs_dir)

    def add(role: str, run: RunResult) -> RunResult:
        demo.runs.setdefault(role, []).append(run.id)
        return run

    for seed in (0, 1):
        add("sim-finegpr", _run(store, "sim-finegpr", SMOKE, seed, 30.0, images=2000))
    add("sim-finegpr+random", _run(store, "sim-finegpr+random", SMOKE, 0, 26.0, stages=("random",)))
    add("sim-finegpr+ao", _run(store, "sim-finegpr+ao", SMOKE, 0, 33.0, stages=("random", "ao"),
                               fid_weights="official"))
    for seed in (0, 1):
        run = add("sim-finegpr+aost", _run(store, "sim-finegpr+aost", SMOKE, seed, 37.0,
                                            stages=("random", "ao", "aost"),
                                            style_method="color" if seed == 0 else "spgan"))
    demo.sheet_run = demo.runs["sim-finegpr+aost"][0]
    stages_dir = store.run_dir(demo.sheet_run) / "stages"
    for stage, tint in (("ao", (90, 90, 90)), ("st", (40, 120, 200))):
        (stages_dir / stage).mkdir(parents=True, exist_ok=True)
        _sheet(stages_dir / stage / "sheet.png", 7, tint)
    add("cpu:sim-finegpr+aost", _run(store, "sim-finegpr+aost", CPU, 0, 44.0, stages=("random", "ao", "aost"),
                                     style_method="cyclegan"))
    add("sim-market1501", _run(store, "sim-market1501", SMOKE, 0, 70.0, images=800))

    failed = RunResult.new("sim-finegpr+aost", SMOKE, 2, list(TESTS))
    store.start_run(failed)
    store.fail_run(failed, "RuntimeError: the fixture's run ran out of memory; " + AUTOLINK_REASON)
    demo.failed.append(failed.id)

    store.add_submission(TOY_SUBMISSION, status="accepted", reasons=[],
                         report={"images": 420, "ids": 21, "cams": 3, "attributes": True, "warnings": []},
                         path="/submissions/toy-crowd", n_images=420, n_ids=21, n_cams=3, fingerprint="abc123",
                         has_attributes=True)
    store.add_submission(HOSTILE_SUBMISSION, status="rejected",
                         reasons=["<img src=x onerror=alert(1)> is not a person crop", "only 1 camera",
                                  AUTOLINK_REASON],
                         report={"images": 3, "errors": ["<b>bad</b> file name"]}, n_images=3, n_ids=1, n_cams=1)
    demo.submissions += [TOY_SUBMISSION, HOSTILE_SUBMISSION]
    add("submission:toy-crowd", _run(store, f"submission:{TOY_SUBMISSION}", SMOKE, 0, 24.0, images=420))
    return demo
