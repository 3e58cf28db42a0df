"""`aostbench perf gpu`: the paper profile's throughputs on a CUDA machine, in one command.

Records, on the GPU (it refuses to run without one):
1. re-ID training img/s of the paper network (ResNet-50, 256x128, batch 128,
   AMP) through the real input pipeline vs from memory vs the JPEG loader
   (`perf train --paper`);
2. SPGAN training img/s at 256x128 with the published generator (9 residual
   blocks, width 64), one epoch over `--gan-images` pairs;
3. VGG-19 AO distances img/s (Eq. 1-2 style + content sketches) at the paper's
   AO input (256x128);
4. FID img/s: Inception activations at 299x299, 2048-d.
No weights are fetched: the networks are built from seeded random weights
where the official files are absent (the cost is the same; the label says
so). `benchmark/perf/gpu_check.sh` runs this and one complete
`--profile paper` run shrunk in sizes only.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

SOURCE, TARGET = "sim-finegpr", "sim-market1501"


def _sync(device: str = "cuda"):
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _spgan_rate(src: list[str], bank: list[str], out: Path, n: int, profile, device: str = "cuda") -> dict:
    from benchmark.aost.style import fit_style

    t0 = time.perf_counter()
    model = fit_style("spgan", src, bank, out, size=profile.style_size, res_blocks=profile.style_res_blocks,
                      epochs=1, device=device, max_images=n, progress=False, width=profile.style_width, amp=True)
    _sync(device)
    wall = time.perf_counter() - t0
    info = model.info if hasattr(model, "info") else json.loads((out / "style.json").read_text())
    pairs = min(info["images"]["source"], info["images"]["bank"]) if isinstance(info.get("images"), dict) else n
    train_s = float(info.get("train_seconds") or wall)
    return {"pairs": pairs, "train_seconds": train_s, "wall_seconds": wall, "img_per_s": pairs / train_s,
            "size": list(profile.style_size), "res_blocks": profile.style_res_blocks, "width": profile.style_width,
            "amp": True}


def _vgg_rate(records, profile, device: str = "cuda") -> dict:
    from benchmark.aost.distances import StyleContentDistance
    from benchmark.reid.data import eval_dataset

    h, w = profile.ao_input
    dist = StyleContentDistance(weights="random", device=device, batch_size=64)
    dist.sketches(eval_dataset(records[:64], h, w))  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    dist.sketches(eval_dataset(records, h, w))
    _sync(device)
    s = time.perf_counter() - t0
    return {"images": len(records), "seconds": s, "img_per_s": len(records) / s, "input": [h, w],
            "weights": dist.weights_label}


def _fid_rate(records, device: str = "cuda") -> dict:
    from benchmark.fid import activations, build_inception

    paths = [r.path for r in records]
    net = build_inception(2048, "random").to(device)
    activations(paths[:64], dims=2048, weights="random", max_images=64, device=device, batch_size=64,
                cache_key=f"perf-gpu-warm-up-{time.time_ns()}", model=net)
    _sync(device)
    t0 = time.perf_counter()
    activations(paths, dims=2048, weights="random", max_images=len(paths), device=device, batch_size=64,
                cache_key=f"perf-gpu-{time.time_ns()}", model=net)
    _sync(device)
    s = time.perf_counter() - t0
    return {"images": len(paths), "seconds": s, "img_per_s": len(paths) / s, "dims": 2048, "weights": "random"}


def gpu_check(data_root: Path, work: Path, *, gan_images: int = 256, log=print) -> dict:
    import os

    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device is visible to PyTorch: `aostbench perf gpu` measures the GPU and needs one")
    os.environ.setdefault("AOSTBENCH_CACHE", str(work / "cache"))  # FID/VGG caches: never the user's
    from benchmark.aost.recovery import ensure_twin
    from benchmark.datasets import load_dataset
    from benchmark.perf.train import perf_train
    from benchmark.profiles import get_profile

    for name in (SOURCE, TARGET):
        ensure_twin(name, data_root)
    src, tgt = load_dataset(SOURCE, data_root), load_dataset(TARGET, data_root)
    paper = get_profile("paper").with_(pretrained=False)
    out: dict = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    log("1/4 training: paper network, pipeline vs memory vs JPEG")
    out["train"] = perf_train(data_root, work / "train", device="cuda", batches=10, rounds=3, paper=True, log=log)
    log("2/4 SPGAN")
    out["spgan"] = _spgan_rate([r.path for r in src.train], [r.path for r in tgt.train], work / "spgan", gan_images,
                               paper)
    log(f"   {out['spgan']['img_per_s']:.1f} img/s")
    log("3/4 VGG-19 AO distances")
    out["vgg"] = _vgg_rate(list(src.train), paper)
    log(f"   {out['vgg']['img_per_s']:.0f} img/s")
    log("4/4 FID activations")
    out["fid"] = _fid_rate(list(src.train))
    log(f"   {out['fid']['img_per_s']:.0f} img/s")
    return out


def register(perf_app) -> None:
    import typer

    @perf_app.command("gpu")
    def gpu_cmd(
        gan_images: int = typer.Option(256, "--gan-images", min=2, help="Image pairs of the timed SPGAN epoch."),
        data_root: Path = typer.Option(None, "--data-root", help="Folder with the twins (default: a temporary one)."),
        out: Path = typer.Option(None, "--out", help="Write the numbers as JSON here."),
    ) -> None:
        """Paper-profile throughputs on the GPU: training (pipeline vs memory), SPGAN, VGG-19 AO distances, FID."""
        with tempfile.TemporaryDirectory(prefix="aost-perf-gpu-") as tmp:
            root = Path(data_root) if data_root is not None else Path(tmp) / "data"
            try:
                r = gpu_check(root, Path(tmp) / "work", gan_images=gan_images, log=typer.echo)
            except RuntimeError as e:
                typer.echo(f"error: {e}", err=True)
                raise typer.Exit(1)
        for row in r["train"]["rows"]:
            m = row["img_per_s"]
            typer.echo(f"train {row['arch']} {row['input'][0]}x{row['input'][1]} batch {row['batch']}: memory "
                       f"{m['memory']:.0f}, pipeline {m['pipeline']:.0f} ({row['pipeline_vs_memory']:.2f}x), "
                       f"jpeg {m['jpeg']:.0f} ({row['jpeg_vs_memory']:.2f}x) img/s; decode once "
                       f"{row['decode']['img_per_s']:.0f} img/s")
        typer.echo(f"SPGAN {r['spgan']['img_per_s']:.1f} img/s; VGG-19 distances {r['vgg']['img_per_s']:.0f} img/s; "
                   f"FID {r['fid']['img_per_s']:.0f} img/s ({r['gpu']})")
        text = json.dumps(r, indent=2)
        if out:
            Path(out).write_text(text)
        else:
            sys.stdout.write(text + "\n")
