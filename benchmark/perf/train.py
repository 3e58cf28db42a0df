"""`aostbench perf train`: re-ID training img/s through the real input pipeline vs from memory.

One run, one model, one training step (the same as `reid.train`: AMP on CUDA,
softmax CE, Adam, a loss read back every step), fed three ways in turn:
- `pipeline`: what `train()` uses, the decoded uint8 store with batched
  augmentation on the device (benchmark.reid.decoded);
- `jpeg`: the path before issue 19, decode + PIL transforms per image in a
  DataLoader (train()'s worker count: 0 on the CPU, 4 on CUDA);
- `memory`: the same images already normalised in one tensor on the device.
The feeds take turns batch by batch (the order rotating) and each figure is
the median over rounds, so a shared machine's load falls on all three alike. Goal (issue 19): the
pipeline within 15% of memory. The store's one-off decode is timed apart.

Data: the sim-market1501 twin's train split (made in a temporary folder
unless `--data-root` holds it). `--paper` adds the paper profile's network
and input (ResNet-50 at 256x128, from scratch: no weights are fetched) for a
few batches, at a small batch on the CPU.
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET = "sim-market1501"
GOAL_RATIO = 0.85


def _cycle(feed, dataset, sampler):
    """Batches of `feed` across epochs, setting each epoch's draws as train() does."""
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        yield from feed
        epoch += 1


def _memory_feed(images, labels, batch: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(images.shape[0], generator=g)
        for s in range(0, len(order) - batch + 1, batch):
            idx = order[s : s + batch].to(images.device)
            yield images[idx], labels[idx]


def measure_train(records, profile, device: str = "auto", *, batches: int = 10, rounds: int = 3,
                  batch_size: int | None = None, work: Path, log=print) -> dict:
    """img/s of the three feeds (median over rounds) and the store's decode, for `profile`'s network."""
    import torch
    import torch.nn.functional as F

    from benchmark.reid.data import EpochShuffleSampler, ReidImages, relabel
    from benchmark.reid.decoded import decoded_store, normalize_batch, train_feed
    from benchmark.reid.models import build_reid_model
    from benchmark.reid.train import resolve_device

    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    bs = batch_size or profile.batch_size
    records = list(records)
    if len(records) < bs:
        raise ValueError(f"{len(records)} training images are fewer than one batch of {bs}")
    labels_list, pid_map = relabel(records)
    torch.manual_seed(0)
    model, _ = build_reid_model(profile.with_(pretrained=False), len(pid_map))
    model = model.to(dev, memory_format=torch.channels_last).train()
    opt = torch.optim.Adam(model.parameters(), lr=profile.lr, weight_decay=profile.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)

    cache = work / "cache"
    t0 = time.perf_counter()
    store = decoded_store(records, profile.height, profile.width, cache_dir=cache, num_workers=0 if not cuda else 8)
    decode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    hit = decoded_store(records, profile.height, profile.width, cache_dir=cache)
    reopen_s = time.perf_counter() - t0

    dataset = ReidImages(records, profile.height, profile.width, train=True, flip=profile.flip, seed=0,
                         pid_map=pid_map, pad=profile.crop_pad)
    sampler = EpochShuffleSampler(len(dataset), 0)
    pipe, facts = train_feed(dataset, sampler, bs, True, dev, pipeline="decoded", cache_dir=cache)
    jpeg_ds = ReidImages(records, profile.height, profile.width, train=True, flip=profile.flip, seed=0,
                         pid_map=pid_map, pad=profile.crop_pad)
    jpeg_sampler = EpochShuffleSampler(len(jpeg_ds), 0)
    jpeg, _ = train_feed(jpeg_ds, jpeg_sampler, bs, True, dev, pipeline="jpeg", num_workers=4 if cuda else 0)
    n_mem = min(len(records), max(bs, batches * bs))  # enough distinct images for a round
    mem_images = normalize_batch(torch.from_numpy(hit.images[:n_mem].copy()).to(dev))
    mem_images = mem_images.contiguous(memory_format=torch.channels_last)
    mem_labels = torch.as_tensor(labels_list[:n_mem], device=dev)
    feeds = {"pipeline": _cycle(pipe, dataset, sampler), "jpeg": _cycle(jpeg, jpeg_ds, jpeg_sampler),
             "memory": _memory_feed(mem_images, mem_labels, bs)}

    def step(images, targets) -> float:
        with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=cuda):
            logits = model(images)
            loss = F.cross_entropy(logits.float(), targets)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return float(loss.detach())  # train() reads the loss every step too

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(dev)

    for it in feeds.values():  # warm-up: first batch of each (threads, cudnn autotune, page cache)
        step(*next(it))
    rates: dict[str, list[float]] = {k: [] for k in feeds}
    names = list(feeds)
    for r in range(rounds):
        spent = dict.fromkeys(names, 0.0)
        for b in range(batches):  # the feeds take turns batch by batch: a load spike hits all three alike
            k = (r + b) % len(names)
            for name in names[k:] + names[:k]:
                sync()
                t = time.perf_counter()
                step(*next(feeds[name]))
                sync()
                spent[name] += time.perf_counter() - t
        for name in names:
            rates[name].append(batches * bs / spent[name])
        log(f"  round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.3g}" for k, v in rates.items()) + " img/s")
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {
        "profile": profile.name, "arch": profile.arch, "input": [profile.height, profile.width], "batch": bs,
        "device": str(dev), "amp": cuda, "threads": torch.get_num_threads(), "images": len(records),
        "batches_per_round": batches, "rounds": rounds, "img_per_s": med, "rounds_img_per_s": rates,
        "pipeline_vs_memory": med["pipeline"] / med["memory"], "jpeg_vs_memory": med["jpeg"] / med["memory"],
        "decode": {"seconds": decode_s, "img_per_s": len(records) / decode_s, "status": store.status,
                   "reopen_seconds": reopen_s, "reopen_status": hit.status, "resident": facts["resident"]},
    }


