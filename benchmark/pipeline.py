"""One run: train spec -> stages -> training -> evaluation -> FID -> store.

    from benchmark.pipeline import RunRequest, run
    result = run(RunRequest(train="sim-finegpr+aost", tests=["sim-market1501"], profile="cpu"))

A run is `running` in the store from its start; it ends `completed` (all its
rows written in one transaction) or `failed` with the error. `resume=RUN_ID`
continues a failed or interrupted run in place: finished stages are reloaded
from `runs/<id>/stages/`, training continues from its last checkpoint.
"""
from __future__ import annotations

import json
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmark import paths
from benchmark.datasets import canonical_key, fingerprint, load_dataset
from benchmark.datasets.records import Dataset, Record
from benchmark.profiles import Profile, describe, load_profile
from benchmark.provenance import code_version, device_name, library_versions
from benchmark.runkey import RunKey, run_key
from benchmark.specs import NEEDS_ATTRIBUTES, SpecError, TrainSpec, parse_spec
from benchmark.stages import StageContext, get_stage
from benchmark.store import Cost, FidRow, Metrics, RunResult, Store
from benchmark.store.writes import set_key


@dataclass
class RunRequest:
    train: str
    tests: list[str]
    profile: str = "cpu"  # a built-in name or a user profile's .toml path
    seed: int = 0
    budget: int | None = None  # images for +random/+ao (default: the profile's AO budget)
    target: str | None = None  # the test set AO/ST adapt to (default: the first test set)
    style: str | None = None  # style method for +st (default: the profile's)
    style_bank: str | None = None  # a folder of target-style images (default: the target's train split)
    sample_ids: int | None = None  # a recipe's sampling of the source (e.g. Unreal's 3,000 ids x 40)
    sample_per_id: int | None = None
    data_root: str | None = None
    db: str | None = None
    runs_dir: str | None = None
    device: str = "auto"
    nproc: int = 1
    resume: str | None = None  # a run id to continue
    fid: bool = True
    progress: bool = True
    profile_overrides: dict = field(default_factory=dict)  # `--set` KEY -> VALUE (text or typed), checked


class _Interrupted(BaseException):
    """SIGTERM, turned into an exception so the run is marked failed, not left half-written."""


def _on_sigterm(signum, frame):  # pragma: no cover - exercised by the kill test in a subprocess
    raise _Interrupted("interrupted by SIGTERM")


def resolve_profile(req: RunRequest) -> Profile:
    """The fully resolved, checked settings (ProfileError before any work)."""
    return load_profile(req.profile, req.profile_overrides)


def key_of(req: RunRequest, spec: TrainSpec, profile: Profile, target: str, fingerprints: dict[str, str]) -> RunKey:
    """The run key of a request whose datasets are fingerprinted (see benchmark.runkey)."""
    bank = None
    if "st" in spec.stages and req.style_bank:
        from benchmark.stages.style_stage import bank_files

        bank = bank_files(Path(req.style_bank))[1]
    return run_key(spec.text, spec.stages, profile, budget=req.budget, style=req.style, style_bank=bank,
                   sample_ids=req.sample_ids, sample_per_id=req.sample_per_id, target=target,
                   fingerprints=fingerprints, source=spec.base)


def plan_key(req: RunRequest, datasets: dict | None = None) -> RunKey:
    """The key a request's run would get, without running it (the grid skips and resumes by it).

    `datasets` caches loaded datasets and fingerprints by key across calls."""
    cache = datasets if datasets is not None else {}
    profile = resolve_profile(req)
    spec = parse_spec(req.train)
    data_root = paths.data_root(req.data_root).resolve()
    tests = [canonical_key(t) for t in req.tests]
    target = canonical_key(req.target) if req.target else tests[0]

    def fp(key: str, load) -> str:
        if key not in cache:
            cache[key] = fingerprint(load())
        return cache[key]

    fps = {spec.base: fp(spec.base, lambda: load_source(spec, data_root, req.db))}
    if {"ao", "st"} & set(spec.stages):
        fps[target] = fp(target, lambda: load_dataset(target, data_root))
    return key_of(req, spec, profile, target, fps)


def load_source(spec: TrainSpec, data_root: Path, db: str | None) -> Dataset:
    if spec.is_submission:
        from benchmark.submissions import load_submission_dataset

        return load_submission_dataset(spec.submission_name, db_path=db)
    return load_dataset(spec.base, data_root)


def subsample_ids(records: list[Record], max_ids: int | None, per_id: int | None, seed: int) -> list[Record]:
    """A recipe's sampling: at most `max_ids` identities, at most `per_id` images each (seeded)."""
    import numpy as np

    if not max_ids and not per_id:
        return records
    rng = np.random.default_rng([seed, 0x1D5])
    by_pid: dict[int, list[Record]] = {}
    for r in records:
        by_pid.setdefault(r.pid, []).append(r)
    pids = sorted(by_pid)
    if max_ids and len(pids) > max_ids:
        pids = sorted(rng.choice(pids, size=max_ids, replace=False).tolist())
    out: list[Record] = []
    for p in pids:
        imgs = by_pid[p]
        if per_id and len(imgs) > per_id:
            imgs = [imgs[i] for i in sorted(rng.choice(len(imgs), size=per_id, replace=False))]
        out.extend(imgs)
    return out


