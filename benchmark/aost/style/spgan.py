"""Training SPGAN / CycleGAN once between the source images and a style bank.

One generator pair is trained (source <-> bank) and the source->target generator
is saved; any selection is then translated with it (the paper's "train one
generator, translate at test time"). Every epoch ends with an atomic
checkpoint (nets, optimisers, image pools, history); calling fit again on the
same out_dir resumes from it, and with the same seed on CPU the resumed run is
bit-identical to an uninterrupted one (the data order of each epoch is derived
from (seed, epoch), not from a running RNG).

Settings as published: Adam lr 2e-4, beta1 0.5, image pools of 50, LSGAN,
loss weights cycle 10 / identity 5 / contrastive 2 (see losses.py); the
learning rate stays constant (resuming with more epochs never rewrites the past).
"""
from __future__ import annotations

import hashlib
import itertools
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .base import STYLE_FILE, StyleModel, write_json_atomic
from .images import from_unit, load_resized, to_unit
from .losses import CYCLEGAN_WEIGHTS, SPGAN_WEIGHTS, discriminator_objective, generator_objective, sianet_pairs_loss
from .networks import PatchDiscriminator, ResnetGenerator, SiaNet, init_weights
from .pool import ImagePool

CHECKPOINT = "checkpoint.pt"
GENERATOR = "generator.pt"
PRELOAD_BYTES = 2 * 1024**3  # decode once and keep in memory below this; stream from disk above


@dataclass(frozen=True)
class GanConfig:
    """Everything that must match for a checkpoint to be resumed."""

    method: str
    size: tuple[int, int]
    res_blocks: int
    width: int
    seed: int
    batch_size: int
    pool_size: int
    lr: float
    beta1: float
    source_fingerprint: str
    bank_fingerprint: str


def _fingerprint(paths: Sequence[str]) -> str:
    return hashlib.sha1("\n".join(paths).encode()).hexdigest()[:16]


def select_images(paths: Sequence[str], max_images: int | None, seed: int) -> list[str]:
    """All paths, or a seeded subset of max_images (kept in input order)."""
    paths = [str(p) for p in paths]
    if max_images is None or len(paths) <= max_images:
        return paths
    keep = np.sort(np.random.default_rng(seed).choice(len(paths), size=max_images, replace=False))
    return [paths[i] for i in keep]


class _Images(torch.utils.data.Dataset):
    """uint8 (3, h, w) tensors at the model size; preloaded when they fit in memory."""

    def __init__(self, paths: list[str], size: tuple[int, int]):
        self.paths, self.size = paths, size
        self.cache: torch.Tensor | None = None
        if len(paths) * size[0] * size[1] * 3 <= PRELOAD_BYTES:
            self.cache = torch.stack([self._read(i) for i in range(len(paths))])

    def _read(self, i: int) -> torch.Tensor:
        return torch.from_numpy(load_resized(self.paths[i], self.size)).permute(2, 0, 1).contiguous()

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.cache[i] if self.cache is not None else self._read(i)

    def batch(self, idx: list[int]) -> torch.Tensor:
        return torch.stack([self[i] for i in idx])


def _as_input(u8: torch.Tensor, flip: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 batch -> float in [-1, 1] on device, with the epoch's random horizontal flips."""
    x = u8.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)
    if flip.any():
        x[flip.to(device)] = x[flip.to(device)].flip(-1)
    return x


def _requires_grad(nets, flag: bool) -> None:
    for n in nets:
        if n is not None:
            for p in n.parameters():
                p.requires_grad_(flag)


