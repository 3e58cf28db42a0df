"""make_twin: render a twin's plan and write it in the real dataset's on-disk format.

Writes into a temporary folder beside the target (`<data_root>/.<name>.tmp-<pid>`)
and renames it into place at the end, so a crash never leaves a half twin
under the real name; an existing non-empty target is only replaced with
overwrite=True. Besides the images: `twin.toml` (the resolved spec with the
true prior, the generation settings and the counts), `labels.csv` (per image
ground truth) and the format's own extra files (FineGPR's attributes.csv,
MSMT17's list files). Files carry no timestamps and JPEGs use fixed encoder
settings: the same name, scale and seed give byte-identical files.
"""
from __future__ import annotations

import csv
import io
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

from benchmark.attributes import ENV_NAMES, ID_NAMES
from benchmark.synth.camera import DEFAULT_JPEG_QUALITY, encode_jpeg, encode_png, jpeg_roundtrip
from benchmark.synth.plan import Job, Plan, make_plan, twin_seed
from benchmark.synth.render import render_raw
from benchmark.synth.spec import SpecError, TwinSpec, dump_toml, load_twin_spec

ENGINE_VERSION = "1.0"
LABELS_FILE = "labels.csv"
TWIN_FILE = "twin.toml"
LABEL_COLUMNS = ("relpath", "pid", "camid", "split", *ID_NAMES, *ENV_NAMES, "person", "seed")

Progress = Callable[[int, int], None]


def make_twin(
    name_or_toml: str | Path | TwinSpec,
    data_root: Path | str,
    *,
    scale: str = "demo",
    seed: int = 0,
    overwrite: bool = False,
    progress: Progress | None = None,
    workers: int = 1,
) -> Path:
    """Generate twin `name_or_toml` (a built-in name or a spec .toml) under `<data_root>/<name>/`.

    Returns that base folder (what torchreid calls `root`). `progress(done, total)` is
    called as images are written. Refuses to replace a non-empty folder unless overwrite.
    workers > 1 renders in that many processes; the files are the same bytes either way.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    spec = load_twin_spec(name_or_toml)
    root = Path(data_root).expanduser()
    from benchmark.datasets.user import register_twin, twin_name_problem

    problem = twin_name_problem(spec.name, root)  # a user twin joins the vocabulary under its name
    if problem:
        raise SpecError(f"{spec.path or spec.name}: {problem}")
    target = root / spec.name
    if target.exists() or target.is_symlink():
        if not target.is_dir() or target.is_symlink():
            raise FileExistsError(f"{target} exists and is not a folder; remove it or choose another --data-root")
        if any(target.iterdir()) and not overwrite:
            raise FileExistsError(f"{target} already exists and is not empty; pass overwrite=True "
                                  f"(CLI: --overwrite) to replace it")
        if any(target.iterdir()) and not is_twin_folder(target, spec.name):
            raise FileExistsError(f"{target} holds files that are not a twin written by aostbench (no {TWIN_FILE} "
                                  f"of twin {spec.name}); --overwrite only replaces a twin: move those files or "
                                  "choose another --root")
    plan = make_plan(spec, scale, seed)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{spec.name}.tmp-{os.getpid()}"
    if tmp.exists():  # left by an earlier crash of this very process id: ours to clear
        shutil.rmtree(tmp)
    for left in root.glob(f".{spec.name}.*-*"):  # left by a killed `data make` of this twin: its pid is gone
        kind, _, pid = left.name[len(spec.name) + 2:].rpartition("-")
        if kind in ("tmp", "old") and pid.isdigit() and not os.path.exists(f"/proc/{pid}") \
                and os.path.isdir("/proc") and left.is_dir() and not left.is_symlink():
            shutil.rmtree(left, ignore_errors=True)
    try:
        tmp.mkdir()
        write_plan(plan, tmp, progress, workers)
        if target.exists():
            old = root / f".{spec.name}.old-{os.getpid()}"
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    register_twin(spec.name, root, spec.format)  # a no-op for the built-in twins
    return target


def is_twin_folder(folder: Path, name: str) -> bool:
    """True when `folder` holds a twin this engine wrote: a twin.toml naming `name` with a [generated] table."""
    import tomllib

    marker = folder / TWIN_FILE
    if marker.is_symlink() or not marker.is_file():
        return False
    try:
        doc = tomllib.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return doc.get("name") == name and isinstance(doc.get("generated"), dict) and "engine" in doc["generated"]


def write_plan(plan: Plan, base: Path, progress: Progress | None = None, workers: int = 1) -> None:
    """Render and write every planned image plus the extra files into `base` (an empty folder)."""
    spec = plan.spec
    for parent in sorted({(base / j.relpath).parent for j in plan.jobs}):
        parent.mkdir(parents=True, exist_ok=True)
    total = len(plan.jobs)
    step = max(1, min(64, -(-total // (4 * workers))))  # small plans still spread over the workers
    chunks = [(k, min(k + step, total)) for k in range(0, total, step)]
    done = 0
    if workers > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(plan, base)) as pool:
            for n in pool.map(_write_chunk, chunks):
                done += n
                if progress is not None:
                    progress(done, total)
    else:
        _init_worker(plan, base)
        for chunk in chunks:
            done += _write_chunk(chunk)
            if progress is not None:
                progress(done, total)
    for rel, lines in plan.lists.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(line + "\n" for line in lines))
    if spec.format == "finegpr":
        _write_attributes_csv(plan, base / "finegpr" / "attributes.csv")
    _write_labels(plan, base / LABELS_FILE)
    (base / TWIN_FILE).write_text(twin_toml(plan))


_WORK: tuple[Plan, Path] | None = None  # the plan a (worker) process renders from


def _init_worker(plan: Plan, base: Path) -> None:
    global _WORK
    _WORK = (plan, base)


def _write_chunk(bounds: tuple[int, int]) -> int:
    """Render and write jobs [start, stop) of the current plan; each file depends on its job alone."""
    assert _WORK is not None
    plan, base = _WORK
    for k in range(*bounds):
        job = plan.jobs[k]
        (base / job.relpath).write_bytes(encode_job(plan, job))
    return bounds[1] - bounds[0]


def render_job(plan: Plan, job: Job) -> np.ndarray:
    """The pixels of one planned image, before the file's encoding."""
    style = plan.spec.cameras[job.cam].style
    return render_raw(job.attrs, job.env_dict(), job.person, size=plan.size, seed=job.seed,
                      twin_seed=plan.twin_seed, _style_checked=style)


