"""Re-ID training as the paper's baseline: a torchreid model, softmax cross-entropy, Adam, MultiStepLR.

`train()` runs on CPU or CUDA (AMP on CUDA), in one process or under torchrun
(DistributedDataParallel; the profile's batch is the global batch, split over
processes). It writes `checkpoint.pth` after every epoch (atomically; only
rank 0 writes) and `model.pth` + `train.json` at the end; `resume=True`
continues from the checkpoint and, on the CPU, ends with bitwise the same
weights as an uninterrupted run.

Loss: plain softmax cross-entropy by default, as the paper ("softmax
cross-entropy ... no bells and whistles"). torchreid's softmax engine adds
label smoothing (eps 0.1) by default; set `label_smooth=0.1` (or
the profile's label_smooth) for that. The value is recorded either way.
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from benchmark import progress as prog
from benchmark.datasets.records import Record
from benchmark.profiles import Profile
from benchmark.reid import distributed as D
from benchmark.reid.checkpoint import (
    CHECKPOINT_NAME,
    load_checkpoint,
    load_scheduler_state,
    restore_rng,
    save_checkpoint,
)
from benchmark.reid.data import ReidImages, batches_per_epoch, check_train_records, per_process_batch, relabel, train_sampler
from benchmark.reid.models import build_reid_model, require_pretrained, save_trained_model, unwrap

MODEL_NAME = "model.pth"
RESULT_NAME = "train.json"


@dataclass
class TrainResult:
    """What a training run produced and what it cost (the leaderboard's cost column)."""

    model_path: Path
    checkpoint_path: Path
    wall_seconds: float  # all segments of the run, resumed ones included
    images_seen: int  # training images processed, all processes and epochs
    epochs: int  # epochs completed
    final_loss: float
    final_acc: float
    num_classes: int
    num_images: int
    device: str
    amp: bool
    pretrained: bool
    arch: str
    input_size: tuple[int, int]
    batch_size: int  # global batch
    world_size: int
    seed: int
    loss: str
    label_smooth: float
    resumed_from_epoch: int | None = None
    images_per_second: float = 0.0  # this call's training throughput
    threads: int = 0  # torch CPU threads this process trained with (CPU results depend on it)
    history: list[dict[str, float]] = field(default_factory=list)
    weights_use: dict | None = None  # the ImageNet file loaded: name, SHA-256, tensors (None from scratch)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model_path"], d["checkpoint_path"] = str(self.model_path), str(self.checkpoint_path)
        d["input_size"] = list(self.input_size)
        return d


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> CUDA when available, else CPU; under torchrun on CUDA, this process's GPU."""
    name = str(device)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} requested but CUDA is not available on this machine")
        if dev.index is None:
            dev = torch.device("cuda", D.local_rank() if D.env_world_size() > 1 else torch.cuda.current_device())
    return dev


def data_fingerprint(records: Sequence[Record]) -> str:
    """Identifies the training set (paths, pids, order) so a resume cannot mix two datasets."""
    h = hashlib.sha256()
    for r in records:
        h.update(f"{r.path}\t{r.pid}\n".encode())
    return h.hexdigest()[:16]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _run_signature(profile: Profile, seed: int, fingerprint: str, num_classes: int, label_smooth: float) -> dict:
    """The settings a checkpoint must share with the run that resumes it (epochs may grow)."""
    keys = ("arch", "pretrained", "height", "width", "flip", "batch_size", "lr", "weight_decay", "lr_steps")
    sig = {k: profile.to_dict()[k] for k in keys}
    sig.update(seed=seed, data=fingerprint, num_classes=num_classes, label_smooth=label_smooth)
    return sig


