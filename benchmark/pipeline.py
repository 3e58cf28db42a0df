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
from benchmark.datasets import canonical_key, fingerprint, load_dataset, load_target
from benchmark.datasets.records import Dataset, Record
from benchmark.interrupts import Interrupted, on_sigterm
from benchmark.profiles import Profile, describe, load_profile, run_threads
from benchmark.provenance import code_version, device_name, library_versions
from benchmark.runkey import RunKey, run_key
from benchmark.specs import SpecError, TrainSpec, parse_spec
from benchmark.stages import FULL, PreflightError, StageContext, fid_label
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
    run_id: str | None = None  # the id for a new run, chosen by the caller (a grid job names its run folder)
    fid: bool = True
    progress: bool = True
    profile_overrides: dict = field(default_factory=dict)  # `--set` KEY -> VALUE (text or typed), checked
    paths: paths.Paths | None = None  # the resolved folders (default: benchmark.paths.current()); the flags above narrow them


def resolve_profile(req: RunRequest) -> Profile:
    """The fully resolved, checked settings (ProfileError before any work); "auto" is cpu until the data are known."""
    return load_profile(req.profile if req.profile != "auto" else "cpu", req.profile_overrides)


def key_of(req: RunRequest, spec: TrainSpec, profile: Profile, target: str, fingerprints: dict[str, str]) -> RunKey:
    """The run key of a request whose datasets are fingerprinted (see benchmark.runkey)."""
    bank = None
    if "st" in spec.stages and req.style_bank:
        from benchmark.stages.style_stage import bank_files

        bank = bank_files(Path(req.style_bank))[1]
    return run_key(spec.text, spec.stages, profile, budget=req.budget, style=req.style, style_bank=bank,
                   sample_ids=req.sample_ids, sample_per_id=req.sample_per_id, target=target,
                   fingerprints=fingerprints, source=spec.base)


