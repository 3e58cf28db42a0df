"""`aostbench perf style`: its versions of a selection are what they claim to be."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.attributes import BY_NAME, ENV_NAMES, ID_NAMES


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from benchmark.aost.select import select
    from benchmark.datasets import load_dataset
    from benchmark.synth import make_twin

    root = tmp_path_factory.mktemp("twins")
    make_twin("sim-finegpr", root, scale="tiny")
    make_twin("sim-market1501", root, scale="tiny")
    source, target = load_dataset("sim-finegpr", root), load_dataset("sim-market1501", root)
    uniform = {a: [1.0 / BY_NAME[a].n] * BY_NAME[a].n for a in ID_NAMES + ENV_NAMES}
    sel = select(source, uniform, 6, seed=0, out_dir=root / "sel").records
    return source, target, sel, root


def _pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.float64)


def test_true_camera_rerenders_the_selection_through_the_targets_cameras(setup):
    from benchmark.aost.style.color import jpeg_quality_of
    from benchmark.perf.style import _true_camera

    source, target, sel, root = setup
    out = _true_camera(sel, source, target, root / "true", seed=0)
    assert [r.pid for r in out] == [r.pid for r in sel] and [r.attrs for r in out] == [r.attrs for r in sel]
    qualities = {c["style"]["jpeg"] for c in target.meta["twin"]["cameras"]}
    for before, after in zip(sel, out):
        assert after.path.endswith(before.path.rsplit("/", 1)[1])
        assert jpeg_quality_of(after.path) in qualities  # written as the target's cameras write
        assert np.abs(_pixels(after.path) - _pixels(before.path)).mean() > 2.0  # the optics changed it
    with pytest.raises(ValueError, match="needs a sim- target"):
        _true_camera(sel, source, source.__class__("plain", "real", root), root / "x", seed=0)


def test_dat_optics_variant_keeps_only_the_camera_half_of_the_map(setup):
    from benchmark.aost.style import fit_style
    from benchmark.perf.style import _optics_only

    source, target, sel, root = setup
    bank = [r.path for r in target.train]
    full = fit_style("dat", [r.path for r in sel], bank, root / "dat", size=(32, 16), seed=0, progress=False)
    colour = fit_style("color", [r.path for r in sel], bank, root / "color", size=(32, 16), seed=0, progress=False)
    optics = _optics_only(root / "dat")
    assert (colour.blur, colour.noise_std, colour.quality) == (0.0, 0.0, None)
    assert (optics.blur, optics.noise_std, optics.quality) == (full.blur, full.noise_std, full.quality)
    x = torch.rand(2, 3, 8, 4) * 0.8 + 0.1
    assert torch.allclose(optics.colour_map(x), x, atol=2e-3)  # the identity colour map
    assert not torch.allclose(full.colour_map(x), x, atol=2e-3)
    assert not torch.allclose(colour.colour_map(x), x, atol=2e-3)