def _check_spec_possible(spec: TrainSpec, source: Dataset) -> None:
    if NEEDS_ATTRIBUTES & set(spec.stages) and not source.has_attributes:
        raise SpecError(
            f"train spec {spec.text!r}: +ao needs per-image attributes, and {source.key} has none. "
            "Attribute optimisation works on finegpr, sim-finegpr and submissions with attributes."
        )
    if not source.train:
        raise SpecError(f"train spec {spec.text!r}: {source.key} has an empty train split ({source.root})")


def _new_or_resumed(req: RunRequest, spec: TrainSpec, profile: Profile, tests: list[str], store: Store) -> RunResult:
    if req.resume:
        path = store.run_dir(req.resume) / "result.json"
        if not path.is_file():
            raise ValueError(f"cannot resume run {req.resume!r}: no {path} (see `aostbench runs list`)")
        run = RunResult.load(path)
        if run.status == "completed":
            raise ValueError(f"run {req.resume} is already completed; nothing to resume")
        return run
    run = RunResult.new(spec.text, profile, req.seed, tests)
    run.config.update(request={k: v for k, v in asdict(req).items() if k not in ("resume",)}, spec=spec.text)
    return run


def _provenance(run: RunResult, device: str, nproc: int) -> None:
    run.code_version, run.dirty = code_version()
    run.library_versions = library_versions()
    run.device = device_name(device)  # replaced by what training reports it ran on
    run.nproc = nproc


