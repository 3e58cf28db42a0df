"""Decode once: the re-ID input pipeline over a uint8 store of resized images.

Every image of a record list is decoded and resized once (PIL bilinear, the
same `load_image` as the JPEG path) into one uint8 array [N, H, W, 3], saved
as `<cache>/decoded/<key>.npy` and memory-mapped on later runs. The key hashes
the images' bytes in order, the input size and the code/Pillow versions, so a
changed image, order or size is a new store and a stale one is never served.
A store is trusted only when its header, shape and CRC-32 match its sidecar
`.json`; anything else is rebuilt.

Augmentation (flip, then zero padding + random crop when asked, then
normalisation) runs on whole batches as tensor ops on the training device,
from the same per-(seed, epoch, index) draws as `ReidImages`, so the batches
equal the JPEG path's exactly on the CPU.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from benchmark.datasets.records import DataError, Record
from benchmark.reid.data import IMAGENET_MEAN, IMAGENET_STD, ReidImages, load_image

DECODE_VERSION = 1  # bump when what a store holds changes (resize kernel, layout)
_CHUNK = 64 * 2**20
# every AO selection is a new store (12 GB at the paper's 124,200 images x 256x128): past this
# total the least recently used stores are deleted after a build
MAX_CACHE_BYTES = 24 * 2**30


def _code_version() -> str:
    import PIL

    return f"decode{DECODE_VERSION}-pillow{PIL.__version__}"  # Pillow's resize kernels may change


def content_key(records: Sequence[Record], height: int, width: int) -> str:
    """Hash of every image's bytes (in order), the input size and the code version."""
    h = hashlib.sha1(f"{_code_version()}\n{height}x{width}\n{len(records)}\n".encode())
    for i, r in enumerate(records):
        try:
            data = Path(r.path).read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read image {r.path}: {exc.strerror} (expected a readable image file)") from None
        h.update(f"{i}\t{len(data)}\n".encode())
        h.update(data)
    return h.hexdigest()[:24]


def _crc(array: np.ndarray) -> int:
    flat = array.reshape(-1)
    crc = 0
    for s in range(0, flat.size, _CHUNK):
        crc = zlib.crc32(memoryview(np.ascontiguousarray(flat[s : s + _CHUNK])), crc)
    return crc


@dataclass
class DecodedStore:
    """A uint8 [N, H, W, 3] array of resized images and how it was obtained (facts for the run record)."""

    images: np.ndarray  # memory-mapped (read-only) or in memory
    key: str
    path: Path | None
    status: str  # "hit", "built", "rebuilt (<why>)", "memory"
    seconds: float  # key + verify, or key + decode + write

    def __len__(self) -> int:
        return self.images.shape[0]

    def facts(self) -> dict:
        return {"input_store": "uint8-decoded", "key": self.key, "status": self.status,
                "seconds": round(self.seconds, 3), "path": str(self.path) if self.path else None}


class _Decode(torch.utils.data.Dataset):
    def __init__(self, records: Sequence[Record], height: int, width: int):
        self.records, self.height, self.width = records, height, width

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.asarray(load_image(self.records[i].path, self.height, self.width), dtype=np.uint8)


def _decode_into(out: np.ndarray, records: Sequence[Record], height: int, width: int, num_workers: int) -> int:
    """Decode every record into `out`, returning the CRC-32 of what was written (in order)."""
    loader = torch.utils.data.DataLoader(_Decode(records, height, width), batch_size=256, num_workers=num_workers,
                                         collate_fn=np.stack)
    crc, s = 0, 0
    for batch in loader:
        out[s : s + len(batch)] = batch
        crc = zlib.crc32(memoryview(np.ascontiguousarray(batch)), crc)
        s += len(batch)
    return crc