class Nets:
    """The trainable state: G (s->t), F (t->s), D_s, D_t, SiaNet and their optimisers."""

    def __init__(self, cfg: GanConfig, device: torch.device):
        torch.manual_seed(cfg.seed)
        self.G = init_weights(ResnetGenerator(cfg.res_blocks, cfg.width)).to(device)
        self.F = init_weights(ResnetGenerator(cfg.res_blocks, cfg.width)).to(device)
        self.D_s = init_weights(PatchDiscriminator(cfg.width)).to(device)
        self.D_t = init_weights(PatchDiscriminator(cfg.width)).to(device)
        self.sia = init_weights(SiaNet(cfg.width)).to(device) if cfg.method == "spgan" else None
        betas = (cfg.beta1, 0.999)
        self.opt_g = torch.optim.Adam(itertools.chain(self.G.parameters(), self.F.parameters()), cfg.lr, betas=betas)
        self.opt_d = torch.optim.Adam(itertools.chain(self.D_s.parameters(), self.D_t.parameters()), cfg.lr, betas=betas)
        self.opt_sia = torch.optim.Adam(self.sia.parameters(), cfg.lr, betas=betas) if self.sia is not None else None
        self.pool_s = ImagePool(cfg.pool_size, seed=cfg.seed + 1)
        self.pool_t = ImagePool(cfg.pool_size, seed=cfg.seed + 2)

    def modules(self) -> dict:
        m = {"G": self.G, "F": self.F, "D_s": self.D_s, "D_t": self.D_t, "opt_g": self.opt_g, "opt_d": self.opt_d}
        if self.sia is not None:
            m.update(sia=self.sia, opt_sia=self.opt_sia)
        return m

    def state_dict(self) -> dict:
        s = {k: v.state_dict() for k, v in self.modules().items()}
        s["pool_s"], s["pool_t"] = self.pool_s.state_dict(), self.pool_t.state_dict()
        return s

    def load_state_dict(self, s: dict, device: torch.device) -> None:
        for k, v in self.modules().items():
            v.load_state_dict(s[k])
        self.pool_s.load_state_dict(s["pool_s"], device)
        self.pool_t.load_state_dict(s["pool_t"], device)


def train_step(nets: Nets, x_s: torch.Tensor, x_t: torch.Tensor, cfg: GanConfig, amp: bool) -> dict[str, float]:
    """One SPGAN/CycleGAN iteration: generators, then discriminators, then SiaNet."""
    w = SPGAN_WEIGHTS if cfg.method == "spgan" else CYCLEGAN_WEIGHTS
    dev = x_s.device.type
    autocast = torch.autocast(device_type=dev, dtype=torch.bfloat16, enabled=amp and dev == "cuda")
    # generators (D and SiaNet frozen so their grads are not touched)
    _requires_grad([nets.D_s, nets.D_t, nets.sia], False)
    nets.opt_g.zero_grad(set_to_none=True)
    with autocast:
        loss_g, terms, fakes = generator_objective(nets.G, nets.F, nets.D_s, nets.D_t, nets.sia, x_s, x_t, w)
    loss_g.backward()
    nets.opt_g.step()
    # discriminators on real images vs the pooled history of fakes
    _requires_grad([nets.D_s, nets.D_t], True)
    nets.opt_d.zero_grad(set_to_none=True)
    with autocast:
        loss_d = discriminator_objective(nets.D_t, x_t, nets.pool_t.query(fakes["fake_t"])) + discriminator_objective(
            nets.D_s, x_s, nets.pool_s.query(fakes["fake_s"])
        )
    loss_d.backward()
    nets.opt_d.step()
    out = {"G": loss_g.item(), "D": loss_d.item(), **{k: v.item() for k, v in terms.items()}}
    # SiaNet learns the metric on the current (detached) pairs
    if nets.sia is not None:
        _requires_grad([nets.sia], True)
        nets.opt_sia.zero_grad(set_to_none=True)
        with autocast:
            loss_sia = sianet_pairs_loss(nets.sia, x_s, x_t, fakes["fake_t"].detach(), fakes["fake_s"].detach(), w.margin)
        loss_sia.backward()
        nets.opt_sia.step()
        out["sia"] = loss_sia.item()
    return out


