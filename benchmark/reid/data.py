"""Torch datasets, transforms and samplers over `Record`s.

Training randomness (shuffle order and flips) is a pure function of
(seed, epoch, index): `set_epoch` fixes it before each pass, so an epoch is
the same whether it runs straight, after a resume, in worker processes or
under DDP. That is what makes resume end with bitwise the same weights.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import DistributedSampler, Sampler
from torchvision.transforms import functional as TF

from benchmark.datasets.records import DataError, Record

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_train_records(records: Sequence[Record], split: str = "train") -> None:
    """Training needs images of at least two identities: say which split fails, and why."""
    if not records:
        raise ValueError(f"the {split} split is empty: training needs images of at least 2 identities")
    pids = {r.pid for r in records}
    if len(pids) < 2:
        raise ValueError(
            f"the {split} split has a single identity (pid {next(iter(pids))}, {len(records)} images): "
            "softmax re-ID training needs at least 2 identities"
        )


def relabel(records: Sequence[Record]) -> tuple[list[int], dict[int, int]]:
    """Map train pids to classes 0..N-1 in sorted pid order; returns (labels, pid -> label)."""
    pid_map = {pid: i for i, pid in enumerate(sorted({r.pid for r in records}))}
    return [pid_map[r.pid] for r in records], pid_map


def load_image(path: str | Path, height: int, width: int) -> Image.Image:
    """Open an image as RGB, resized to height x width (bilinear, as torchreid)."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc} (expected a readable RGB/greyscale image)") from None
    return im.resize((width, height), Image.BILINEAR)


def to_normalized_tensor(im: Image.Image) -> torch.Tensor:
    return TF.normalize(TF.to_tensor(im), IMAGENET_MEAN, IMAGENET_STD)


class ReidImages(TorchDataset):
    """Records as (image tensor, label, camid, index).

    `train=True`: labels are relabelled pids and images are flipped with
    probability `flip`, then (pad > 0) zero-padded by `pad` pixels and cropped
    back to height x width at a random offset, all decided per (seed, epoch,
    index). `train=False`: labels are the raw pids, no augmentation
    (evaluation / feature extraction). benchmark.reid.decoded reads the same
    draws (`flips_of`, `offsets_of`) to augment whole batches.
    """

    def __init__(
        self,
        records: Sequence[Record],
        height: int,
        width: int,
        *,
        train: bool = False,
        flip: float = 0.0,
        seed: int = 0,
        pid_map: dict[int, int] | None = None,
        pad: int = 0,
    ):
        self.records = list(records)
        self.height, self.width = height, width
        self.train = train
        self.flip = flip if train else 0.0
        self.pad = int(pad) if train else 0
        self.seed = seed
        if train:
            if pid_map is None:
                self.labels, self.pid_map = relabel(self.records)
            else:
                self.pid_map = dict(pid_map)
                self.labels = [self.pid_map[r.pid] for r in self.records]
        else:
            self.pid_map = None
            self.labels = [r.pid for r in self.records]
        self._flips = torch.zeros(len(self.records), dtype=torch.bool)
        self._offsets = torch.full((len(self.records), 2), self.pad, dtype=torch.long)
        self.set_epoch(0)

    @property
    def num_classes(self) -> int:
        return len(self.pid_map) if self.pid_map is not None else len(set(self.labels))

    def set_epoch(self, epoch: int) -> None:
        """Fix this epoch's flips and crop offsets (seeded draws, independent of any global RNG)."""
        if self.flip > 0:
            g = torch.Generator().manual_seed(_mix(self.seed, epoch, 0x5F1))
            self._flips = torch.rand(len(self.records), generator=g) < self.flip
        if self.pad > 0:
            g = torch.Generator().manual_seed(_mix(self.seed, epoch, 0xC0F))
            self._offsets = torch.randint(0, 2 * self.pad + 1, (len(self.records), 2), generator=g)

    def flips_of(self, idx: torch.Tensor) -> torch.Tensor:
        return self._flips[idx]

    def offsets_of(self, idx: torch.Tensor) -> torch.Tensor:
        """(y, x) of each crop's top-left corner in the padded image."""
        return self._offsets[idx]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int):
        rec = self.records[index]
        im = load_image(rec.path, self.height, self.width)
        if self._flips[index]:
            im = TF.hflip(im)
        if self.pad > 0:
            oy, ox = (int(v) for v in self._offsets[index])
            im = TF.crop(TF.pad(im, self.pad, fill=0), oy, ox, self.height, self.width)
        return to_normalized_tensor(im), self.labels[index], rec.camid, index


def _mix(seed: int, epoch: int, salt: int) -> int:
    """A 63-bit seed from (seed, epoch, salt) so nearby seeds/epochs give unrelated streams."""
    x = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + salt) & (2**64 - 1)
    x ^= x >> 31
    x = (x * 0x94D049BB133111EB) & (2**64 - 1)
    return x >> 1


