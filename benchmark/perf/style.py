"""`aostbench perf style`: which part of the style transfer moves the AO selection towards the target?

An experiment, not a timing: from sim-finegpr to a target twin, one AO
selection (the cpu profile's budget) is translated several ways and each
version is scored the way a run is, by FID against the target's train images
(at several Inception depths) and, with --train, by the rank-1/mAP of a
cpu-profile re-ID model trained on it:

- `ao`: no transfer (the +ao row);
- `color`: the colour statistics transfer as the pipeline fits it, on the selection;
- `dat`: the domain appearance transfer (colour plus blur, noise, JPEG), fitted the same way;
- `dat-whole-source`: DAT fitted on the whole source instead;
- `dat-optics`: only DAT's blur, noise and JPEG (its colour map left out);
- `true-camera`: the selection re-rendered through the target twin's own camera
  optics (blur, resolution, noise, colour cast, JPEG; one of its cameras at
  random per image), a reference no transfer method can see: it shows what
  the camera part of the gap is worth.
`full` and `random` (the whole source and the uniform subset) give FID context.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from benchmark.profiles import get_profile

SOURCE = "sim-finegpr"
SCENE_KEYS = ("backdrop", "crop_jitter", "occlusion", "texture", "view")  # the place, not the camera
VARIANTS = ("ao", "color", "dat", "dat-whole-source", "dat-optics", "true-camera")


def _true_camera(selection, source, target, out_dir: Path, seed: int):
    """The selection re-rendered with the target twin's camera optics (sim- targets only)."""
    import numpy as np

    from benchmark.aost.probe import render_settings
    from benchmark.aost.select import SELECT_PERSON0
    from benchmark.attributes import ENV_NAMES, ID_NAMES
    from benchmark.datasets.records import Record
    from benchmark.synth import render_image
    from benchmark.synth.camera import encode_jpeg

    cams = [dict(c.get("style") or {}) for c in (target.meta.get("twin") or {}).get("cameras", [])]
    if not cams:
        raise ValueError(f"{target.key} has no twin cameras: true-camera needs a sim- target")
    settings = render_settings(source)
    rng = np.random.default_rng([seed, 0xCA3])
    out_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for i, r in enumerate(selection):
        style = {k: v for k, v in cams[int(rng.integers(len(cams)))].items() if k not in SCENE_KEYS}
        quality = int(style.pop("jpeg", 0) or 95)
        img = render_image({a: int(r.attrs[a]) for a in ID_NAMES}, {a: int(r.attrs[a]) for a in ENV_NAMES},
                           SELECT_PERSON0 + r.pid - 1, size=settings["size"], seed=seed * 1_000_003 + i,
                           camera_style=style, twin_seed=settings["twin_seed"])
        path = out_dir / Path(r.path).name
        path.write_bytes(encode_jpeg(img, quality))
        records.append(Record(str(path), r.pid, r.camid, r.attrs))
    return records


def _optics_only(model_dir: Path):
    """The fitted DAT with the identity colour map: only its blur, noise and JPEG."""
    from benchmark.aost.style.base import read_style_json
    from benchmark.aost.style.color import ColorStyle

    info = read_style_json(model_dir)
    info["map"].update(lab_gain=[1.0, 1.0, 1.0], lab_target_mean=info["map"]["lab_source_mean"])
    return ColorStyle(info, model_dir)


