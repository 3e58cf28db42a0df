"""The procedural person engine: the benchmark's embedded default data and its test fixture.

Renders person crops from FineGPR's attributes (13 id attributes + viewpoint,
weather, illumination, scene) and writes "twins" of real datasets in their
on-disk formats, each with its own true attribute prior and camera styles.

    from benchmark.synth import render_image, make_twin, preview_sheet, twin_names, load_twin_spec
    img = render_image(id_attrs, {"viewpoint": 28, "weather": 1, "illumination": 4, "scene": 2}, pid=7)
    base = make_twin("sim-market1501", Path("data"), scale="demo")   # -> data/sim-market1501
    preview_sheet("sim-market1501", Path("data"), Path("sheet.png"))

Modules: identity (attributes -> a look with per-id detail), figure (the
body), scene (backgrounds, weather, light), camera (styles, JPEG), render
(one crop), spec (twin TOML files), plan (who appears where), writers
(make_twin), preview (contact sheets). Built-in twins: twins/*.toml.
"""
from __future__ import annotations

from benchmark.synth.identity import identity_look, sample_identity_attrs
from benchmark.synth.plan import make_plan, twin_seed
from benchmark.synth.preview import preview_sheet
from benchmark.synth.render import DEFAULT_SIZE, FINEGPR_SIZE, render_image
from benchmark.synth.spec import SpecError, TwinSpec, load_twin_spec, twin_names
from benchmark.synth.writers import ENGINE_VERSION, make_twin, twin_identities

__all__ = [
    "render_image",
    "make_twin",
    "preview_sheet",
    "twin_names",
    "load_twin_spec",
    "TwinSpec",
    "SpecError",
    "sample_identity_attrs",
    "identity_look",
    "make_plan",
    "twin_seed",
    "twin_identities",
    "DEFAULT_SIZE",
    "FINEGPR_SIZE",
    "ENGINE_VERSION",
]