def _verify(npy: Path, meta_path: Path, key: str, shape: tuple[int, ...]) -> tuple[np.ndarray | None, str]:
    """(the memory-mapped store, "") when every check passes, else (None, why it was not trusted)."""
    if not npy.is_file() and not meta_path.is_file():
        return None, "missing"
    if not npy.is_file() or not meta_path.is_file():
        return None, "incomplete"
    try:
        meta = json.loads(meta_path.read_text())
        arr = np.load(npy, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        return None, f"unreadable: {exc}"
    if meta.get("key") != key or meta.get("version") != _code_version():
        return None, "key mismatch"
    if arr.dtype != np.uint8 or tuple(arr.shape) != shape or list(shape) != meta.get("shape"):
        return None, f"shape {tuple(arr.shape)} {arr.dtype}, expected {shape} uint8"
    if _crc(arr) != meta.get("crc32"):
        return None, "checksum mismatch"
    return arr, ""


def decoded_store(
    records: Sequence[Record],
    height: int,
    width: int,
    *,
    cache_dir: str | Path | None = None,
    num_workers: int = 0,
) -> DecodedStore:
    """The records' images as a uint8 store, from `cache_dir/decoded/` when a valid one exists.

    cache_dir=None uses the cache root (AOSTBENCH_CACHE); cache_dir=False decodes into
    memory for this call only. Writes are atomic (a unique temporary name, then a rename),
    so processes building the same store at once each end with a complete one.
    """
    t0 = time.perf_counter()
    records = list(records)
    if not records:
        raise ValueError("no images to decode: the record list is empty")
    shape = (len(records), height, width, 3)
    if cache_dir is False:
        arr = np.empty(shape, np.uint8)
        _decode_into(arr, records, height, width, num_workers)
        return DecodedStore(arr, "", None, "memory", time.perf_counter() - t0)
    if cache_dir is None:
        from benchmark.paths import cache_root

        cache_dir = cache_root()
    folder = Path(cache_dir) / "decoded"
    key = content_key(records, height, width)
    npy, meta_path = folder / f"{key}.npy", folder / f"{key}.json"
    arr, why = _verify(npy, meta_path, key, shape)
    if arr is not None:
        os.utime(npy)  # recently used: the last to be pruned
        return DecodedStore(arr, key, npy, "hit", time.perf_counter() - t0)

    folder.mkdir(parents=True, exist_ok=True)
    tag = f".{os.getpid()}.{time.monotonic_ns()}.tmp"
    tmp_npy, tmp_meta = npy.with_name(npy.name + tag), meta_path.with_name(meta_path.name + tag)
    try:
        out = np.lib.format.open_memmap(tmp_npy, mode="w+", dtype=np.uint8, shape=shape)
        crc = _decode_into(out, records, height, width, num_workers)
        out.flush()
        del out
        tmp_meta.write_text(json.dumps({"key": key, "version": _code_version(), "shape": list(shape), "crc32": crc,
                                        "first_image": records[0].path}))
        tmp_npy.replace(npy)
        tmp_meta.replace(meta_path)
    finally:
        for p in (tmp_npy, tmp_meta):
            p.unlink(missing_ok=True)
    arr = np.load(npy, mmap_mode="r", allow_pickle=False)
    prune(folder, keep=npy)
    status = "built" if why == "missing" else f"rebuilt ({why})"
    return DecodedStore(arr, key, npy, status, time.perf_counter() - t0)


def prune(folder: Path, keep: Path, max_bytes: int | None = None) -> list[Path]:
    """Delete the least recently used stores (never `keep`) until the folder holds at most max_bytes."""
    limit = MAX_CACHE_BYTES if max_bytes is None else max_bytes
    stores = []
    for p in folder.glob("*.npy"):
        try:
            st = p.stat()
        except OSError:  # another process pruned it
            continue
        stores.append((st.st_mtime, st.st_size, p))
    total, removed = sum(size for _, size, _ in stores), []
    for _, size, p in sorted(stores):
        if total <= limit:
            break
        if p == keep:
            continue
        p.unlink(missing_ok=True)  # a reader that has it mapped keeps its pages until it closes
        p.with_suffix(".json").unlink(missing_ok=True)
        total -= size
        removed.append(p)
    return removed


# --- batched augmentation -------------------------------------------------------------------------


def normalize_batch(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B, H, W, 3] -> float [B, 3, H, W] normalised with ImageNet statistics (as to_tensor + normalize)."""
    x = images.permute(0, 3, 1, 2).contiguous().to(torch.float32).div(255)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)


def augment_batch(images: torch.Tensor, flips: torch.Tensor | None, offsets: torch.Tensor | None = None,
                  pad: int = 0) -> torch.Tensor:
    """uint8 [B, H, W, 3]: mirror where `flips`, zero-pad by `pad` and crop H x W at `offsets` [B, 2] (y, x)."""
    x = images
    if flips is not None and bool(flips.any()):
        x = torch.where(flips.view(-1, 1, 1, 1), x.flip(2), x)
    if pad > 0:
        b, h, w, _ = x.shape
        x = torch.nn.functional.pad(x, (0, 0, pad, pad, pad, pad))  # NHWC: channels, width, height
        oy, ox = offsets[:, 0].to(x.device), offsets[:, 1].to(x.device)
        iy = (oy.view(-1, 1) + torch.arange(h, device=x.device)).view(b, h, 1)
        ix = (ox.view(-1, 1) + torch.arange(w, device=x.device)).view(b, 1, w)
        x = x[torch.arange(b, device=x.device).view(b, 1, 1), iy, ix]
    return normalize_batch(x)


class DecodedTrainBatches:
    """Training batches from a decoded store: the same order, flips and crops as ReidImages + DataLoader.

    `dataset` (a ReidImages over the same records) owns labels and the seeded
    per-epoch draws; `sampler` the order. Images are gathered as uint8 and
    augmented on `device`; on CUDA the whole store is moved to the GPU once
    when it takes under a quarter of the free memory.
    """

    def __init__(self, store: DecodedStore, dataset: ReidImages, sampler, batch_size: int, drop_last: bool,
                 device: torch.device):
        self.store, self.dataset, self.sampler = store, dataset, sampler
        self.batch_size, self.drop_last, self.device = batch_size, drop_last, device
        self.labels = torch.as_tensor(dataset.labels, dtype=torch.long)
        self.on_device = None
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            if store.images.nbytes < free // 4:
                self.on_device = torch.from_numpy(np.ascontiguousarray(store.images)).to(device)
        self.resident = "device" if self.on_device is not None else "host"

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _gather(self, idx: torch.Tensor) -> torch.Tensor:
        if self.on_device is not None:
            return self.on_device[idx.to(self.device)]
        u8 = torch.from_numpy(self.store.images[idx.numpy()])  # fancy indexing copies out of the memmap
        if self.device.type == "cuda":
            return u8.pin_memory().to(self.device, non_blocking=True)
        return u8

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.as_tensor(list(iter(self.sampler)), dtype=torch.long)
        ds = self.dataset
        for s in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[s : s + self.batch_size]
            flips = ds.flips_of(idx).to(self.device) if ds.flip > 0 else None
            offsets = ds.offsets_of(idx) if ds.pad > 0 else None
            images = augment_batch(self._gather(idx), flips, offsets, ds.pad)
            yield images.contiguous(memory_format=torch.channels_last), self.labels[idx].to(self.device, non_blocking=True)


class DecodedEvalImages(torch.utils.data.Dataset):
    """Items are uint8 [H, W, 3] tensors of the store; `normalize_batch` finishes them batch-wise on the device."""

    def __init__(self, store: DecodedStore):
        self.store = store

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(np.array(self.store.images[i]))


# --- the training feed ------------------------------------------------------------------------------

PIPELINES = ("decoded", "jpeg")  # decode once + batched augmentation | decode every image every epoch


class _JpegBatches:
    """The reference path: ReidImages through a DataLoader, batches moved to the device."""

    def __init__(self, loader, device: torch.device):
        self.loader, self.device = loader, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for images, targets, _camids, _idx in self.loader:
            images = images.to(self.device, non_blocking=True, memory_format=torch.channels_last)
            yield images, targets.to(self.device, non_blocking=True)


def train_feed(dataset: ReidImages, sampler, batch_size: int, drop_last: bool, device: torch.device, *,
               pipeline: str = "decoded", cache_dir: str | Path | bool | None = None,
               num_workers: int = 0) -> tuple[object, dict]:
    """(iterable of (images, targets) on `device`, facts about the input pipeline) for one training run.

    Call `dataset.set_epoch` and `sampler.set_epoch` before each pass, as with a DataLoader.
    """
    if pipeline not in PIPELINES:
        raise ValueError(f"unknown input pipeline {pipeline!r}; expected one of {', '.join(PIPELINES)}")
    if pipeline == "jpeg":
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last,
                                             num_workers=num_workers, pin_memory=device.type == "cuda")
        return _JpegBatches(loader, device), {"input_pipeline": "jpeg", "decode_workers": num_workers}
    store = decoded_store(dataset.records, dataset.height, dataset.width, cache_dir=cache_dir, num_workers=num_workers)
    feed = DecodedTrainBatches(store, dataset, sampler, batch_size, drop_last, device)
    return feed, {"input_pipeline": "decoded", **store.facts(), "resident": feed.resident,
                  "decode_workers": num_workers}
