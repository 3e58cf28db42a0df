"""The style-transfer stage's public functions: fit once, load, translate any selection."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .base import StyleModel, read_style_json

STYLE_METHODS = ("spgan", "cyclegan", "color", "dat")


def fit_style(
    method: str, source_paths: Sequence[str], bank_paths: Sequence[str], out_dir: Path, *,
    size: tuple[int, int] = (256, 128), res_blocks: int = 9, epochs: int = 5, seed: int = 0,
    device: str = "cpu", max_images: int | None = None, progress: bool = True,
    width: int = 64, batch_size: int = 1, amp: bool = False,
) -> StyleModel:
    """Fit a style transfer from the source images to the style bank and save it in out_dir.

    method: "spgan" (CycleGAN + SiaNet), "cyclegan", "color" (colour statistics
    transfer) or "dat" (domain appearance transfer: colour plus blur, noise and
    JPEG); the last two need no training. bank_paths: unlabeled target-style images (the target's
    train split or any folder). size=(h, w) is the model size; res_blocks, epochs,
    width (generator/discriminator base channels, 64 as published), batch_size (1 as
    published) and amp (bf16 autocast, CUDA only) apply to the GANs. max_images caps
    the images used from each side (a seeded subset). A GAN resumes from
    out_dir/checkpoint.pt when present; a finished out_dir is reused as is.
    """
    if method not in STYLE_METHODS:
        raise ValueError(f"unknown style method {method!r}; available: {', '.join(STYLE_METHODS)}")
    source_paths, bank_paths = [str(p) for p in source_paths], [str(p) for p in bank_paths]
    if not source_paths:
        raise ValueError("fit_style needs at least one source image (source_paths is empty)")
    if not bank_paths:
        raise ValueError("fit_style needs a style bank: bank_paths is empty (give the target's train images or a folder of crops)")
    size = (int(size[0]), int(size[1]))
    if method in ("color", "dat"):
        from .color import fit_color

        return fit_color(source_paths, bank_paths, Path(out_dir), size=size, seed=seed, max_images=max_images,
                         progress=progress, optics_too=method == "dat")
    if epochs < 1 or res_blocks < 0:
        raise ValueError(f"{method} needs epochs >= 1 and res_blocks >= 0 (got epochs={epochs}, res_blocks={res_blocks})")
    from .spgan import fit_gan

    return fit_gan(
        method, source_paths, bank_paths, Path(out_dir), size=size, res_blocks=res_blocks, epochs=epochs,
        seed=seed, device=device, max_images=max_images, progress=progress, width=width,
        batch_size=batch_size, amp=amp,
    )


def load_style(out_dir: Path, device: str | None = None) -> StyleModel:
    """Load a style model saved by fit_style (GANs on `device`, default: the fit's device if present, else CPU)."""
    info = read_style_json(Path(out_dir))
    method = info.get("method")
    if method in ("color", "dat"):
        from .color import ColorStyle

        return ColorStyle(info, Path(out_dir))
    if method in ("spgan", "cyclegan"):
        from .spgan import GanStyle

        return GanStyle(info, Path(out_dir), device=device)
    raise ValueError(f"{Path(out_dir) / 'style.json'} names an unknown method {method!r}; expected one of {STYLE_METHODS}")
