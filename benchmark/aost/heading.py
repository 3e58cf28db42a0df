"""The heading classifier of the `people` AO method: which way a person faces, in four quadrants.

People's multi-head PartNet reads viewpoint from coarse pixels and tells the
quadrants apart poorly (its 4x4 confusion has 0.31-0.34 on the diagonal). A
small conv net of its own, trained on the same rendered source images, the
same random cameras and mirrored images with the mirrored quadrant, learns
the cues a heading leaves at 64x32 (the body's width, face or hair, the lean)
and reaches about 0.6 calibration accuracy on the quadrants of footage-like renders (PERFORMANCE.md). It
starts from PartNet's first layers (start_from). Its BBSE estimate gives each quadrant its mass; the twelve
viewpoint sectors share it out (people.viewpoint_shift).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

QUADRANT_NAMES = ("front", "right profile", "back", "left profile")  # centred on 0, 90, 180, 270 deg
MIRROR_QUADRANT = torch.tensor([0, 3, 2, 1])  # a mirrored image: left and right profile swap
WIDTHS = (16, 32, 64)
EPOCHS = 14
BATCH = 64
LR = 3e-3


def quadrant_of(codes: np.ndarray) -> np.ndarray:
    """0-based quadrant of 1-based FineGPR viewpoint codes (code k is (90 + 10 (k - 1)) mod 360 deg)."""
    angle = (90 + 10 * (np.asarray(codes) - 1)) % 360
    return ((angle + 45) % 360) // 90


class HeadingNet(nn.Module):
    """Three conv stages, averaged over a 4 x 2 grid (heights x left/right halves), one linear layer."""

    def __init__(self):
        super().__init__()
        layers, c = [], 3
        for w in WIDTHS:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c = w
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c * 8, len(QUADRANT_NAMES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.adaptive_avg_pool2d(self.body(x), (4, 2)).flatten(1))


def start_from(net: HeadingNet, body: nn.Module) -> int:
    """Copy into net's body the layers of `body` at the same place with the same shapes (PartNet's first
    five conv + batch-norm layers); returns how many tensors were copied.

    From random weights the heading net sat at chance for four to six of its epochs and, on some seeds,
    ended far worse (calibration accuracy 0.46 against 0.58-0.62); from the attribute net's layers, which
    already see people's outlines and clothes, it starts learning at once (PERFORMANCE.md)."""
    own = net.body.state_dict()
    theirs = {k: v for k, v in body.state_dict().items() if k in own and own[k].shape == v.shape}
    net.body.load_state_dict(theirs, strict=False)
    return len(theirs)


def train_heading(images: torch.Tensor, codes: np.ndarray, seed: int, device: str = "cpu",
                  start: nn.Module | None = None) -> tuple[HeadingNet, int]:
    """Fit HeadingNet on uint8 images and their 1-based viewpoint codes, a random camera per image;
    `start`: a trained body to take the first layers from (start_from). Returns the net and how many
    tensors it took from `start`."""
    from benchmark.aost.people import camera_batches, descend

    torch.manual_seed(seed + 11)
    gen = torch.Generator().manual_seed(seed + 12)
    net = HeadingNet()
    copied = start_from(net, start) if start is not None else 0
    net = net.to(device, memory_format=torch.channels_last)  # measured: about a quarter faster on the CPU
    labels = torch.as_tensor(quadrant_of(codes), dtype=torch.long)
    opt = torch.optim.Adam(net.parameters(), lr=LR, weight_decay=1e-4)
    per_epoch = max(1, -(-len(images) // BATCH))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=EPOCHS * per_epoch, pct_start=0.2)
    net.train()
    for idx, x, flip in camera_batches(images, EPOCHS, BATCH, gen):
        y = torch.where(flip, MIRROR_QUADRANT[labels[idx]], labels[idx])
        descend(opt, sched, F.cross_entropy(net(x.to(device, memory_format=torch.channels_last)), y.to(device)))
    return net.cpu().to(memory_format=torch.contiguous_format).eval(), copied


@torch.no_grad()
def predict_heading(net: HeadingNet, x: torch.Tensor, batch: int = 256, device: str = "cpu") -> np.ndarray:
    """Softmax over the quadrants of normalised images, averaged with their mirror images' (profiles
    swapped back): [n, 4]. A person and their mirror image are the same evidence, so the estimate does
    not depend on a left/right bias the net picked up in training."""
    net.to(device)
    out = []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch].to(device)
        p, mirrored = F.softmax(net(xb), 1), F.softmax(net(xb.flip(3)), 1)
        out.append((0.5 * (p + mirrored[:, MIRROR_QUADRANT.to(device)])).cpu())
    return torch.cat(out).double().numpy()