def _epoch_order(cfg: GanConfig, epoch: int, n_s: int, n_t: int):
    """The epoch's source order, paired bank indices and flips, from (seed, epoch) alone."""
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
    perm_s = torch.randperm(n_s, generator=g)
    reps = math.ceil(n_s / n_t)
    perm_t = torch.cat([torch.randperm(n_t, generator=g) for _ in range(reps)])[:n_s]
    flips = torch.rand(2, n_s, generator=g) < 0.5
    return perm_s.tolist(), perm_t.tolist(), flips


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def fit_gan(
    method: str, source_paths: Sequence[str], bank_paths: Sequence[str], out_dir: Path, *,
    size: tuple[int, int], res_blocks: int, epochs: int, seed: int, device: str,
    max_images: int | None, progress: bool, width: int = 64, batch_size: int = 1, amp: bool = False,
    num_workers: int | None = None,
) -> "GanStyle":
    """Train (or resume) SPGAN/CycleGAN in out_dir and return the fitted model."""
    h, w = size
    if h % 4 or w % 4 or h < 24 or w < 24:
        raise ValueError(f"SPGAN/CycleGAN size must be at least 24x24 with H and W divisible by 4, got {h}x{w}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dev = torch.device(device)
    src = select_images(source_paths, max_images, seed)
    bank = select_images(bank_paths, max_images, seed + 1)
    cfg = GanConfig(method, (h, w), res_blocks, width, seed, batch_size, 50, 2e-4, 0.5, _fingerprint(src), _fingerprint(bank))
    nets = Nets(cfg, dev)
    start, history, seconds = 0, [], 0.0
    ckpt_path = out_dir / CHECKPOINT
    if ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location=dev, weights_only=True)
        _check_resumable(ckpt["config"], cfg, ckpt_path)
        nets.load_state_dict(ckpt["state"], dev)
        start, history, seconds = ckpt["epoch"], ckpt["history"], ckpt["train_seconds"]
    if start < epochs:
        data_s, data_t = _Images(src, cfg.size), _Images(bank, cfg.size)
        seconds += _train_epochs(nets, cfg, data_s, data_t, start, epochs, history, seconds, ckpt_path, dev, amp, progress, num_workers)
    done = max(start, epochs)
    info = {
        "method": method, "size": [h, w], "res_blocks": res_blocks, "width": width, "epochs": done,
        "train_seconds": round(seconds, 3), "images": {"source": len(src), "bank": len(bank)},
        "device": str(dev), "seed": seed, "batch_size": batch_size, "amp": bool(amp and dev.type == "cuda"),
        "resumed_from_epoch": start if start else None, "history": history,
        "weights": {"cycle": 10.0, "identity": 5.0, "contrastive": 2.0 if method == "spgan" else 0.0, "margin": 2.0},
        "optimizer": {"name": "adam", "lr": cfg.lr, "beta1": cfg.beta1, "pool": cfg.pool_size},
        "torch": torch.__version__,
    }
    _atomic_save({k: v.detach().cpu() for k, v in nets.G.state_dict().items()}, out_dir / GENERATOR)
    write_json_atomic(out_dir / STYLE_FILE, info)
    return GanStyle(info, out_dir, device=str(dev))


def _check_resumable(saved: dict, cfg: GanConfig, path: Path) -> None:
    now = asdict(cfg)
    now["size"] = list(now["size"])
    saved = dict(saved, size=list(saved["size"]))
    diff = [f"{k}: checkpoint {saved.get(k)!r}, now {v!r}" for k, v in now.items() if saved.get(k) != v]
    if diff:
        raise ValueError(
            f"cannot resume {path}: it was trained with other settings ({'; '.join(diff)}). "
            "Use a new out_dir, or delete that folder to retrain."
        )