def style_experiment(target: str, *, seed: int = 0, data_root: Path, work: Path, dims: list[int],
                     train: bool, device: str = "cpu", log=print) -> dict:
    from benchmark.aost.ao import run_ao
    from benchmark.aost.recovery import ensure_twin
    from benchmark.aost.style import fit_style
    from benchmark.datasets import load_dataset
    from benchmark.datasets.records import Record
    from benchmark.fid import compute_fid
    from benchmark.stages.random_stage import uniform_sample

    profile = get_profile("cpu")
    for name in (SOURCE, target):
        ensure_twin(name, data_root)
    source, tgt = load_dataset(SOURCE, data_root), load_dataset(target, data_root)
    ao = run_ao(source, tgt, profile, budget=profile.ao_budget, seed=seed, work_dir=work / "ao", device=device,
                cache_root=work / "cache").records
    sel_paths = [r.path for r in ao]
    bank = [r.path for r in tgt.train]

    def translated(model, name):
        paths = model.translate(sel_paths, work / name)
        return [Record(p, r.pid, r.camid, r.attrs) for p, r in zip(paths, ao)]

    fit = dict(size=tuple(profile.style_size), seed=seed, progress=False)
    colour = fit_style("color", sel_paths, bank, work / "color-model", **fit)
    dat = fit_style("dat", sel_paths, bank, work / "dat-model", **fit)
    whole = fit_style("dat", [r.path for r in source.train], bank, work / "dat-whole-source-model", **fit)
    sets = {
        "full": list(source.train),
        "random": uniform_sample(list(source.train), profile.ao_budget, seed),
        "ao": ao,
        "color": translated(colour, "color"),
        "dat": translated(dat, "dat"),
        "dat-whole-source": translated(whole, "dat-whole-source"),
        "dat-optics": translated(_optics_only(work / "dat-model"), "dat-optics"),
        "true-camera": _true_camera(ao, source, tgt, work / "true-camera", seed),
    }
    rows: dict[str, dict] = {name: {"images": len(recs)} for name, recs in sets.items()}
    rows["dat"]["dat_map"] = {k: v for k, v in dat.info["map"].items() if not k.startswith("lab_")}
    for d in dims:
        prof = profile.with_(fid_dims=d)
        for name, recs in sets.items():
            rows[name][f"fid_{d}"] = compute_fid(recs, tgt.train, profile=prof, device=device).value
        log(f"FID at {d}-d: " + ", ".join(f"{n} {rows[n][f'fid_{d}']:.3f}" for n in sets))
    if train:
        from benchmark.reid.job import TestSplits, train_and_evaluate

        tests = [TestSplits(tgt.key, list(tgt.query), list(tgt.gallery))]
        for name in ("random", *VARIANTS):
            t0 = time.perf_counter()
            out = train_and_evaluate(sets[name], tests, profile, work / f"train-{name}", seed=seed, device=device,
                                     progress=False)
            m = out["metrics"][tgt.key]
            rows[name].update(r1=m["r1"], map=m["map"], train_seconds=time.perf_counter() - t0)
            log(f"{name}: R1 {m['r1']:.1f}  mAP {m['map']:.1f}")
    return {"target": target, "seed": seed, "profile": profile.name, "dims": dims, "rows": rows,
            "fid_weights": "random (seeded; no official Inception weights here)"}


def register(perf_app) -> None:
    """Mount `aostbench perf style` on the perf sub-app."""
    import typer
    from rich.console import Console
    from rich.table import Table

    @perf_app.command("style")
    def style_cmd(
        target: str = typer.Option("sim-market1501", "--target", help="Target twin."),
        seed: int = typer.Option(0, "--seed"),
        dims: str = typer.Option("64,192,768", "--dims", help="Inception depths for FID (64, 192, 768, 2048)."),
        train: bool = typer.Option(False, "--train", help="Also train and evaluate a cpu-profile model per version."),
        data_root: Path = typer.Option(None, "--data-root", help="Folder with the twins (default: a temporary one)."),
        out: Path = typer.Option(None, "--out", help="Write the numbers as JSON here."),
        device: str = typer.Option("cpu", "--device"),
    ) -> None:
        """Score the AO selection under each part of the style transfer: FID per depth, and R1 with --train."""
        console = Console()
        depth = [int(d) for d in dims.split(",") if d.strip()]
        if data_root is not None:
            Path(data_root).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="aost-style-", dir=str(data_root) if data_root else None) as tmp:
            root = Path(data_root) if data_root is not None else Path(tmp) / "data"
            r = style_experiment(target, seed=seed, data_root=root, work=Path(tmp) / "work", dims=depth, train=train,
                                 device=device, log=console.print)
        table = Table(title=f"{SOURCE} -> {target}, seed {seed}: the AO selection under each transfer")
        cols = [f"fid_{d}" for d in depth] + (["r1", "map"] if train else [])
        table.add_column("version")
        for c in cols:
            table.add_column(c.replace("fid_", "FID ") + ("-d" if c.startswith("fid_") else ""), justify="right")
        for name, row in r["rows"].items():
            table.add_row(name, *("-" if c not in row else f"{row[c]:.3f}" if c.startswith("fid") else f"{row[c]:.1f}"
                                  for c in cols))
        console.print(table)
        console.print(f"DAT map: {json.dumps(r['rows']['dat']['dat_map'])}. FID weights: {r['fid_weights']}.")
        if out:
            Path(out).write_text(json.dumps(r, indent=2))