def encode_job(plan: Plan, job: Job) -> bytes:
    """The file bytes of one planned image (JPEG at the camera's quality, or PNG for CUHK03)."""
    img = render_job(plan, job)
    quality = plan.spec.cameras[job.cam].style["jpeg"]
    if job.relpath.endswith(".png"):
        if quality:  # CUHK03 crops come from compressed video: keep the artefacts, store losslessly
            img = jpeg_roundtrip(img, quality)
        return encode_png(img)
    return encode_jpeg(img, quality or DEFAULT_JPEG_QUALITY)


def _write_labels(plan: Plan, path: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LABEL_COLUMNS)
    for j in plan.jobs:
        w.writerow([j.relpath, j.pid, j.camid, j.split, *(j.attrs[a] for a in ID_NAMES), *j.env, j.person, j.seed])
    path.write_text(buf.getvalue())


def _write_attributes_csv(plan: Plan, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("pid", *ID_NAMES))
    for pid in sorted({j.pid for j in plan.jobs}):
        a = plan.identities[pid]
        w.writerow((pid, *(a[n] for n in ID_NAMES)))
    path.write_text(buf.getvalue())


def twin_toml(plan: Plan) -> str:
    """twin.toml: the resolved spec (true prior, cameras, scales) + how it was generated + the counts."""
    d = plan.spec.to_dict()
    d["generated"] = {
        "engine": ENGINE_VERSION,
        "scale": plan.scale,
        "seed": plan.seed,
        "twin_seed": plan.twin_seed,
        "size": list(plan.size),
        "images": len(plan.jobs),
        "labels": LABELS_FILE,
    }
    d["counts"] = plan.counts
    head = (f"# Procedural twin {plan.spec.name} written by aostbench's engine (benchmark.synth).\n"
            f"# [prior] is the TRUE attribute distribution the images were drawn from.\n"
            f"# Regenerate: aostbench data make {plan.spec.name} --scale {plan.scale} (seed {plan.seed}).\n")
    return head + dump_toml(d)


def twin_identities(name_or_toml: str | Path | TwinSpec, scale: str = "demo", seed: int = 0
                    ) -> dict[int, dict[str, int]]:
    """person -> its 13 id attributes, for every identity of the twin at that scale (no rendering).

    With render_image(attrs, env, person, twin_seed=twin_seed(spec, seed)) a stage can render
    any attribute cell of a twin's people on demand (e.g. sim-finegpr cells not on disk).
    """
    plan = make_plan(load_twin_spec(name_or_toml), scale, seed)
    people = {j.person for j in plan.jobs}
    return {p: dict(plan.identities[p]) for p in sorted(people)}


__all__ = ["make_twin", "write_plan", "render_job", "encode_job", "twin_identities", "twin_seed", "twin_toml",
           "ENGINE_VERSION", "LABELS_FILE", "TWIN_FILE", "LABEL_COLUMNS"]