def run(req: RunRequest, *, store: Store | None = None, log=print) -> RunResult:
    """Run one train spec against its test sets and store the result. Returns the completed RunResult."""
    from benchmark.reid.models import require_pretrained
    from benchmark.reid.train import resolve_device

    profile = resolve_profile(req)
    store = store or Store(req.db, req.runs_dir)
    if req.resume:  # the run continues with the request it was started with
        saved = RunResult.load(store.run_dir(req.resume) / "result.json")
        req = RunRequest(**{**saved.config["request"], "resume": req.resume, "progress": req.progress})
        # the settings it started with, even if the user's profile file changed since
        profile = Profile.from_dict(saved.config["profile"]) if saved.config.get("profile") else resolve_profile(req)
    # stored absolute, so a resume from another folder finds the same data
    data_root = paths.data_root(req.data_root).resolve()
    req.data_root = str(data_root)
    spec = parse_spec(req.train)
    if not req.tests:
        raise SpecError("no test set given: add --test, e.g. --test sim-market1501")
    tests = [canonical_key(t) for t in req.tests]
    target_key = canonical_key(req.target) if req.target else tests[0]

    # everything that can be missing is checked before any work
    require_pretrained(profile)
    source = load_source(spec, data_root, req.db)
    _check_spec_possible(spec, source)
    test_sets = {k: load_dataset(k, data_root) for k in tests}
    for k, ds in test_sets.items():
        if not ds.query or not ds.gallery:
            raise SpecError(f"test set {k} has no query/gallery split ({ds.root}); it can only be trained on")
    target = test_sets.get(target_key) or load_dataset(target_key, data_root)
    if "st" in spec.stages and req.style:  # a mistyped --style stops here, not after AO
        from benchmark.aost.style import STYLE_METHODS

        if req.style not in STYLE_METHODS:
            raise SpecError(f"unknown style method {req.style!r} (--style); available: {', '.join(STYLE_METHODS)}")
    if "ao" in spec.stages and profile.ao_vgg_weights == "imagenet":
        from benchmark.aost.distances import require_vgg_weights

        require_vgg_weights()

    device = str(resolve_device(req.device))
    budget = req.budget or profile.ao_budget
    run_result = _new_or_resumed(req, spec, profile, tests, store)
    run_result.budget = budget if {"random", "ao"} & set(spec.stages) else None
    _provenance(run_result, device, req.nproc)
    used = {d.key: d for d in (source, *test_sets.values(), target)}  # each dataset fingerprinted once
    run_result.data_fingerprints = {k: fingerprint(d) for k, d in used.items()}
    set_key(run_result, key_of(req, spec, profile, target.key, run_result.data_fingerprints))
    run_dir = store.run_dir(run_result.id)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(run_result.config, indent=2, default=str))
    for d in (source, *test_sets.values()):
        store.upsert_dataset(d.key, d.kind, d.root, d.summary(), run_result.data_fingerprints[d.key])
    store.start_run(run_result)
    log(f"run {run_result.id}: {spec.text} -> {', '.join(tests)} (profile {describe(profile)}, seed {req.seed}, {device})")

    old_handler = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    t_start = time.perf_counter()
    try:
        records = subsample_ids(list(source.train), req.sample_ids, req.sample_per_id, req.seed)
        ctx = StageContext(
            profile=profile, seed=req.seed, budget=budget, source=source, target=target, run_dir=run_dir,
            device=device, result=run_result, records=records, style=req.style,
            style_bank=Path(req.style_bank) if req.style_bank else None, progress=req.progress,
            fingerprints=dict(run_result.data_fingerprints),
        )
        if not spec.stages:
            ctx.fid_sets["full"] = (records, "")
        for name in spec.stages:
            log(f"stage +{name}")
            get_stage(name)(ctx)
        run_result.train_images = len(ctx.records)
        run_result.train_ids = len({r.pid for r in ctx.records})
        _train_and_evaluate(ctx, test_sets, req, run_dir, log)
        if req.fid and ctx.fid_sets:
            _fid(ctx, log)
        run_result.wall_seconds = time.perf_counter() - t_start
        store.finish_run(run_result)
        log(f"run {run_result.id} completed in {run_result.wall_seconds:.0f} s")
        return run_result
    except BaseException as exc:
        reason = "interrupted" if isinstance(exc, (KeyboardInterrupt, _Interrupted)) else f"{type(exc).__name__}: {exc}"
        try:
            run_result.wall_seconds = time.perf_counter() - t_start
            store.fail_run(run_result, reason)
        finally:
            log(f"run {run_result.id} failed ({reason}); continue it with --resume {run_result.id}")
        raise
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _train_and_evaluate(ctx: StageContext, test_sets: dict[str, Dataset], req: RunRequest, run_dir: Path, log) -> None:
    from benchmark.reid.job import REID_RESULT, TestSplits, train_and_evaluate, write_job

    tests = [TestSplits(k, list(ds.query), list(ds.gallery)) for k, ds in test_sets.items()]
    train_dir = run_dir / "train"
    resume = bool(req.resume) and (train_dir / "checkpoint.pth").is_file()
    log(f"training {ctx.profile.arch} on {len(ctx.records)} images, {len({r.pid for r in ctx.records})} ids")
    if req.nproc > 1:
        from benchmark.reid.distributed import launch_torchrun

        train_dir.mkdir(parents=True, exist_ok=True)
        job = run_dir / "reid_job.json"
        write_job(job, ctx.records, tests, ctx.profile, train_dir, ctx.seed, ctx.device, resume)
        launch_torchrun(req.nproc, "benchmark.reid.job", [str(job)])
        out = json.loads((train_dir / REID_RESULT).read_text())
    else:
        out = train_and_evaluate(ctx.records, tests, ctx.profile, train_dir, seed=ctx.seed, device=ctx.device,
                                 resume=resume, progress=ctx.progress)
    tr = out["train"]
    # facts from the process that trained: CPU results are reproducible at a fixed thread count only
    ctx.result.device = device_name(tr["device"], tr.get("threads"))
    ctx.result.config["torch_threads"] = tr.get("threads")
    ctx.result.costs.append(Cost("train", tr["wall_seconds"], tr["images_seen"], tr["device"]))
    ctx.result.notes["train"] = {k: tr[k] for k in ("epochs", "final_loss", "final_acc", "num_classes", "amp",
                                                    "loss", "label_smooth", "images_per_second", "world_size",
                                                    "device", "threads") if k in tr}
    for name, m in out["metrics"].items():
        ctx.result.metrics[name] = Metrics(
            r1=m["r1"], r5=m["r5"], r10=m["r10"], map=m["map"], minp=m["minp"],
            num_query=m["num_query"], num_gallery=m["num_gallery"], eval_seconds=m["eval_seconds"],
        )
        log(f"  {name}: R1 {m['r1']:.1f}  R5 {m['r5']:.1f}  mAP {m['map']:.1f}  mINP {m['minp']:.1f}")
    ctx.result.costs.append(Cost("evaluate", sum(m["eval_seconds"] for m in out["metrics"].values()), None, ctx.device))


def _fid(ctx: StageContext, log) -> None:
    """FID of each stage's training images against the target's (unlabeled) train images."""
    from benchmark.fid import compute_fid

    t0 = time.perf_counter()
    tgt = ctx.target
    tgt_key = f"{tgt.key}:{ctx.fingerprint_of(tgt)}:train"
    src_key = f"{ctx.source.key}:{ctx.fingerprint_of(ctx.source)}:train"
    for stage, (records, style_method) in ctx.fid_sets.items():
        key = src_key if stage == "full" else None
        res = compute_fid(records, tgt.train, profile=ctx.profile, device=ctx.device, cache_key_a=key, cache_key_b=tgt_key)
        ctx.result.fid.append(FidRow(stage=stage, target=tgt.key, value=res.value, weights=res.weights, dims=res.dims,
                                     n=res.n_a, n_target=res.n_b, style_method=style_method))
        log(f"  FID {stage} vs {tgt.key}: {res.value:.1f} ({res.weights} weights, {res.dims}-d)")
    ctx.result.costs.append(Cost("fid", time.perf_counter() - t0, None, ctx.device))