def plan_key(req: RunRequest, datasets: dict | None = None, sizes: dict | None = None) -> RunKey:
    """The key a request's run would get, without running it (the grid skips and resumes by it).

    `datasets` caches fingerprints by key across calls; `sizes` (filled alongside) the training images of
    each dataset loaded (the grid's ETA)."""
    cache = datasets if datasets is not None else {}
    sizes = sizes if sizes is not None else {}
    profile = resolve_profile(req)
    data_root = paths.data_root(req.data_root).resolve()
    spec = parse_spec(req.train, dataset=lambda name: canonical_key(name, data_root))  # user datasets too
    tests = [canonical_key(t, data_root) for t in req.tests]

    def fp(key: str, load) -> str:
        if key not in cache:
            ds = load()
            cache[key] = ds.meta.get("fingerprint") or fingerprint(ds)
            sizes[key] = len(ds.train)
        return cache[key]

    fps = {spec.base: fp(spec.base, lambda: load_source(spec, data_root, req.db))}
    target = tests[0]
    if {"ao", "st"} & set(spec.stages):
        if req.target:  # a dataset name or a folder of unlabeled images, resolved as the run resolves it
            loaded = load_target(req.target, data_root)
            target = loaded.key
            fps[target] = fp(f"{target}@{req.target}", lambda: loaded)
        else:
            fps[target] = fp(target, lambda: load_dataset(target, data_root))
    elif req.target:
        target = canonical_key(req.target, data_root)
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
    needing = [s.name for s in spec.stage_objects() if s.needs_attributes]
    if needing and not source.has_attributes:
        raise SpecError(
            f"train spec {spec.text!r}: {', '.join('+' + n for n in needing)} needs per-image attributes, and "
            f"{source.key} has none. Attribute optimisation works on finegpr, sim-finegpr and submissions "
            "with attributes."
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
    run = RunResult.new(spec.text, profile, req.seed, tests, id=req.run_id)
    run.config.update(request={k: v for k, v in asdict(req).items() if k not in ("resume", "run_id", "paths")}, spec=spec.text)
    return run


def _provenance(run: RunResult, device: str, nproc: int) -> None:
    run.code_version, run.dirty = code_version()
    run.library_versions = library_versions()
    run.device = device_name(device)  # replaced by what training reports it ran on
    run.nproc = nproc


def run(req: RunRequest, *, store: Store | None = None, log=print) -> RunResult:
    """Run one train spec against its test sets and store the result. Returns the completed RunResult.

    Everything below reads the run's folders (data, DB, runs/, cache/) from one Paths: the request's
    (or the current one) narrowed by its data_root/db/runs_dir flags; caches follow the DB."""
    base = req.paths or paths.current()
    with paths.use(base.with_flags(data=req.data_root, db=req.db, runs=req.runs_dir)):
        return _run(req, store=store, log=log)


def _run(req: RunRequest, *, store: Store | None = None, log=print) -> RunResult:
    from benchmark.reid.train import resolve_device

    profile = resolve_profile(req)
    store = store or Store(req.db, req.runs_dir)
    if req.resume:  # the run continues with the request it was started with
        saved = RunResult.load(store.run_dir(req.resume) / "result.json")
        req = RunRequest(**{**saved.config["request"], "resume": req.resume, "progress": req.progress,
                            "paths": req.paths})
        # the settings it started with, even if the user's profile file changed since
        profile = Profile.from_dict(saved.config["profile"]) if saved.config.get("profile") else resolve_profile(req)
    # stored absolute, so a resume from another folder finds the same data
    data_root = paths.data_root(req.data_root).resolve()
    req.data_root = str(data_root)
    spec = parse_spec(req.train, dataset=lambda name: canonical_key(name, data_root))  # user datasets too
    if not req.tests:
        raise SpecError("no test set given: add --test, e.g. --test sim-market1501")
    tests = [canonical_key(t, data_root) for t in req.tests]

    # everything that can be missing is checked before any work
    _require_weights(profile, spec, req)
    source = load_source(spec, data_root, req.db)
    _check_spec_possible(spec, source)
    test_sets = {k: load_dataset(k, data_root) for k in tests}
    for k, ds in test_sets.items():
        if ds.meta.get("unlabeled"):
            raise SpecError(f"test set {k} is an unlabeled folder: it can be a --target, not a test set")
        if not ds.query or not ds.gallery:
            raise SpecError(f"test set {k} has no query/gallery split ({ds.root}); it can only be trained on")
    # the target AO/ST adapt to: a test set (default: the first), another dataset, or a folder of images
    target = test_sets[tests[0]] if not req.target else load_target(req.target, data_root)
    if target.key.startswith("folder:"):
        req.target = target.meta["base"]  # stored absolute, so a resume reads the same folder
    for stage in spec.stage_objects():  # e.g. a mistyped --style stops here, not after AO
        try:
            stage.check(profile, req)
        except PreflightError as exc:
            raise SpecError(str(exc)) from None

    device = str(resolve_device(req.device))
    threads = run_threads(profile, device)
    if threads:  # before any torch work; training reports what it used
        import torch

        torch.set_num_threads(threads)
    budget = req.budget or profile.ao_budget
    said: list[str] = []  # said once the run's log is open
    if req.profile == "auto":  # before the run exists, so its record says which profile it ran with
        profile = _auto_profile(req, [source, *test_sets.values()], device, said.append)
        _require_weights(profile, spec, req)
    elif cpu_on_real_data(profile, [source, *test_sets.values()]):
        said.append(cpu_on_real_data(profile, [source, *test_sets.values()]))
    run_result = _new_or_resumed(req, spec, profile, tests, store)
    prior_wall = float(run_result.wall_seconds or 0.0) if req.resume else 0.0  # earlier parts of a resumed run
    if req.resume:  # stages re-record what they saved; nothing of the failed attempt is counted twice
        run_result.costs, run_result.fid, run_result.metrics, run_result.weights = [], [], {}, []
    run_result.budget = budget if spec.uses_budget else None
    _provenance(run_result, device, req.nproc)
    used = {d.key: d for d in (source, *test_sets.values(), target)}
    run_result.data_fingerprints = {k: d.meta.get("fingerprint") or fingerprint(d) for k, d in used.items()}
    # what AO/ST adapted to, as a fact: its key, fingerprint and (for a user folder) where it was read
    run_result.config["target"] = {"key": target.key, "fingerprint": run_result.data_fingerprints[target.key],
                                   "kind": target.kind, **({"path": target.meta["user"]["path"]}
                                                           if "user" in target.meta else {})}
    set_key(run_result, key_of(req, spec, profile, target.key, run_result.data_fingerprints))
    run_dir = store.run_dir(run_result.id)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(run_result.config, indent=2, default=str))
    for d in used.values():
        store.upsert_dataset(d.key, d.kind, d.root, d.summary(), run_result.data_fingerprints[d.key])
    store.start_run(run_result)
    from benchmark import progress

    log_cm = progress.log_file(run_dir / "run.log")  # the run folder keeps a readable log
    log_cm.__enter__()
    console_log = log

    def log(message: str) -> None:  # noqa: F811 - the console and the run's log file
        console_log(message)
        progress.note(message)

    was_enabled = progress.set_enabled(req.progress)
    log(f"run {run_result.id}: {spec.text} -> {', '.join(tests)} (profile {describe(profile)}, seed {req.seed}, {device})"
        + (f", resumed after {prior_wall:.0f} s" if req.resume else ""))
    for message in said:
        log(message)

    old_handler = signal.signal(signal.SIGTERM, on_sigterm) if _main_thread() else None
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
            ctx.fid_sets[fid_label(())] = (records, "")
        for stage in spec.stage_objects():
            log(f"stage +{stage.name}")
            stage.run(ctx)
            ctx.stages_done.append(stage.name)
        run_result.train_images = len(ctx.records)
        run_result.train_ids = len({r.pid for r in ctx.records})
        _train_and_evaluate(ctx, test_sets, req, run_dir, log)
        if req.fid and ctx.fid_sets:
            _fid(ctx, log)
        else:
            run_result.fid_weights = None  # no FID computed: no FID weights to state
        run_result.wall_seconds = prior_wall + time.perf_counter() - t_start
        store.finish_run(run_result)
        log(f"run {run_result.id} completed in {run_result.wall_seconds:.0f} s")
        return run_result
    except BaseException as exc:
        reason = "interrupted" if isinstance(exc, (KeyboardInterrupt, Interrupted)) else f"{type(exc).__name__}: {exc}"
        try:
            run_result.wall_seconds = prior_wall + time.perf_counter() - t_start
            store.fail_run(run_result, reason)
        finally:
            log(f"run {run_result.id} failed ({reason}); continue it with --resume {run_result.id}")
        raise
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
        progress.set_enabled(was_enabled)
        log_cm.__exit__(None, None, None)


