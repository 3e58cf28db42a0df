"""`aostbench perf cuda`: the CUDA path against the CPU, measured in the same run.

For machines with a GPU (CI has none; the check refuses to run without one):
1. re-ID training on the target twin's train split on the GPU (AMP), and on
   four batches of it on the CPU, for the cpu profile (osnet_x0_25, 64x32) and for the paper
   profile's network and input (ResNet-50 at 256x128, batch 128; from
   scratch, since no weights are fetched): images/s each and the ratio;
2. feature extraction of query + gallery with the same trained model on
   both devices: images/s, the largest feature difference, and whether the
   CMC/mAP agree.
The epochs are few: this times the path, it does not train a usable model.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

TARGET = "sim-market1501"


def _train_rate(records, profile, out_dir: Path, device: str, epochs: int) -> dict:
    from benchmark.reid.train import train

    r = train(records, profile.with_(epochs=epochs, lr_steps=()), out_dir, seed=0, device=device, progress=False)
    return {"images_per_second": r.images_per_second, "amp": r.amp, "device": r.device, "epochs": r.epochs,
            "model_path": str(r.model_path)}


def _features(model_path: str, test, profile, device: str) -> dict:
    import torch

    from benchmark.reid.evaluate import evaluate_features
    from benchmark.reid.features import extract_record_features
    from benchmark.reid.models import load_trained_model

    model, _ = load_trained_model(model_path, device)
    records = list(test.query) + list(test.gallery)
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    feats = extract_record_features(model, records, profile, device=device, split="query+gallery")
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    feats, nq = feats.cpu(), len(test.query)
    m = evaluate_features(feats[:nq], feats[nq:], [r.pid for r in test.query], [r.pid for r in test.gallery],
                          [r.camid for r in test.query], [r.camid for r in test.gallery],
                          metric=profile.dist_metric, normalize=profile.normalize_features, name=test.name)
    return {"images_per_second": len(records) / seconds, "features": feats, "r1": 100 * m.r1, "map": 100 * m.mAP}


def cuda_check(data_root: Path, work: Path, *, epochs: int = 2, log=print) -> dict:
    import torch

    from benchmark.aost.recovery import ensure_twin
    from benchmark.datasets import load_dataset
    from benchmark.profiles import get_profile
    from benchmark.reid.job import TestSplits

    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device is visible to PyTorch: `aostbench perf cuda` checks the GPU path "
                           "and needs one (everything else runs on the CPU)")
    ensure_twin(TARGET, data_root)
    ds = load_dataset(TARGET, data_root)
    test = TestSplits(ds.key, list(ds.query), list(ds.gallery))
    paper = get_profile("paper").with_(pretrained=False)
    out: dict = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "epochs": epochs,
                 "train_images": len(ds.train), "profiles": {}}
    for prof in (get_profile("cpu"), paper):
        row: dict = {"arch": prof.arch, "input": [prof.height, prof.width], "batch": prof.batch_size}
        # the CPU reference: one epoch of a few batches is enough to time (ResNet-50 on the CPU is slow)
        cpu_records = ds.train[: 4 * prof.batch_size]
        for dev, recs, n in (("cuda", ds.train, epochs), ("cpu", cpu_records, 1)):
            row[f"train_{dev}"] = _train_rate(recs, prof, work / prof.name / dev, dev, n)
            log(f"{prof.name} train on {dev}: {row[f'train_{dev}']['images_per_second']:.0f} img/s")
        row["train_speedup"] = row["train_cuda"]["images_per_second"] / row["train_cpu"]["images_per_second"]
        model = row["train_cuda"]["model_path"]
        gpu, cpu = _features(model, test, prof, "cuda"), _features(model, test, prof, "cpu")
        row["features"] = {
            "cuda_images_per_second": gpu["images_per_second"], "cpu_images_per_second": cpu["images_per_second"],
            "speedup": gpu["images_per_second"] / cpu["images_per_second"],
            "max_abs_diff": float((gpu["features"] - cpu["features"]).abs().max()),
            "feature_scale": float(cpu["features"].abs().max()),
            "r1_cuda": gpu["r1"], "r1_cpu": cpu["r1"], "map_cuda": gpu["map"], "map_cpu": cpu["map"],
        }
        log(f"{prof.name} features: {json.dumps(row['features'])}")
        out["profiles"][prof.name] = row
    return out


def register(perf_app) -> None:
    """Mount `aostbench perf cuda` on the perf sub-app."""
    import typer
    from rich.console import Console
    from rich.table import Table

    @perf_app.command("cuda")
    def cuda_cmd(
        epochs: int = typer.Option(2, "--epochs", help="Training epochs timed on the GPU (the first warms up); the CPU reference trains one."),
        data_root: Path = typer.Option(None, "--data-root", help="Folder with the twins (default: a temporary one)."),
        out: Path = typer.Option(None, "--out", help="Write the numbers as JSON here."),
    ) -> None:
        """Time training and feature extraction on the GPU against the CPU (needs a CUDA device)."""
        console = Console()
        with tempfile.TemporaryDirectory(prefix="aost-cuda-") as tmp:
            root = Path(data_root) if data_root is not None else Path(tmp) / "data"
            try:
                r = cuda_check(root, Path(tmp) / "work", epochs=epochs, log=console.print)
            except RuntimeError as e:
                console.print(f"[red]{e}[/red]")
                raise typer.Exit(1)
        table = Table(title=f"CUDA vs CPU on {TARGET} ({r['gpu']}, torch {r['torch']})")
        for c in ("profile", "train img/s GPU", "CPU", "ratio", "features img/s GPU", "CPU", "ratio",
                  "max |diff|", "R1 GPU / CPU"):
            table.add_column(c, justify="right")
        for name, row in r["profiles"].items():
            f = row["features"]
            table.add_row(name, f"{row['train_cuda']['images_per_second']:.0f}",
                          f"{row['train_cpu']['images_per_second']:.0f}", f"{row['train_speedup']:.1f}x",
                          f"{f['cuda_images_per_second']:.0f}", f"{f['cpu_images_per_second']:.0f}",
                          f"{f['speedup']:.1f}x", f"{f['max_abs_diff']:.2e}", f"{f['r1_cuda']:.1f} / {f['r1_cpu']:.1f}")
        console.print(table)
        if out:
            Path(out).write_text(json.dumps(r, indent=2))
