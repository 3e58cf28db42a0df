"""The SPGAN / CycleGAN networks.

- ResnetGenerator: CycleGAN's ResNet generator (Zhu et al. 2017, Johnson et al.
  2016): c7s1-w, d2w, d4w, n x R4w, u2w, uw, c7s1-3, tanh; instance norm and
  reflection padding. The paper profile uses n = 9 and w = 64.
- PatchDiscriminator: the 70x70 PatchGAN: C64 (no norm) - C128 - C256 - C512
  (stride 1) - 1-channel conv, 4x4 kernels, LeakyReLU 0.2, instance norm.
- SiaNet: SPGAN's Siamese metric net (Deng et al. 2018): four [4x4 conv stride 2,
  LeakyReLU, 2x2 max-pool] stages and one FC to a 128-d L2-normalised embedding.
  Its input is resized to 256x128 (the paper's crop size) so the published layer
  stack works at every model size; the last pool is global so 256x128 and
  256x256 both end at one 512-d vector.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

SIANET_INPUT = (256, 128)


def _norm(ch: int) -> nn.Module:
    return nn.InstanceNorm2d(ch, affine=False, track_running_stats=False)


class ResidualBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), _norm(ch), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), _norm(ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Image-to-image generator; input and output in [-1, 1], H and W divisible by 4."""

    def __init__(self, res_blocks: int = 9, width: int = 64):
        super().__init__()
        w = width
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(3, w, 7), _norm(w), nn.ReLU(True)]
        for mult in (1, 2):  # two stride-2 downsamplings
            layers += [nn.Conv2d(w * mult, w * mult * 2, 3, stride=2, padding=1), _norm(w * mult * 2), nn.ReLU(True)]
        layers += [ResidualBlock(w * 4) for _ in range(res_blocks)]
        for mult in (4, 2):  # two stride-2 upsamplings back to the input size
            layers += [
                nn.ConvTranspose2d(w * mult, w * mult // 2, 3, stride=2, padding=1, output_padding=1),
                _norm(w * mult // 2), nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, 3, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.res_blocks = res_blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(f"generator input must have H and W divisible by 4, got {tuple(x.shape[-2:])}")
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN: one real/fake score per overlapping 70x70 patch (H and W >= 24)."""

    def __init__(self, width: int = 64, norm: bool = True):
        super().__init__()
        w = width
        n = _norm if norm else (lambda ch: nn.Identity())
        self.net = nn.Sequential(
            nn.Conv2d(3, w, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, w * 2, 4, stride=2, padding=1), n(w * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w * 2, w * 4, 4, stride=2, padding=1), n(w * 4), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w * 4, w * 8, 4, stride=1, padding=1), n(w * 8), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w * 8, 1, 4, stride=1, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def receptive_field(module: nn.Module) -> int:
    """Receptive field (pixels) of a plain conv/pool stack, from its layer list."""
    rf, jump = 1, 1
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
            k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
            s = m.stride if isinstance(m.stride, int) else m.stride[0]
            rf += (k - 1) * jump
            jump *= s
    return rf


class SiaNet(nn.Module):
    """SPGAN's Siamese metric net: image -> unit-norm 128-d embedding."""

    def __init__(self, width: int = 64, dim: int = 128):
        super().__init__()
        w = width
        chans = [3, w, w * 2, w * 4, w * 8]
        stages: list[nn.Module] = []
        for i in range(4):
            pool = nn.MaxPool2d(2, 2) if i < 3 else nn.AdaptiveMaxPool2d(1)
            stages += [nn.Conv2d(chans[i], chans[i + 1], 4, stride=2, padding=1), nn.LeakyReLU(0.2, True), pool]
        self.features = nn.Sequential(*stages)
        self.fc = nn.Linear(w * 8, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != SIANET_INPUT:
            x = F.interpolate(x, size=SIANET_INPUT, mode="bilinear", align_corners=False)
        return F.normalize(self.fc(self.features(x).flatten(1)), dim=1)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """CycleGAN's init: conv/linear weights ~ N(0, 0.02), biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net