def train(
    records: Sequence[Record],
    profile: Profile,
    out_dir: str | Path,
    *,
    seed: int = 0,
    device: str | torch.device = "auto",
    resume: bool = False,
    progress: bool = True,
    max_epochs: int | None = None,
    num_workers: int | None = None,
    label_smooth: float | None = None,
) -> TrainResult:
    """Train a re-ID model on `records` (the train split) with the profile's settings.

    `max_epochs` stops after that many epochs in total (the schedule stays the
    profile's), so a later `resume=True` call can finish the run; `resume=True`
    with no checkpoint in `out_dir` starts from scratch. Raises
    MissingWeights before any work when the profile needs absent ImageNet
    weights, and ValueError when the train split is empty or has one identity.
    """
    require_pretrained(profile)  # fail before reading a single image
    records = list(records)
    check_train_records(records, "train")
    if profile.batch_size < 1 or profile.epochs < 1:
        raise ValueError(f"profile {profile.name!r}: batch_size and epochs must be >= 1")
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    dev = resolve_device(device)
    dinfo = D.init_from_env(dev)
    world, rank = dinfo.world_size, dinfo.rank
    main = rank == 0
    amp = dev.type == "cuda"
    eps = float(profile.label_smooth if label_smooth is None else label_smooth)
    if num_workers is None:
        num_workers = 0 if dev.type == "cpu" else 4
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True

    seed_everything(seed)
    _, pid_map = relabel(records)
    num_classes = len(pid_map)
    model, info = build_reid_model(profile, num_classes)
    # channels_last: about 1.7x faster for OSNet on the CPU (oneDNN), and the layout tensor cores want
    model = model.to(dev, memory_format=torch.channels_last)
    dataset = ReidImages(records, profile.height, profile.width, train=True, flip=profile.flip, seed=seed, pid_map=pid_map)
    sampler = train_sampler(len(dataset), seed, world, rank)
    local_batch = per_process_batch(profile.batch_size, world)
    n_batches, drop_last = batches_per_epoch(len(sampler), local_batch)
    if (local_batch if drop_last else len(sampler)) < 2:  # BatchNorm cannot train on one image
        raise ValueError(
            f"the train split has too few images ({len(records)}) for {world} process(es): "
            "each training batch needs at least 2 images"
        )
    loader = DataLoader(
        dataset,
        batch_size=local_batch if drop_last else len(sampler),
        sampler=sampler,
        drop_last=drop_last,
        num_workers=num_workers,
        pin_memory=dev.type == "cuda",
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=profile.lr, weight_decay=profile.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(profile.lr_steps), gamma=0.1)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    ckpt_path = out_dir / CHECKPOINT_NAME
    signature = _run_signature(profile, seed, data_fingerprint(records), num_classes, eps)
    start_epoch, prior_wall, prior_images, history = 0, 0.0, 0, []
    resumed_from = None
    if resume and ckpt_path.is_file():
        ckpt = load_checkpoint(ckpt_path)
        _check_signature(ckpt_path, ckpt["meta"]["signature"], signature)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        load_scheduler_state(scheduler, ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        restore_rng(ckpt["rng"])
        start_epoch = resumed_from = int(ckpt["epoch"])
        prior_wall = float(ckpt["meta"]["wall_seconds"])
        prior_images = int(ckpt["meta"]["images_seen"])
        history = list(ckpt["meta"]["history"])

    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)

    stop_epoch = profile.epochs if max_epochs is None else max(0, min(profile.epochs, max_epochs))
    images_seen = prior_images
    session_images, session_train_s = 0, 0.0
    per_epoch = n_batches * (local_batch if drop_last else len(sampler)) * world  # images seen per epoch
    with prog.stage(f"re-ID training ({profile.arch})", per_epoch * stop_epoch, enabled=progress and main,
                    done=per_epoch * start_epoch) as bar:
        for epoch in range(start_epoch, stop_epoch):
            sampler.set_epoch(epoch)
            dataset.set_epoch(epoch)
            model.train()
            lr_now = optimizer.param_groups[0]["lr"]
            sums = [0.0, 0.0, 0.0]  # loss * n, correct, n (this process)
            t_epoch = time.perf_counter()
            for images, targets, _camids, _idx in loader:
                images = images.to(dev, non_blocking=True, memory_format=torch.channels_last)
                targets = targets.to(dev, non_blocking=True)
                with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=amp):
                    logits = model(images)
                    loss = F.cross_entropy(logits.float(), targets, label_smoothing=eps)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                b = targets.shape[0]
                sums[0] += float(loss.detach()) * b
                sums[1] += float((logits.detach().argmax(1) == targets).sum())
                sums[2] += b
                bar.update(b * world, epoch=f"{epoch + 1}/{profile.epochs}", loss=sums[0] / sums[2],
                           acc=f"{sums[1] / sums[2]:.1%}", lr=lr_now)
            scheduler.step()
            loss_sum, correct, seen = D.all_reduce_sum(sums)
            epoch_s = time.perf_counter() - t_epoch
            images_seen += int(seen)
            session_images += int(seen)
            session_train_s += epoch_s
            if not np.isfinite(loss_sum):
                raise FloatingPointError(f"training diverged in epoch {epoch + 1}: the loss is {loss_sum} (lower the profile's lr?)")
            prog.note(f"re-ID epoch {epoch + 1}/{profile.epochs}: loss {loss_sum / seen:.4f}, acc {correct / seen:.1%}, "
                      f"lr {lr_now:.3g}, {epoch_s:.1f} s")
            history.append({"epoch": epoch + 1, "loss": loss_sum / seen, "acc": correct / seen, "seconds": epoch_s, "images_per_second": seen / max(epoch_s, 1e-9)})
            if main:
                meta = {
                    "signature": signature,
                    "wall_seconds": prior_wall + time.perf_counter() - t_start,
                    "images_seen": images_seen,
                    "history": history,
                }
                save_checkpoint(ckpt_path, model_state=unwrap(model).state_dict(), optimizer=optimizer, scheduler=scheduler, scaler=scaler, epoch=epoch + 1, meta=meta)
            D.barrier()

    wall = prior_wall + time.perf_counter() - t_start
    last = history[-1] if history else {"loss": float("nan"), "acc": float("nan")}
    result = TrainResult(
        model_path=out_dir / MODEL_NAME,
        checkpoint_path=ckpt_path,
        wall_seconds=wall,
        images_seen=images_seen,
        epochs=len(history),
        final_loss=float(last["loss"]),
        final_acc=float(last["acc"]),
        num_classes=num_classes,
        num_images=len(records),
        device=str(dev),
        amp=amp,
        pretrained=bool(info["pretrained"]),
        arch=profile.arch,
        input_size=(profile.height, profile.width),
        batch_size=local_batch * world,
        world_size=world,
        seed=seed,
        loss="softmax-ce" if eps == 0 else f"softmax-ce-labelsmooth{eps:g}",
        label_smooth=eps,
        resumed_from_epoch=resumed_from,
        images_per_second=session_images / session_train_s if session_train_s > 0 else 0.0,
        history=history,
        threads=torch.get_num_threads(),
        weights_use=info.get("weights_use"),
    )
    if main:
        info = dict(info, profile=profile.to_dict(), pid_map=pid_map, seed=seed, epochs=result.epochs, loss=result.loss)
        save_trained_model(result.model_path, model, info)
        (out_dir / RESULT_NAME).write_text(json.dumps(result.to_dict(), indent=2))
    D.barrier()
    return result


def _check_signature(path: Path, saved: dict, current: dict) -> None:
    diffs = [f"{k}: checkpoint {saved.get(k)!r} vs now {current[k]!r}" for k in current if saved.get(k) != current[k]]
    if diffs:
        raise ValueError(
            f"cannot resume from {path}: it was written by a different run ({'; '.join(diffs)}). "
            "Delete it or train with resume=False."
        )