def _train_epochs(nets, cfg, data_s, data_t, start, epochs, history, seconds_before, ckpt_path, dev, amp, progress, num_workers):
    """Run epochs [start, epochs), checkpointing after each; returns the seconds spent."""
    from benchmark import progress as prog

    bs = cfg.batch_size
    iters = math.ceil(len(data_s) / bs)
    workers = num_workers if num_workers is not None else (0 if dev.type == "cpu" or data_s.cache is not None else 4)
    spent = 0.0
    n = len(data_s)
    with prog.stage(f"style fit ({cfg.method})", n * epochs, enabled=progress, done=n * start) as bar:
        for epoch in range(start, epochs):
            t0 = time.perf_counter()
            perm_s, perm_t, flips = _epoch_order(cfg, epoch, len(data_s), len(data_t))
            batches = [list(range(i * bs, min((i + 1) * bs, len(perm_s)))) for i in range(iters)]
            loader = _loader(data_s, data_t, perm_s, perm_t, batches, workers)
            sums: dict[str, float] = {}
            for pos, (u_s, u_t) in zip(batches, loader):
                idx = torch.tensor(pos)
                x_s, x_t = _as_input(u_s, flips[0, idx], dev), _as_input(u_t, flips[1, idx], dev)
                losses = train_step(nets, x_s, x_t, cfg, amp)
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.update(len(pos), epoch=f"{epoch + 1}/{epochs}", **{k: float(v) for k, v in losses.items() if k in ("G", "D")})
            dt = time.perf_counter() - t0
            spent += dt
            prog.note(f"style fit ({cfg.method}) epoch {epoch + 1}/{epochs}: "
                      + " ".join(f"{k} {v / iters:.4g}" for k, v in sums.items()) + f", {dt:.1f} s")
            history.append({"epoch": epoch + 1, "seconds": round(dt, 3), "images_per_s": round(len(data_s) / dt, 3),
                            **{k: round(v / iters, 5) for k, v in sums.items()}})
            _atomic_save({"config": asdict(cfg), "state": nets.state_dict(), "epoch": epoch + 1,
                          "history": history, "train_seconds": seconds_before + spent}, ckpt_path)
    return spent


def _loader(data_s, data_t, perm_s, perm_t, batches, workers):
    """Pairs of uint8 batches (source, bank) in the epoch's order."""
    if workers == 0:
        return ((data_s.batch([perm_s[i] for i in b]), data_t.batch([perm_t[i] for i in b])) for b in batches)
    pairs = _PairedBatches(data_s, data_t, perm_s, perm_t, batches)
    return torch.utils.data.DataLoader(pairs, batch_size=None, shuffle=False, num_workers=workers, pin_memory=True)


class _PairedBatches(torch.utils.data.Dataset):
    def __init__(self, data_s, data_t, perm_s, perm_t, batches):
        self.data_s, self.data_t, self.perm_s, self.perm_t, self.batches = data_s, data_t, perm_s, perm_t, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int):
        b = self.batches[i]
        return self.data_s.batch([self.perm_s[j] for j in b]), self.data_t.batch([self.perm_t[j] for j in b])


class GanStyle(StyleModel):
    """A trained SPGAN/CycleGAN: translates with the saved source->target generator."""

    def __init__(self, info: dict, out_dir: Path, device: str | None = None):
        super().__init__(info, out_dir)
        self.method = info["method"]
        if device is None:
            device = info.get("device", "cpu") if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.G = ResnetGenerator(int(info["res_blocks"]), int(info.get("width", 64)))
        gen = Path(out_dir) / GENERATOR
        if not gen.is_file():
            raise FileNotFoundError(f"missing generator weights {gen} (written by fit_style); refit the style model")
        self.G.load_state_dict(torch.load(gen, map_location="cpu", weights_only=True))
        self.G.to(self.device).eval()

    @torch.no_grad()
    def _translate_batch(self, imgs: list[np.ndarray]) -> list[np.ndarray]:
        x = torch.from_numpy(to_unit(imgs)).to(self.device) * 2.0 - 1.0
        y = (self.G(x).float().clamp(-1, 1) + 1.0) / 2.0
        return from_unit(y.cpu().numpy())