def perf_train(data_root: Path | None, work: Path, *, device: str = "auto", batches: int = 10, rounds: int = 3,
               paper: bool = False, paper_batches: int | None = None, paper_batch: int | None = None,
               log=print) -> dict:
    import torch

    from benchmark.aost.recovery import ensure_twin
    from benchmark.datasets import load_dataset
    from benchmark.profiles import get_profile

    root = data_root or work / "data"
    ensure_twin(TARGET, root)
    train_records = list(load_dataset(TARGET, root).train)
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    out = {"target": TARGET, "torch": torch.__version__, "rows": []}
    cpu = get_profile("cpu")
    log(f"cpu profile ({cpu.arch}, {cpu.height}x{cpu.width}, batch {cpu.batch_size}), {len(train_records)} images")
    out["rows"].append(measure_train(train_records, cpu, device, batches=batches, rounds=rounds, work=work / "cpu",
                                     log=log))
    if paper:
        prof = get_profile("paper").with_(pretrained=False)
        bs = paper_batch or (prof.batch_size if cuda else 16)
        n = paper_batches or (batches if cuda else 2)
        log(f"paper network ({prof.arch}, {prof.height}x{prof.width}, batch {bs}, from scratch), {n} batches a round")
        out["rows"].append(measure_train(train_records, prof, device, batches=n, rounds=rounds, batch_size=bs,
                                         work=work / "paper", log=log))
    return out


def _rate(x: float) -> str:
    return f"{x:.1f}" if x < 10 else f"{x:.0f}"


def register(perf_app) -> None:
    import typer
    from rich.console import Console
    from rich.table import Table

    @perf_app.command("train")
    def train_cmd(
        batches: int = typer.Option(10, "--batches", min=1, help="Timed batches per feed and round (cpu profile)."),
        rounds: int = typer.Option(3, "--rounds", min=1, help="Rounds; each figure is the median over them."),
        device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
        paper: bool = typer.Option(False, "--paper", help="Also time the paper profile's network and input."),
        paper_batches: int = typer.Option(None, "--paper-batches", help="Batches per round for --paper "
                                          "(default: 2 on the CPU, --batches on CUDA)."),
        paper_batch: int = typer.Option(None, "--paper-batch", help="Batch for --paper (default: 16 on the CPU, "
                                        "the profile's 128 on CUDA)."),
        data_root: Path = typer.Option(None, "--data-root", help="Folder holding the sim-market1501 twin "
                                       "(default: one made in a temporary folder)."),
        out: Path = typer.Option(None, "--out", help="Write the numbers as JSON here."),
    ) -> None:
        """Training img/s through the real input pipeline vs the same network fed from memory (goal: within 15%)."""
        console = Console(width=None if sys.stdout.isatty() else 160)
        with tempfile.TemporaryDirectory(prefix="aost-perf-train-") as tmp:
            r = perf_train(data_root, Path(tmp), device=device, batches=batches, rounds=rounds, paper=paper,
                           paper_batches=paper_batches, paper_batch=paper_batch, log=console.print)
        table = Table(title=f"re-ID training img/s on {TARGET} (median of {rounds} rounds, torch {r['torch']})")
        for c in ("network", "device", "threads", "batch", "memory", "pipeline", "ratio", "jpeg (before)", "ratio"):
            table.add_column(c, justify="right")
        met = True
        for row in r["rows"]:
            m, d = row["img_per_s"], row["decode"]
            met &= row["pipeline_vs_memory"] >= GOAL_RATIO
            table.add_row(f"{row['arch']} {row['input'][0]}x{row['input'][1]}", row["device"] + (" AMP" if row["amp"] else ""),
                          str(row["threads"]), str(row["batch"]), _rate(m["memory"]), _rate(m["pipeline"]),
                          f"{row['pipeline_vs_memory']:.2f}", _rate(m["jpeg"]), f"{row['jpeg_vs_memory']:.2f}")
        console.print(table)
        for row in r["rows"]:
            d = row["decode"]
            console.print(f"decode once ({row['arch']}): {row['images']} images in {d['seconds']:.1f} s "
                          f"({d['img_per_s']:.0f} img/s, {d['status']}); reopened and verified in "
                          f"{d['reopen_seconds']:.2f} s ({d['reopen_status']}); store resident on the {d['resident']}",
                          highlight=False)
        console.print(f"goal: pipeline >= {GOAL_RATIO:.2f} x memory: {'met' if met else 'NOT met'}")
        if out:
            Path(out).write_text(json.dumps(r, indent=2))
        if not met:
            raise typer.Exit(1)
