"""Run profiles: the paper's settings and the small CPU ones, in one place.

A profile is recorded in full with every run (`asdict`), so two runs can be
compared only when their settings say they are comparable.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace


@dataclass(frozen=True)
class Profile:
    name: str
    # re-ID training (the paper's baseline: softmax CE, no bells and whistles)
    arch: str  # torchreid model name
    pretrained: bool  # ImageNet weights (read from disk, never downloaded)
    height: int
    width: int
    flip: float  # random horizontal flip probability
    batch_size: int
    lr: float
    lr_steps: tuple[int, ...]  # epochs at which lr is divided by 10
    epochs: int
    weight_decay: float = 5e-4
    # evaluation
    dist_metric: str = "euclidean"
    normalize_features: bool = False
    flip_test: bool = False
    # attribute optimisation
    ao_budget: int = 124_200  # images selected (FineGPR+AO / +AOST rows)
    ao_probe: int = 4_000  # probe images whose VGG distance trains the surrogate
    ao_target_images: int = 500  # unlabeled target images the distances compare against
    ao_vgg_weights: str = "imagenet"  # "imagenet" | "random" (seeded; recorded)
    ao_input: tuple[int, int] = (256, 128)
    pso_particles: int = 40
    pso_iters: int = 100
    ao_method: str = "gatys"  # how AO sees the target: benchmark.aost.methods.AO_METHODS
    # style transfer
    style: str = "spgan"  # "spgan" | "cyclegan" | "color" | "dat"
    style_size: tuple[int, int] = (256, 128)
    style_res_blocks: int = 9
    style_epochs: int = 5
    # FID
    fid_weights: str = "official"  # "official" pt_inception | "random" (fallback, marked)
    fid_dims: int = 2048
    fid_max_images: int = 5_000
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["lr_steps"] = list(self.lr_steps)
        d["ao_input"] = list(self.ao_input)
        d["style_size"] = list(self.style_size)
        return d

    def with_(self, **changes) -> "Profile":
        return replace(self, **changes)


PAPER = Profile(
    name="paper",
    arch="resnet50",
    pretrained=True,
    height=256,
    width=128,
    flip=0.5,
    batch_size=128,
    lr=3.5e-4,
    lr_steps=(40, 70),
    epochs=120,
)

CPU = Profile(
    name="cpu",
    arch="osnet_x0_25",
    pretrained=False,
    # 64x32 for 20 epochs rather than 128x64 for 4: about 2 min for 2,000 images on this
    # CPU, and the network converges (final loss ~0.1). At 12 epochs it was still learning
    # and when it left the initial plateau decided the result (the same AO selection, seed 0:
    # R1 25.7 or 34.3 depending only on the thread count). Over 8 seeds (1 thread): Random /
    # AO / AO+ST R1 22.6 / 36.8 / 36.0 (colour map version 4; PERFORMANCE.md).
    height=64,
    width=32,
    flip=0.5,
    batch_size=32,
    lr=3.5e-3,
    lr_steps=(15,),
    epochs=20,
    ao_budget=2_000,
    ao_probe=800,
    ao_target_images=200,
    ao_vgg_weights="random",
    ao_input=(64, 32),
    pso_particles=30,
    pso_iters=60,
    style="color",
    style_size=(128, 64),
    style_res_blocks=3,
    style_epochs=2,
    fid_weights="random",
    # pytorch-fid's 192-d block (after the second max-pool): a fraction of the full net's
    # cost on the CPU; marked as not comparable with published FID either way
    fid_dims=192,
    fid_max_images=500,
    # a GAN (--style spgan/cyclegan) at the published width runs at ~0.4 img/s on this CPU:
    # narrow and few images keep it to minutes (measured: width 16 ~1.8 img/s)
    extra={"style_width": 16, "style_max_images": 300},
)

SMOKE = Profile(
    name="smoke",
    arch="osnet_x0_25",
    pretrained=False,
    height=64,
    width=32,
    flip=0.5,
    batch_size=32,
    lr=3.5e-3,
    lr_steps=(),
    epochs=2,
    ao_budget=300,
    ao_probe=150,
    ao_target_images=50,
    ao_vgg_weights="random",
    ao_input=(64, 32),
    pso_particles=10,
    pso_iters=10,
    style="color",
    style_size=(64, 32),
    style_res_blocks=1,
    style_epochs=1,
    fid_weights="random",
    fid_dims=64,
    fid_max_images=200,
    extra={"style_width": 8, "style_max_images": 64},
)

PROFILES: dict[str, Profile] = {p.name: p for p in (PAPER, CPU, SMOKE)}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; available: {', '.join(PROFILES)}") from None