def _require_weights(profile: Profile, spec: TrainSpec, req: RunRequest) -> None:
    """Every weights file a part of this run names must be on disk before any work (no fallback)."""
    from benchmark import weights as W

    needs = [(wf, why) for wf, why in W.needed_by(profile)
             if not (wf is W.VGG19 and "ao" not in spec.stages) and not (wf is W.FID_INCEPTION and not req.fid)]
    W.require_all(needs)


def cpu_on_real_data(profile: Profile, datasets: list[Dataset]) -> str | None:
    """The one note a cpu-profile run on real data gives: its numbers are not the paper's."""
    real = [d.key for d in datasets if d.kind != "procedural"]
    if profile.base != "cpu" or not real:
        return None
    return (f"note: profile {profile.name} (cpu settings) on real data ({', '.join(real)}): small settings, so the "
            "numbers are not comparable with the paper's; --profile paper runs its settings (a GPU is advised)")


def _auto_profile(req: RunRequest, datasets: list[Dataset], device: str, log) -> Profile:
    """--profile auto: the paper's settings for real data on a GPU, the cpu profile otherwise; says which and why."""
    real = [d.key for d in datasets if d.kind != "procedural"]
    if real and device.startswith("cuda"):
        name, why = "paper", f"real data ({', '.join(real)}) and a GPU: the paper's settings"
    elif real:
        name, why = "cpu", (f"real data ({', '.join(real)}) but no GPU: small settings whose numbers are not "
                            "comparable with the paper's (--profile paper runs its settings, slowly on a CPU)")
    else:
        name, why = "cpu", "procedural twins: the small settings they are sized for"
    log(f"profile {name}: {why}")
    req.profile = name
    return resolve_profile(req)


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
    ctx.result.pretrained = bool(tr["pretrained"])  # what training loaded, not the profile's intent
    ctx.result.record_weights(tr.get("weights_use"))
    ctx.result.costs.append(Cost("train", tr["wall_seconds"], tr["images_seen"], tr["device"]))
    ctx.result.notes["train"] = {k: tr[k] for k in ("epochs", "final_loss", "final_acc", "num_classes", "amp",
                                                    "loss", "label_smooth", "images_per_second", "world_size",
                                                    "device", "threads") if k in tr}
    ctx.result.notes["train"]["input"] = tr.get("input", {})  # the input pipeline used (decoded store or JPEG)
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
        key = src_key if stage == FULL else None
        res = compute_fid(records, tgt.train, profile=ctx.profile, device=ctx.device, cache_key_a=key, cache_key_b=tgt_key,
                          name=f"FID {stage} vs {tgt.key}")
        ctx.result.fid.append(FidRow(stage=stage, target=tgt.key, value=res.value, weights=res.weights, dims=res.dims,
                                     n=res.n_a, n_target=res.n_b, style_method=style_method))
        ctx.result.record_weights(res.weights_use)
        log(f"  FID {stage} vs {tgt.key}: {res.value:.1f} ({res.weights} weights, {res.dims}-d)")
    labels = sorted({r.weights for r in ctx.result.fid})
    ctx.result.fid_weights = labels[0] if len(labels) == 1 else "+".join(labels)  # what was loaded
    ctx.result.costs.append(Cost("fid", time.perf_counter() - t0, None, ctx.device))
