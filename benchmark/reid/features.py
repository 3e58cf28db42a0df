"""Batched, no-grad feature extraction: one code path for re-ID evaluation, FID and VGG features.

Under torchrun with more than one process, each process takes a contiguous
shard of the dataset and the shards are gathered back in dataset order on
every process (uneven shards are padded for the collective and trimmed).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from benchmark.datasets.records import Record
from benchmark.profiles import Profile
from benchmark.reid import distributed as D
from benchmark.reid.data import eval_dataset
from benchmark.reid.models import unwrap

Forward = Callable[[nn.Module, torch.Tensor], torch.Tensor]


def default_forward(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """A torchreid model in eval mode returns its embedding; take the first output if it returns several."""
    out = model(images)
    return out[0] if isinstance(out, (tuple, list)) else out


def _images_of(batch: Any) -> torch.Tensor:
    if torch.is_tensor(batch):
        return batch
    if isinstance(batch, dict):
        return batch["img"]
    if isinstance(batch, (tuple, list)):
        return batch[0]
    raise TypeError(f"a batch must be a tensor, a dict with 'img' or a tuple starting with images, got {type(batch)}")


def extract_features(
    model: nn.Module,
    data: Dataset | DataLoader,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    flip: bool = False,
    forward: Forward | None = None,
    num_workers: int = 0,
    split: str = "data",
    progress: bool = True,
) -> torch.Tensor:
    """Features [N, D] (float32, CPU) of every item of `data`, in dataset order.

    `data` is a Dataset whose items are an image tensor or a tuple/dict
    holding one, or a DataLoader (which must not shuffle). `forward(model,
    images) -> features` replaces the model call (FID / VGG hooks). With
    flip=True each feature is the mean of the image's and its mirror's.
    Under torchrun (world size > 1) the dataset is sharded and gathered.
    `split` names the data in error messages (e.g. "query"). Raises
    ValueError when a feature is NaN or infinite.
    """
    forward = forward or default_forward
    device = torch.device(device)
    if isinstance(data, DataLoader):
        loader_dataset, batch_size = data.dataset, data.batch_size or batch_size
        num_workers = data.num_workers
    else:
        loader_dataset = data
    n = len(loader_dataset)
    if n == 0:
        raise ValueError(f"cannot extract features of the {split} split: it is empty")
    world, r = D.world_size(), D.rank()
    if world > 1:
        start, stop = D.shard_bounds(n, world, r)
        loader = DataLoader(Subset(loader_dataset, range(start, stop)), batch_size=batch_size, shuffle=False, num_workers=num_workers)
    elif isinstance(data, DataLoader):
        loader = data
    else:
        loader = DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=num_workers)

    from benchmark import progress as prog

    net = unwrap(model)
    was_training = net.training
    net.eval()
    chunks: list[torch.Tensor] = []
    try:
        with torch.no_grad(), prog.stage(f"features: {split}", len(loader.dataset), enabled=progress and D.is_main()) as bar:
            for batch in loader:
                images = _images_of(batch).to(device, non_blocking=True)
                if images.dim() == 4:  # faster convolutions on CPU (oneDNN) and CUDA alike
                    images = images.contiguous(memory_format=torch.channels_last)
                f = forward(net, images).float()
                if flip:
                    f = (f + forward(net, torch.flip(images, dims=[3])).float()) / 2
                chunks.append(f.reshape(f.shape[0], -1).cpu())
                bar.update(f.shape[0])
    finally:
        net.train(was_training)
    local = torch.cat(chunks) if chunks else None
    if world > 1:
        dim = _agree_dim(local)
        local = local if local is not None else torch.zeros((0, dim))
        feats = D.gather_shards(local, n)
    else:
        feats = local
    if feats.shape[0] != n:
        raise RuntimeError(f"{split}: extracted {feats.shape[0]} features for {n} items (a loader that drops or shuffles?)")
    check_finite(feats, split)
    return feats


def _agree_dim(local: torch.Tensor | None) -> int:
    """Feature width agreed by all processes (a process whose shard is empty has none of its own)."""
    import torch.distributed as dist

    mine = float(local.shape[1]) if local is not None else 0.0
    t = torch.tensor([mine], dtype=torch.float64, device=D.comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def check_finite(feats: torch.Tensor, split: str) -> None:
    """NaN/Inf features are an error naming the split and the first bad rows, never a silent metric."""
    bad = ~torch.isfinite(feats).all(dim=1)
    if bool(bad.any()):
        rows = bad.nonzero().flatten()[:5].tolist()
        raise ValueError(
            f"features of the {split} split contain NaN or infinite values ({int(bad.sum())} of {feats.shape[0]} "
            f"rows, first at {rows}): the model diverged or its input is broken"
        )


def extract_record_features(
    model: nn.Module,
    records: Sequence[Record],
    profile: Profile,
    *,
    batch_size: int | None = None,
    device: str | torch.device = "cpu",
    flip: bool | None = None,
    num_workers: int | None = None,
    split: str = "records",
) -> torch.Tensor:
    """Features of records resized to the profile's input (flip-averaged if profile.flip_test).

    num_workers=None: 0 on the CPU (decoding in the main process is cheapest there), up to 8
    image-decoding workers on CUDA, where decoding is the bottleneck (measured on an H200:
    about 200 images/s with none).
    """
    if not records:
        raise ValueError(f"cannot extract features of the {split} split: it is empty")
    if num_workers is None:
        num_workers = 0 if torch.device(device).type == "cpu" else min(8, os.cpu_count() or 1)
    return extract_features(
        model,
        eval_dataset(records, profile.height, profile.width),
        batch_size=batch_size or max(64, profile.batch_size),
        device=device,
        flip=profile.flip_test if flip is None else flip,
        num_workers=num_workers,
        split=split,
    )
