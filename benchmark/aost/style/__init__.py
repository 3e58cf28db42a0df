"""Stage II of AOST: style transfer of the selected synthetic images to the target's style.

    from benchmark.aost.style import fit_style, load_style, StyleModel, STYLE_METHODS, contact_sheet
    model = fit_style("spgan", source_paths, bank_paths, out_dir, size=(256, 128), res_blocks=9, epochs=5)
    new_paths = load_style(out_dir).translate(selection, run_dir / "translated")

Methods: `spgan` (CycleGAN + SiaNet, Deng et al. 2018), `cyclegan` (the same
without SiaNet), `color` (one Lab colour map estimated from the two domains'
statistics) and `dat` (the same plus the target camera's blur, noise and JPEG);
see color.py.
"""
from __future__ import annotations

from .api import STYLE_METHODS, fit_style, load_style
from .base import StyleModel
from .sheet import contact_sheet

__all__ = ["STYLE_METHODS", "StyleModel", "contact_sheet", "fit_style", "load_style"]
