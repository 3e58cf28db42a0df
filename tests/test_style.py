"""Style-transfer stage: networks, SPGAN objective, training/resume, translation, `color` (DAT)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter

from benchmark.aost.style import STYLE_METHODS, StyleModel, contact_sheet, fit_style, load_style
from benchmark.aost.style.color import jpeg_quality_of, rgb_to_lab
from benchmark.aost.style.losses import (
    CYCLEGAN_WEIGHTS, SPGAN_WEIGHTS, contrastive, generator_objective,
)
from benchmark.aost.style.networks import PatchDiscriminator, ResidualBlock, ResnetGenerator, SiaNet, receptive_field
from benchmark.aost.style.pool import ImagePool
from benchmark.datasets.records import DataError

H, W = 64, 32
TARGET_BLUR, TARGET_NOISE, TARGET_Q = 1.5, 5.0, 70


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one intra-op thread is faster, and it avoids OpenMP spin-waits on a busy 2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _person(shirt, rng: np.random.Generator, h: int = H, w: int = W) -> np.ndarray:
    """A crude person crop: textured background, skin head, coloured shirt, dark trousers."""
    img = np.clip(rng.normal(120, 25, (h, w, 3)), 0, 255)
    y = lambda f: int(f * h)  # noqa: E731
    x = lambda f: int(f * w)  # noqa: E731
    img[y(0.04) : y(0.16), x(0.38) : x(0.62)] = (220, 180, 150)
    img[y(0.16) : y(0.58), x(0.25) : x(0.75)] = shirt
    img[y(0.58) : y(0.95), x(0.3) : x(0.7)] = (40, 40, 60)
    img[y(0.2) : y(0.5) : 3, x(0.25) : x(0.75)] *= 0.8  # stripes: some fine detail
    return img.astype(np.uint8)


def _camera(img: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """The target's camera: warm colour cast and lower contrast, blur, noise (JPEG on save)."""
    x = img.astype(np.float64) * 0.75 + np.array([45.0, 25.0, 0.0])
    blurred = np.asarray(Image.fromarray(np.clip(x, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(TARGET_BLUR)), float)
    return Image.fromarray(np.clip(blurred + rng.normal(0, TARGET_NOISE, img.shape), 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> dict:
    """Two small domains: 12 sharp source crops (PNG) and 12 target-camera crops (JPEG q70)."""
    root = tmp_path_factory.mktemp("style_data")
    rng = np.random.default_rng(0)
    (root / "source").mkdir()
    (root / "bank").mkdir()
    source, bank = [], []
    for i in range(12):
        p = root / "source" / f"{i:04d}_c1s1_{i:06d}_00.png"
        Image.fromarray(_person(rng.integers(0, 256, 3), rng)).save(p)
        source.append(str(p))
        q = root / "bank" / f"{i:04d}_c2s1_{i:06d}_00.jpg"
        _camera(_person(rng.integers(0, 256, 3), rng), rng).save(q, quality=TARGET_Q)
        bank.append(str(q))
    return {"root": root, "source": source, "bank": bank}


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _read(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


# ---------------------------------------------------------------- networks
def test_generator_keeps_shape_and_counts_blocks():
    torch.manual_seed(0)
    g = ResnetGenerator(res_blocks=2, width=8)
    y = g(torch.rand(2, 3, H, W) * 2 - 1)
    assert y.shape == (2, 3, H, W)
    assert float(y.detach().abs().max()) <= 1.0
    assert sum(isinstance(m, ResidualBlock) for m in g.modules()) == 2
    assert sum(isinstance(m, ResidualBlock) for m in ResnetGenerator().modules()) == 9  # the paper's default
    assert any(isinstance(m, torch.nn.ReflectionPad2d) for m in g.modules())
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in g.modules())
    with pytest.raises(ValueError, match="divisible by 4"):
        g(torch.zeros(1, 3, 62, 32))


def test_patchgan_has_a_70_pixel_receptive_field():
    assert receptive_field(PatchDiscriminator()) == 70
    assert PatchDiscriminator(width=8)(torch.zeros(2, 3, H, W)).shape == (2, 1, 6, 2)
    # empirically: the input pixels one output score depends on (norm off: IN would couple all pixels)
    torch.manual_seed(0)
    d = PatchDiscriminator(width=4, norm=False)
    x = torch.randn(1, 3, 160, 160, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    hit = x.grad.abs().sum((0, 1)) > 0
    rows, cols = hit.any(1).nonzero().flatten(), hit.any(0).nonzero().flatten()
    assert int(rows.max() - rows.min() + 1) == 70 and int(cols.max() - cols.min() + 1) == 70
    assert rows.min() > 0 and rows.max() < 159  # not clipped by the border


def test_sianet_embeds_on_the_unit_sphere():
    e = SiaNet(width=8)(torch.rand(3, 3, H, W))
    assert e.shape == (3, 128)
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)


# ---------------------------------------------------------------- objective
def test_contrastive_loss_margin_two():
    a = F.normalize(torch.tensor([[1.0, 0.0]]), dim=1)
    assert float(contrastive(a, a, True, 2.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(contrastive(a, a, False, 2.0)) == pytest.approx(4.0, abs=1e-4)  # same point: full margin^2
    assert float(contrastive(a, -a, False, 2.0)) == pytest.approx(0.0, abs=1e-6)  # d = 2 = margin
    assert float(contrastive(a, -a, True, 2.0)) == pytest.approx(4.0, abs=1e-5)


def test_spgan_objective_terms_and_weights():
    assert (SPGAN_WEIGHTS.cycle, SPGAN_WEIGHTS.identity, SPGAN_WEIGHTS.contrastive, SPGAN_WEIGHTS.margin) == (10, 5, 2, 2)
    assert CYCLEGAN_WEIGHTS.contrastive == 0 and CYCLEGAN_WEIGHTS.cycle == 10
    torch.manual_seed(0)
    G, Fn = ResnetGenerator(1, 4), ResnetGenerator(1, 4)
    D_s, D_t, sia = PatchDiscriminator(4), PatchDiscriminator(4), SiaNet(4)
    x_s, x_t = torch.rand(2, 3, H, W) * 2 - 1, torch.rand(2, 3, H, W) * 2 - 1
    total, terms, fakes = generator_objective(G, Fn, D_s, D_t, sia, x_s, x_t, SPGAN_WEIGHTS)
    with torch.no_grad():  # the same terms, recomputed by hand
        ft, fs = G(x_s), Fn(x_t)
        adv = ((D_t(ft) - 1) ** 2).mean() + ((D_s(fs) - 1) ** 2).mean()
        cyc = (Fn(ft) - x_s).abs().mean() + (G(fs) - x_t).abs().mean()
        idt = (G(x_t) - x_t).abs().mean() + (Fn(x_s) - x_s).abs().mean()
        d = lambda a, b: (sia(a) - sia(b)).norm(dim=1)  # noqa: E731
        con = ((d(x_s, ft) ** 2).mean() + (d(x_t, fs) ** 2).mean()
               + ((2 - d(ft, x_t)).clamp_min(0) ** 2).mean() + ((2 - d(fs, x_s)).clamp_min(0) ** 2).mean()) / 4
    for name, ref in (("adv", adv), ("cycle", cyc), ("identity", idt), ("contrastive", con)):
        assert float(terms[name].detach()) == pytest.approx(float(ref), rel=1e-4), name
    assert float(total.detach()) == pytest.approx(float(adv + 10 * cyc + 5 * idt + 2 * con), rel=1e-4)
    assert torch.allclose(fakes["fake_t"], ft, atol=1e-6)
    total_c, terms_c, _ = generator_objective(G, Fn, D_s, D_t, None, x_s, x_t, CYCLEGAN_WEIGHTS)
    assert "contrastive" not in terms_c
    assert float(total_c.detach()) == pytest.approx(float(adv + 10 * cyc + 5 * idt), rel=1e-4)
    total.backward()  # the generators get gradients through every term
    assert all(p.grad is not None for p in G.parameters())


def test_image_pool_mixes_history_and_resumes():
    pool = ImagePool(2, seed=0)
    a, b = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    assert torch.equal(pool.query(a), a)  # filling: the new images come back
    state = pool.state_dict()
    outs = [pool.query(b + i) for i in range(8)]
    assert any(float(o.min()) < 1 for o in outs)  # some stored (older) images were returned
    again = ImagePool(2, seed=99)
    again.load_state_dict(state)
    assert all(torch.equal(o, again.query(b + i)) for i, o in enumerate(outs))
    assert torch.equal(ImagePool(0).query(b), b)


# ---------------------------------------------------------------- training
def _gan(domains, out: Path, epochs: int, method: str = "spgan", **kw) -> StyleModel:
    args = dict(size=(H, W), res_blocks=1, epochs=epochs, seed=0, width=8, batch_size=2, max_images=8, progress=False)
    args.update(kw)
    return fit_style(method, domains["source"], domains["bank"], out, **args)


def _weights(out: Path) -> dict:
    return torch.load(out / "generator.pt", weights_only=True)


def test_spgan_checkpoints_resumes_and_is_deterministic(domains, tmp_path):
    a = tmp_path / "a"
    m1 = _gan(domains, a, epochs=1)
    assert (a / "checkpoint.pt").is_file() and (a / "generator.pt").is_file() and (a / "style.json").is_file()
    ckpt = torch.load(a / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 1 and {"G", "F", "D_s", "D_t", "sia", "opt_sia", "pool_s"} <= set(ckpt["state"])
    assert m1.info["epochs"] == 1 and m1.info["images"] == {"source": 8, "bank": 8}
    assert {"method", "size", "res_blocks", "epochs", "train_seconds", "images", "device"} <= set(m1.info)
    h = m1.info["history"][0]
    assert h["contrastive"] > 0 and h["cycle"] > 0 and h["identity"] > 0 and h["D"] > 0

    m2 = _gan(domains, a, epochs=2)  # resumes from epoch 1
    assert m2.info["resumed_from_epoch"] == 1 and [e["epoch"] for e in m2.info["history"]] == [1, 2]
    b = tmp_path / "b"
    _gan(domains, b, epochs=2)  # uninterrupted, same seed
    wa, wb = _weights(a), _weights(b)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], _weights_of(m1)[k]) for k in wa)  # epoch 2 changed the weights

    seconds = load_style(b).info["train_seconds"]
    again = _gan(domains, b, epochs=2)  # finished: reused, nothing retrained
    assert again.info["train_seconds"] == seconds and len(again.info["history"]) == 2
    with pytest.raises(ValueError, match="cannot resume"):
        _gan(domains, b, epochs=3, res_blocks=2)


def _weights_of(model) -> dict:
    return {k: v.detach().cpu() for k, v in model.G.state_dict().items()}


def test_cyclegan_has_no_sianet(domains, tmp_path):
    m = _gan(domains, tmp_path / "c", epochs=1, method="cyclegan", max_images=4)
    assert m.method == "cyclegan"
    assert "contrastive" not in m.info["history"][0] and m.info["weights"]["contrastive"] == 0.0
    assert "sia" not in torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=True)["state"]


# ---------------------------------------------------------------- translation
@pytest.fixture(scope="module")
def odd_sized(domains) -> list[str]:
    """Inputs of other sizes and formats than the model size."""
    rng = np.random.default_rng(5)
    root = domains["root"] / "odd"
    root.mkdir()
    out = []
    for i, (h, w, ext) in enumerate(((70, 30, ".jpg"), (128, 64, ".png"), (H, W, ".jpg"))):
        p = root / f"{i:04d}_c3s1_000000_00{ext}"
        Image.fromarray(_person(rng.integers(0, 256, 3), rng, h, w)).save(p)
        out.append(str(p))
    return out


@pytest.mark.parametrize("method", ["spgan", "color", "dat"])
def test_translate_keeps_names_sizes_and_inputs(domains, odd_sized, tmp_path, method):
    if method in ("color", "dat"):
        model = fit_style(method, domains["source"], domains["bank"], tmp_path / "m", size=(H, W))
    else:
        model = _gan(domains, tmp_path / "m", epochs=1, max_images=4)
    before = {p: _sha(p) for p in odd_sized}
    out = model.translate(odd_sized, tmp_path / "out", batch_size=2)
    assert [Path(p).name for p in out] == [Path(p).name for p in odd_sized]
    for src, dst in zip(odd_sized, out):
        assert Image.open(dst).size == Image.open(src).size
        assert Image.open(dst).format == Image.open(src).format
    assert {p: _sha(p) for p in odd_sized} == before
    # reloaded from disk: the same output, byte for byte
    out2 = load_style(tmp_path / "m").translate(odd_sized, tmp_path / "out2")
    assert [_sha(p) for p in out] == [_sha(p) for p in out2]
    with pytest.raises(ValueError, match="overwrite the input"):
        model.translate(odd_sized, Path(odd_sized[0]).parent)
    assert {p: _sha(p) for p in odd_sized} == before
    assert not model.translate([], tmp_path / "none")


# ---------------------------------------------------------------- color and dat
@pytest.fixture(scope="module")
def color_model(domains, tmp_path_factory):
    return fit_style("color", domains["source"], domains["bank"], tmp_path_factory.mktemp("color"), size=(H, W))


@pytest.fixture(scope="module")
def dat_model(domains, tmp_path_factory):
    return fit_style("dat", domains["source"], domains["bank"], tmp_path_factory.mktemp("dat"), size=(H, W))


def _lab_pixels(paths) -> torch.Tensor:
    x = torch.from_numpy(np.stack([_read(p) for p in paths]).astype(np.float32) / 255).permute(0, 3, 1, 2)
    return rgb_to_lab(x)


def _lab_mean(paths) -> np.ndarray:
    return _lab_pixels(paths).mean((0, 2, 3)).numpy()


def _lab_std(paths) -> np.ndarray:
    return _lab_pixels(paths).std((0, 2, 3)).numpy()


def test_color_moves_the_colour_statistics_and_nothing_else(domains, color_model, tmp_path):
    out = color_model.translate(domains["source"], tmp_path / "t")
    src, tgt, new = _lab_mean(domains["source"]), _lab_mean(domains["bank"]), _lab_mean(out)
    assert np.linalg.norm(new - tgt) < 0.5 * np.linalg.norm(src - tgt)
    assert np.all(np.abs(_lab_std(out) - _lab_std(domains["bank"])) < 0.1 * _lab_std(domains["bank"]) + 0.5)
    m = color_model.info["map"]
    assert (m["blur_sigma"], m["noise_std"], m["jpeg_quality"]) == (0.0, 0.0, None)
    assert all(0.5 <= g <= 2.0 for g in m["lab_gain"])
    assert color_model.info["method"] == "color" and color_model.info["name"] == "colour statistics transfer"
    assert "descriptors" not in color_model.info


def test_dat_moves_domain_statistics_towards_the_target(domains, dat_model, tmp_path):
    out = dat_model.translate(domains["source"], tmp_path / "t")
    src, tgt, new = _lab_mean(domains["source"]), _lab_mean(domains["bank"]), _lab_mean(out)
    assert np.linalg.norm(new - tgt) < 0.5 * np.linalg.norm(src - tgt)
    m = dat_model.info["map"]
    assert m["jpeg_quality"] == TARGET_Q  # read from the bank's quantisation tables
    assert m["blur_sigma"] > 0 and m["noise_std"] > 0  # the target camera blurs and adds noise
    assert all(0.5 <= g <= 2.0 for g in m["lab_gain"]) and m["lab_gain"][0] < 1  # lower contrast
    d = dat_model.info["descriptors"]
    err = lambda v: np.linalg.norm(np.array(v) - np.array(d["target"]))  # noqa: E731
    assert err(d["source_mapped"]) < 0.5 * err(d["source"])
    assert dat_model.info["method"] == "dat" and dat_model.info["name"].startswith("domain appearance transfer")


def test_dat_matches_the_target_contrast_after_blur_and_noise(domains, dat_model, tmp_path):
    # the colour map is fitted on the source as the optics leave it, so the blur does not undo its gains
    out = dat_model.translate(domains["source"], tmp_path / "t")
    src, tgt, new = _lab_std(domains["source"]), _lab_std(domains["bank"]), _lab_std(out)
    assert np.all(np.abs(new - tgt) < 0.1 * tgt + 0.5), (src, tgt, new)
    assert np.linalg.norm(new - tgt) < 0.5 * np.linalg.norm(src - tgt)


def test_a_colour_map_of_another_version_is_refused_with_the_file_named(color_model, tmp_path):
    import json

    from benchmark.aost.style.base import STYLE_FILE

    info = {**color_model.info, "map_version": 1}
    (tmp_path / STYLE_FILE).write_text(json.dumps(info))
    with pytest.raises(ValueError, match=r"style.json holds a colour map of version 1.*delete that folder"):
        load_style(tmp_path)


def test_colour_statistics_use_every_selected_image_whatever_the_seed(domains, tmp_path):
    # more images than the old 400-image sample: the map was a property of the seed's sample, now of the selection
    rng = np.random.default_rng(3)
    (tmp_path / "many").mkdir()
    many = []
    for i in range(450):
        p = tmp_path / "many" / f"{i:04d}_c1s1_{i:06d}_00.png"
        Image.fromarray(_person(rng.integers(0, 256, 3), rng)).save(p)
        many.append(str(p))
    a = fit_style("color", many, domains["bank"], tmp_path / "a", size=(H, W), seed=0)
    b = fit_style("color", many, domains["bank"], tmp_path / "b", size=(H, W), seed=1)
    assert a.info["images"] == {"source": 450, "bank": 12}
    assert a.info["map"] == b.info["map"]
    capped = fit_style("color", many, domains["bank"], tmp_path / "c", size=(H, W), seed=0, max_images=100)
    assert capped.info["images"]["source"] == 100  # an explicit cap is still honoured


@pytest.mark.parametrize("method", ["color", "dat"])
def test_a_map_to_its_own_domain_is_nearly_the_identity(domains, tmp_path, method):
    m = fit_style(method, domains["source"], domains["source"], tmp_path / "self", size=(H, W)).info["map"]
    assert m["blur_sigma"] == 0 and m["noise_std"] == 0 and m["jpeg_quality"] is None
    assert np.allclose(m["lab_gain"], 1.0) and np.allclose(m["lab_source_mean"], m["lab_target_mean"])


def _big_shirt(colour) -> np.ndarray:
    """A person whose shirt fills most of the crop: per-image normalisation would erase it."""
    img = np.full((H, W, 3), 110, np.uint8)
    img[4:60, 3:29] = colour
    img[4:10, 12:20] = (220, 180, 150)
    return img


@pytest.mark.parametrize("method", ["color", "dat"])
def test_the_map_keeps_identity_and_is_one_for_all(request, tmp_path, method):
    color_model = request.getfixturevalue(f"{method}_model")
    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    Image.fromarray(_big_shirt((190, 50, 50))).save(red)
    Image.fromarray(_big_shirt((50, 70, 190))).save(blue)
    both = color_model.translate([str(red), str(blue)], tmp_path / "both")
    alone = color_model.translate([str(red)], tmp_path / "alone")
    assert np.array_equal(_read(alone[0]), _read(both[0]))  # the same map whatever the batch

    def shirt(p) -> np.ndarray:
        x = torch.from_numpy(_read(p)[16:54, 8:24].astype(np.float32) / 255).permute(2, 0, 1)[None]
        return rgb_to_lab(x).mean((0, 2, 3)).numpy()

    before, after = shirt(red) - shirt(blue), shirt(both[0]) - shirt(both[1])
    expected = np.array(color_model.info["map"]["lab_gain"]) * before  # one affine Lab map for everyone
    assert np.linalg.norm(after - expected) < 0.2 * np.linalg.norm(expected)
    assert np.array_equal(np.sign(before), np.sign(after))  # order on every Lab axis kept
    r, b = _read(both[0])[16:54, 8:24].mean((0, 1)), _read(both[1])[16:54, 8:24].mean((0, 1))
    assert r[0] > b[0] + 60 and r[2] + 60 < b[2]  # the red shirt stays red, the blue one blue


# ---------------------------------------------------------------- odds and ends
def test_contact_sheet(domains, tmp_path):
    p = contact_sheet(domains["source"][:3], domains["bank"][:3], tmp_path / "s" / "sheet.png", n=2)
    im = Image.open(p)
    assert im.format == "PNG" and im.width > 2 * 64 and im.height >= 128
    with pytest.raises(ValueError, match="as many"):
        contact_sheet(domains["source"][:3], domains["bank"][:2], tmp_path / "x.png")


def test_clear_errors(domains, tmp_path):
    assert STYLE_METHODS == ("spgan", "cyclegan", "color", "dat")
    with pytest.raises(ValueError, match="spgan, cyclegan, color, dat"):
        fit_style("ptgan", domains["source"], domains["bank"], tmp_path / "x")
    with pytest.raises(ValueError, match="style bank"):
        fit_style("color", domains["source"], [], tmp_path / "x")
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.jpg"):
        fit_style("color", [str(bad)], domains["bank"], tmp_path / "x", size=(H, W))
    with pytest.raises(FileNotFoundError, match="style.json"):
        load_style(tmp_path / "nothing")
    with pytest.raises(ValueError, match="divisible by 4"):
        fit_style("spgan", domains["source"], domains["bank"], tmp_path / "x", size=(66, 32), progress=False)
    assert jpeg_quality_of(domains["source"][0]) is None and jpeg_quality_of(domains["bank"][0]) == TARGET_Q
