"""The heading classifier of the `people` AO method: which way a person faces, in two sets of four quadrants.

People's multi-head PartNet reads viewpoint from coarse pixels and tells the
quadrants apart poorly (its 4x4 confusion has 0.31-0.34 on the diagonal). A
small conv net of its own, trained on the same rendered source images, the
same random cameras and mirrored images with the mirrored quadrant, learns
the cues a heading leaves at 64x32 (the body's width, face or hair, the lean)
and reaches about 0.6 calibration accuracy on the quadrants of footage-like renders (PERFORMANCE.md). It
starts from PartNet's first layers (start_from).

It has two heads over the same features: the axis quadrants (front, right profile, back, left profile)
and the diagonal ones, turned 45 degrees. A heading on one set's boundary is in the middle of a quadrant
of the other: each set reads best the headings the other reads worst. The axis BBSE estimate gives each
quadrant its mass, the twelve viewpoint sectors share it out (people.viewpoint_shift), and where the
target's headings fall in the middle of the diagonal quadrants (that estimate the sharper, and agreeing
with the axis one: diagonals_decide) the diagonal estimate moves the mass inside the axis quadrants
(refine_with_diagonals).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmark.attributes import BY_NAME

QUADRANT_NAMES = ("front", "right profile", "back", "left profile")  # centred on 0, 90, 180, 270 deg
DIAGONAL_NAMES = ("front-right", "back-right", "back-left", "front-left")  # centred on 45, 135, 225, 315 deg
MIRROR_QUADRANT = torch.tensor([0, 3, 2, 1])  # a mirrored image (heading a -> -a): left and right profile swap
MIRROR_DIAGONAL = torch.tensor([3, 2, 1, 0])  # 45 <-> 315, 135 <-> 225
AXES, DIAGONALS = slice(0, 4), slice(4, 8)  # the two heads' columns in the net's output
WIDTHS = (16, 32, 64)
EPOCHS = 14
BATCH = 64
LR = 3e-3
DIAGONAL_PULL = 0.1  # towards the axis estimate's own shape, when the diagonals refine it (0.02-0.5 measured alike)
# the most TV between the axis masses and those the diagonal estimate implies (measured: 0.10-0.23 on the
# targets it helped; 0.45 where a diagonal head sure of the profiles' front halves sent viewpoint to 1.2)
DIAGONAL_AGREEMENT = 0.25


def _angle(codes: np.ndarray) -> np.ndarray:
    """Degrees of 1-based FineGPR viewpoint codes (code k is (90 + 10 (k - 1)) mod 360 deg)."""
    return (90 + 10 * (np.asarray(codes) - 1)) % 360


def quadrant_of(codes: np.ndarray) -> np.ndarray:
    """0-based axis quadrant of 1-based FineGPR viewpoint codes."""
    return ((_angle(codes) + 45) % 360) // 90


def diagonal_labels(codes: np.ndarray) -> np.ndarray:
    """[n, 4] diagonal quadrant of each code as a distribution: the codes at 0, 90, 180 and 270 deg lie on
    two quadrants' common edge and count half to each (so a mirror image keeps its label's mirror)."""
    angle = _angle(codes)
    on_edge = angle % 90 == 0
    y = np.zeros((len(angle), 4))
    y[np.arange(len(angle)), angle // 90] += np.where(on_edge, 0.5, 1.0)
    y[np.flatnonzero(on_edge), (angle[on_edge] // 90 - 1) % 4] += 0.5
    return y


class HeadingNet(nn.Module):
    """Three conv stages, averaged over a 4 x 2 grid (heights x left/right halves), one linear layer that
    gives the axis quadrants' logits (AXES) and the diagonal ones' (DIAGONALS)."""

    def __init__(self):
        super().__init__()
        layers, c = [], 3
        for w in WIDTHS:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c = w
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c * 8, len(QUADRANT_NAMES) + len(DIAGONAL_NAMES))

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
    """Fit HeadingNet on uint8 images and their 1-based viewpoint codes, a random camera per image, both
    heads at once; `start`: a trained body to take the first layers from (start_from). Returns the net
    and how many tensors it took from `start`."""
    from benchmark.aost.people import camera_batches, descend

    torch.manual_seed(seed + 11)
    gen = torch.Generator().manual_seed(seed + 12)
    net = HeadingNet()
    copied = start_from(net, start) if start is not None else 0
    net = net.to(device, memory_format=torch.channels_last)  # measured: about a quarter faster on the CPU
    axis = torch.as_tensor(quadrant_of(codes), dtype=torch.long)
    diagonal = torch.as_tensor(diagonal_labels(codes), dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr=LR, weight_decay=1e-4)
    per_epoch = max(1, -(-len(images) // BATCH))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=EPOCHS * per_epoch, pct_start=0.2)
    net.train()
    for idx, x, flip in camera_batches(images, EPOCHS, BATCH, gen):
        a = torch.where(flip, MIRROR_QUADRANT[axis[idx]], axis[idx])
        d = torch.where(flip.view(-1, 1), diagonal[idx][:, MIRROR_DIAGONAL], diagonal[idx])
        out = net(x.to(device, memory_format=torch.channels_last))
        loss = F.cross_entropy(out[:, AXES], a.to(device)) + F.cross_entropy(out[:, DIAGONALS], d.to(device))
        descend(opt, sched, loss)
    return net.cpu().to(memory_format=torch.contiguous_format).eval(), copied


@torch.no_grad()
def predict_heading(net: HeadingNet, x: torch.Tensor, batch: int = 256, device: str = "cpu") -> np.ndarray:
    """Per normalised image, the softmax over the axis quadrants (columns AXES) and over the diagonal ones
    (DIAGONALS), each averaged with the mirror image's (mirrored back): [n, 8]. A person and their mirror
    image are the same evidence, so the estimate does not depend on a left/right bias the net picked up
    in training."""
    net.to(device)
    back = torch.cat([MIRROR_QUADRANT, 4 + MIRROR_DIAGONAL]).to(device)
    out = []
    for i in range(0, len(x), batch):
        xb = x[i : i + batch].to(device)
        logits, mirrored = net(xb), net(xb.flip(3))[:, back]
        both = [0.5 * (F.softmax(logits[:, h], 1) + F.softmax(mirrored[:, h], 1)) for h in (AXES, DIAGONALS)]
        out.append(torch.cat(both, 1).cpu())
    return torch.cat(out).double().numpy()


def sharpness(q: np.ndarray) -> float:
    """sum q^2: 1 for one quadrant, 1/4 for even."""
    return float(np.square(q).sum())


# the axis quadrants' masses if every diagonal quadrant's mass sat in its middle: half to each neighbour
AXIS_OF_DIAGONAL = np.array([[0.5, 0, 0, 0.5], [0.5, 0.5, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0.5, 0.5]])


def diagonals_decide(axis: np.ndarray | None, diagonal: np.ndarray | None) -> bool:
    """Whether the target's headings lie nearer the diagonal quadrants' middles than the axis ones' (the
    diagonal estimate is the sharper) and both heads agree which axis quadrants share the mass."""
    if axis is None or diagonal is None or sharpness(diagonal) <= sharpness(axis):
        return False
    return 0.5 * float(np.abs(AXIS_OF_DIAGONAL @ diagonal - axis).sum()) <= DIAGONAL_AGREEMENT


CODES = np.arange(1, BY_NAME["viewpoint"].n + 1)
AXIS_OF_CODE = np.eye(4)[quadrant_of(CODES)]  # [36, 4]
DIAGONAL_OF_CODE = diagonal_labels(CODES)  # [36, 4]


def refine_with_diagonals(p: np.ndarray, axis: np.ndarray | None, diagonal: np.ndarray | None) -> np.ndarray:
    """Where the diagonal estimate decides (diagonals_decide), the 36-code viewpoint distribution nearest
    `p` whose axis and diagonal quadrant masses best match both estimates (least squares on the simplex);
    else `p`.

    Headings near the axis quadrants' edges (diagonals) give even-looking axis masses that cannot say on
    which side of the edge they lie; the diagonal head sees them in its quadrants' middles. Near the axes
    the diagonal head must tell a profile's slight front from its slight back, and there it erred
    (measured on profile targets: PERFORMANCE.md), so it is not used there, nor where the two heads
    disagree on which axis quadrants share the mass."""
    from benchmark.aost.people import label_shift

    if not diagonals_decide(axis, diagonal):
        return p
    system = np.vstack([AXIS_OF_CODE.T, DIAGONAL_OF_CODE.T])
    return label_shift(system, np.concatenate([axis, diagonal]), DIAGONAL_PULL, toward=p)