class EpochShuffleSampler(Sampler[int]):
    """A permutation per epoch drawn from a torch.Generator seeded by (seed, epoch).

    Stateless between epochs, so a resumed run replays exactly the same order.
    """

    def __init__(self, n: int, seed: int = 0):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(_mix(self.seed, self.epoch, 0x5A3))
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def train_sampler(n: int, seed: int, world_size: int, rank: int) -> Sampler[int]:
    """EpochShuffleSampler for one process, torch's DistributedSampler (same seed) under DDP."""
    if world_size > 1:
        return DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False)
    return EpochShuffleSampler(n, seed)


def batches_per_epoch(n_per_process: int, batch_size: int) -> tuple[int, bool]:
    """(number of batches, drop_last): drop the ragged tail like torchreid, unless that leaves nothing."""
    if n_per_process >= batch_size:
        return n_per_process // batch_size, True
    return 1, False


def eval_dataset(records: Sequence[Record], height: int, width: int) -> ReidImages:
    """Images for feature extraction: resized and normalised, no augmentation, raw pids."""
    return ReidImages(records, height, width, train=False)


# --- a toy re-ID set for tests, examples and throughput checks -------------------------------

_TOY_PALETTE = np.array(
    [[220, 40, 40], [40, 170, 60], [40, 80, 220], [230, 200, 40], [150, 60, 190],
     [30, 190, 200], [240, 130, 30], [120, 120, 120], [250, 250, 250], [20, 20, 20]],
    dtype=np.float32,
)


def write_toy_records(
    folder: str | Path,
    num_ids: int = 8,
    images_per_id: int = 6,
    cameras: int = 2,
    size: tuple[int, int] = (32, 16),
    seed: int = 0,
    noise: float = 18.0,
    first_pid: int = 1,
) -> list[Record]:
    """Write tiny person-like crops (coloured top/bottom, a per-id shape) and return their records.

    Each id has its own shirt/trouser colours and a mark (bar, dot or stripe)
    at an id-specific place; images vary by shift, brightness, camera tint and
    noise. Files are named like Market-1501 (`0001_c1s1_000001_00.jpg`). Not
    a substitute for the procedural engine: a fixture that is fast to make.
    Ids start at `first_pid` and their looks depend on the pid, so two calls
    with disjoint pid ranges give disjoint people (train ids vs test ids).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    rng = np.random.default_rng(seed)
    # a camera's tint is the same in every call, so sets written with other seeds share cameras
    cam_tint = np.stack([np.random.default_rng(1000 + c).uniform(-25, 25, 3) for c in range(cameras)]).astype(np.float32)
    records: list[Record] = []
    for pid in range(first_pid, first_pid + num_ids):
        k = pid - 1
        top, bottom = _TOY_PALETTE[k % 10], _TOY_PALETTE[(k * 3 + 1 + k // 10) % 10]
        mark_kind, mark_row = k % 3, (k // 3) % max(1, h // 4)
        for j in range(images_per_id):
            cam = j % cameras
            img = np.full((h, w, 3), 90.0, dtype=np.float32)
            split = h // 2 + int(rng.integers(-1, 2))
            x0 = int(rng.integers(0, max(1, w // 8) + 1))
            img[1:split, x0 + w // 8 : w - w // 8] = top
            img[split : h - 1, x0 + w // 8 : w - w // 8] = bottom
            r = 2 + mark_row * 2
            if mark_kind == 0:
                img[r : r + 2, :] = 255 - top
            elif mark_kind == 1:
                img[r : r + 3, w // 2 - 1 : w // 2 + 2] = 255 - top
            else:
                img[:, w // 2 - 1 : w // 2 + 1] = 255 - bottom
            img = img * float(rng.uniform(0.8, 1.2)) + cam_tint[cam] + rng.normal(0, noise, img.shape)
            name = f"{pid:04d}_c{cam + 1}s1_{j:06d}_00.jpg"
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / name, quality=95)
            records.append(Record(str(folder / name), pid, cam + 1))
    return records


def split_query_gallery(records: Sequence[Record]) -> tuple[list[Record], list[Record]]:
    """One query per (pid, camera) - its first image - and everything else in the gallery."""
    seen: set[tuple[int, int]] = set()
    query, gallery = [], []
    for r in records:
        if (r.pid, r.camid) not in seen:
            seen.add((r.pid, r.camid))
            query.append(r)
        else:
            gallery.append(r)
    return query, gallery


def per_process_batch(batch_size: int, world: int) -> int:
    """Each DDP process takes an equal share of the profile's (global) batch, at least 1."""
    return max(1, math.ceil(batch_size / world))
