"""The procedural person engine (benchmark.synth): rendering, twins on disk, specs, previews."""
from __future__ import annotations

import csv
import hashlib
import re
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.attributes import ALL_ATTRIBUTES, ENV_NAMES, ID_ATTRIBUTES, ID_NAMES
from benchmark.synth import (
    SpecError,
    TwinSpec,
    identity_look,
    load_twin_spec,
    make_plan,
    make_twin,
    preview_sheet,
    render_image,
    sample_identity_attrs,
    twin_identities,
    twin_names,
)

PERSON = dict(gender=1, hair_length=2, age=2, glasses=2, short_sleeve=1, top_length=2, dress=2, boots=2, hat=2,
              bag=2, shoe_colour=1, upper_colour=3, lower_colour=7)
FRONT = dict(viewpoint=28, weather=5, illumination=4, scene=1)  # c28 = 0 deg = facing the camera
BACK = dict(FRONT, viewpoint=10)  # 180 deg

# file names per twin, as LAYOUT.md states them (relative to the twin's base folder)
LAYOUT = {
    "sim-market1501": r"market1501/Market-1501-v15\.09\.15/(bounding_box_train|query|bounding_box_test)/"
                      r"\d{4}_c[1-6]s\d_\d{6}_\d{2}\.jpg",
    "sim-dukemtmc": r"dukemtmc-reid/DukeMTMC-reID/(bounding_box_train|query|bounding_box_test)/"
                    r"\d{4}_c[1-8]_f\d{7}\.jpg",
    "sim-cuhk03": r"cuhk03-np/detected/(bounding_box_train|query|bounding_box_test)/\d{4}_c[12]_\d{2}\.png",
    "sim-msmt17": r"msmt17/MSMT17_V1/(train|test)/(\d{4})/\2_\d{3}_(0[1-9]|1[0-5])_\d{4}[a-z]+_\d{4}_\d\.jpg",
    "sim-finegpr": r"finegpr/FineGPR/(\d{4})/\1_c(0[1-9]|[12]\d|3[0-6])_w0[1-7]_l0[1-7]_p0[1-9]\.jpg",
    "sim-randperson": r"randperson/images/\d{6}_s\d{2}_c\d{2}_f\d{6}\.jpg",
    "sim-unreal": r"unreal/unreal_v\d+\.\d+/images/\d+_c\d+_\d+\.jpg",
    "sim-personx": r"personx/PersonX_v1/[1-6]/(bounding_box_train|query|bounding_box_test)/\d{4}_c[1-9]s1_\d{2}\.jpg",
    "sim-somaset": r"somaset/soma/(\d{4})/(\d{2})/\1_\2_\d{3}_\d{4}\.jpg",
    "sim-syri": r"syri/\d+_\d+_\d+\.jpg",
}
EXTRA_FILES = {"sim-finegpr": ["finegpr/attributes.csv"],
               "sim-msmt17": [f"msmt17/MSMT17_V1/list_{s}.txt" for s in ("train", "val", "query", "gallery")]}


def _files(base: Path) -> dict[str, str]:
    return {str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(base.rglob("*")) if p.is_file()}


def _labels(base: Path) -> list[dict[str, str]]:
    with open(base / "labels.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("twins")
    for name in twin_names():
        make_twin(name, root, scale="tiny")
    return root


# ---- rendering ---------------------------------------------------------------------
def test_render_shape_dtype_sizes():
    img = render_image(PERSON, FRONT, pid=3)
    assert img.shape == (128, 64, 3) and img.dtype == np.uint8
    hi = render_image(PERSON, FRONT, pid=3, size=(480, 200))
    assert hi.shape == (480, 200, 3)


def test_render_is_deterministic_and_seeded():
    a = render_image(PERSON, FRONT, pid=3, seed=5, twin_seed=9)
    b = render_image(PERSON, FRONT, pid=3, seed=5, twin_seed=9)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, render_image(PERSON, FRONT, pid=3, seed=6, twin_seed=9))


def test_same_attributes_different_ids_differ():
    # per-id detail beyond the 13 attributes: same attributes, same image seed, different person
    a = render_image(PERSON, FRONT, pid=1, seed=0).astype(int)
    b = render_image(PERSON, FRONT, pid=2, seed=0).astype(int)
    assert np.abs(a - b).mean() > 2.0


def _torso_mean(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return img[int(0.30 * h):int(0.45 * h), int(0.4 * w):int(0.6 * w)].reshape(-1, 3).mean(axis=0)


def test_upper_colour_changes_the_torso():
    red = _torso_mean(render_image(dict(PERSON, upper_colour=3), FRONT, pid=4, size=(256, 128)))
    blue = _torso_mean(render_image(dict(PERSON, upper_colour=7), FRONT, pid=4, size=(256, 128)))
    assert red[0] > red[2] + 40, red
    assert blue[2] > blue[0] + 40, blue


def test_one_attribute_changes_only_its_part():
    # glasses live on the face: toggling them leaves everything below the head untouched
    x = render_image(PERSON, FRONT, pid=5).astype(int)
    y = render_image(dict(PERSON, glasses=1), FRONT, pid=5).astype(int)
    rows = np.flatnonzero(np.abs(x - y).sum(axis=(1, 2)))
    assert rows.size and rows.max() < 40


def test_front_and_back_show_different_things():
    front = render_image(PERSON, FRONT, pid=6).astype(int)
    back = render_image(PERSON, BACK, pid=6).astype(int)
    assert np.abs(front - back).mean() > 1.0
    # a backpack shows from behind (on the torso), only straps from the front
    bag = dict(PERSON, bag=1)
    pid = next(p for p in range(100) if identity_look(bag, p).bag_kind == 0)  # a backpack, not a shoulder bag
    f2, b2 = (render_image(PERSON, e, pid=pid).astype(int) for e in (FRONT, BACK))
    d_back = int(np.abs(render_image(bag, BACK, pid=pid).astype(int) - b2).sum())
    d_front = int(np.abs(render_image(bag, FRONT, pid=pid).astype(int) - f2).sum())
    assert d_back > 2 * d_front
    # glasses show from the front only
    g = dict(PERSON, glasses=1)
    assert int(np.abs(render_image(g, FRONT, pid=6).astype(int) - front).sum()) > 0
    assert int(np.abs(render_image(g, BACK, pid=6).astype(int) - back).sum()) == 0


def test_environment_changes_the_picture():
    base = render_image(PERSON, FRONT, pid=7).astype(float)
    night = render_image(PERSON, dict(FRONT, illumination=1), pid=7).astype(float)
    assert night.mean() < 0.6 * base.mean()
    fog = render_image(PERSON, dict(FRONT, weather=4), pid=7).astype(float)
    assert fog.std() < base.std()  # fog washes out contrast
    other_scene = render_image(PERSON, dict(FRONT, scene=3), pid=7).astype(float)
    assert np.abs(other_scene - base).mean() > 5


def test_camera_style_changes_pixels():
    clean = render_image(PERSON, FRONT, pid=8, seed=1).astype(float)
    blurred = render_image(PERSON, FRONT, pid=8, seed=1, camera_style={"blur": 1.5, "downscale": 0.5}).astype(float)

    def sharpness(img: np.ndarray) -> float:
        return float(np.abs(np.diff(img, axis=1)).mean())

    assert sharpness(blurred) < 0.8 * sharpness(clean)
    warm = render_image(PERSON, FRONT, pid=8, seed=1, camera_style={"cast": [1.2, 1.0, 0.8]}).astype(float)
    assert warm[..., 0].mean() > clean[..., 0].mean() and warm[..., 2].mean() < clean[..., 2].mean()
    jpeg = render_image(PERSON, FRONT, pid=8, seed=1, camera_style={"jpeg": 30})
    assert not np.array_equal(jpeg, clean.astype(np.uint8))


def test_real_footage_factors():
    # what target twins have and the clean source lacks: other places, loose boxes, passers-by, texture
    clean = render_image(PERSON, FRONT, pid=9, seed=2).astype(int)
    other_place = render_image(PERSON, FRONT, pid=9, seed=2, camera_style={"backdrop": 7}).astype(int)
    assert np.abs(other_place - clean)[:20].mean() > 5  # the background above the head changed
    crowded = [render_image(PERSON, FRONT, pid=9, seed=s, camera_style={"occlusion": 1.0}).astype(int)
               for s in range(3)]
    alone = [render_image(PERSON, FRONT, pid=9, seed=s).astype(int) for s in range(3)]
    assert all(np.abs(a - b).sum() > 0 for a, b in zip(crowded, alone))
    textured = render_image(PERSON, FRONT, pid=9, seed=2, camera_style={"texture": 1.0}).astype(int)
    assert np.abs(textured - clean).mean() > 2


def test_render_rejects_bad_input():
    with pytest.raises(ValueError, match="missing 'bag'"):
        render_image({k: v for k, v in PERSON.items() if k != "bag"}, FRONT, pid=1)
    with pytest.raises(ValueError, match="weather=9 out of range"):
        render_image(PERSON, dict(FRONT, weather=9), pid=1)
    with pytest.raises(ValueError, match="unknown key 'sharpen'"):
        render_image(PERSON, FRONT, pid=1, camera_style={"sharpen": 1})


def test_sample_identity_attrs_follows_the_prior():
    prior = {"gender": [0.9, 0.1], "upper_colour": [0, 0, 1, 0, 0, 0, 0, 0, 0]}
    people = sample_identity_attrs(prior, 2000, np.random.default_rng(0))
    assert len(people) == 2000 and set(people[0]) == set(ID_NAMES)
    assert 0.86 < np.mean([p["gender"] == 1 for p in people]) < 0.94
    assert all(p["upper_colour"] == 3 for p in people)
    assert {p["age"] for p in people} == {1, 2, 3}  # not in the prior: uniform
    again = sample_identity_attrs(prior, 2000, np.random.default_rng(0))
    assert again == people


# ---- twins on disk -------------------------------------------------------------------
def test_builtin_twins_are_the_expected_ones():
    names = twin_names()
    for n in ("sim-finegpr", "sim-market1501", "sim-dukemtmc", "sim-cuhk03", "sim-msmt17", "sim-somaset",
              "sim-syri", "sim-unreal", "sim-personx", "sim-randperson"):
        assert n in names
    spec = load_twin_spec("sim-market")  # the short name works
    assert isinstance(spec, TwinSpec) and spec.name == "sim-market1501" and spec.format == "market1501"
    assert set(spec.prior) == {a.name for a in ALL_ATTRIBUTES}
    assert len(spec.cameras) == 6 and {"demo", "full"} <= set(spec.scales)


def test_target_priors_differ_and_are_not_uniform():
    market, duke = load_twin_spec("sim-market1501").prior, load_twin_spec("sim-dukemtmc").prior
    assert market["short_sleeve"][0] > 0.7 and duke["short_sleeve"][0] < 0.1  # summer vs winter
    assert duke["weather"][6] + duke["weather"][5] > 0.3 and market["weather"][6] == 0  # snow only at Duke
    for prior in (market, duke, load_twin_spec("sim-cuhk03").prior, load_twin_spec("sim-msmt17").prior):
        assert max(prior["upper_colour"]) > 1.5 / 9 and max(prior["illumination"]) > 1.5 / 7


@pytest.mark.parametrize("name", sorted(LAYOUT))
def test_tiny_twin_layout_and_labels(tiny_root, name):
    base = tiny_root / name
    images = sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.suffix in (".jpg", ".png"))
    assert images
    bad = [p for p in images if not re.fullmatch(LAYOUT[name], p)]
    assert not bad, f"names not in the {name} layout: {bad[:3]}"
    for extra in EXTRA_FILES.get(name, []):
        assert (base / extra).is_file(), extra
    rows = _labels(base)
    assert sorted(r["relpath"] for r in rows) == images
    assert list(rows[0])[:4] == ["relpath", "pid", "camid", "split"]
    for a in ID_ATTRIBUTES + tuple(x for x in ALL_ATTRIBUTES if x.name in ENV_NAMES):
        assert all(1 <= int(r[a.name]) <= a.n for r in rows), a.name
    with open(base / "twin.toml", "rb") as f:
        twin = tomllib.load(f)
    assert twin["name"] == name and twin["generated"]["scale"] == "tiny"
    assert all(abs(sum(p) - 1.0) < 1e-3 for p in twin["prior"].values())
    listed = sum(c["images"] for s, c in twin["counts"].items() if s in ("train", "query", "gallery", "val"))
    assert listed == len(images)
    first = Image.open(base / images[0])
    assert (first.height, first.width) == tuple(twin["generated"]["size"])
    assert load_twin_spec(base / "twin.toml").name == name  # twin.toml is itself a valid spec


def test_market_twin_reads_with_torchreid(tiny_root):
    warnings.filterwarnings("ignore")
    market = pytest.importorskip("torchreid.reid.data.datasets.image.market1501")
    ds = market.Market1501(root=str(tiny_root / "sim-market1501"), verbose=False)
    with open(tiny_root / "sim-market1501" / "twin.toml", "rb") as f:
        counts = tomllib.load(f)["counts"]
    assert (len(ds.train), len(ds.query), len(ds.gallery)) == (
        counts["train"]["images"], counts["query"]["images"], counts["gallery"]["images"])
    assert ds.num_train_pids == counts["train"]["ids"]


def test_finegpr_attributes_csv_matches_the_labels(tiny_root):
    base = tiny_root / "sim-finegpr"
    with open(base / "finegpr" / "attributes.csv", newline="") as f:
        table = {int(r["pid"]): r for r in csv.DictReader(f)}
    assert list(next(iter(table.values()))) == ["pid", *ID_NAMES]
    for r in _labels(base):
        assert all(table[int(r["pid"])][a] == r[a] for a in ID_NAMES)
        m = re.search(r"_c(\d\d)_w(\d\d)_l(\d\d)_p(\d\d)\.jpg$", r["relpath"])
        assert [int(g) for g in m.groups()] == [int(r[a]) for a in ENV_NAMES]


def test_finegpr_demo_plan_covers_every_attribute_value():
    plan = make_plan(load_twin_spec("sim-finegpr"), "demo")
    for attr in ALL_ATTRIBUTES:
        if attr.level == "id":
            seen = {a[attr.name] for a in plan.identities.values()}
        else:
            seen = {j.env[ENV_NAMES.index(attr.name)] for j in plan.jobs}
        assert seen == set(range(1, attr.n + 1)), attr.name
    per_id = {}
    for j in plan.jobs:
        per_id.setdefault(j.pid, set()).add(j.env[:3])
    assert all(len(cells) == 36 for cells in per_id.values())  # a subsample of the 1,764 cells


def test_generation_is_byte_identical(tmp_path):
    for name in ("sim-market1501", "sim-finegpr", "sim-cuhk03"):
        a = make_twin(name, tmp_path / "a", scale="tiny", seed=3)
        b = make_twin(name, tmp_path / "b", scale="tiny", seed=3)
        assert _files(a) == _files(b)
    c = make_twin("sim-market1501", tmp_path / "c", scale="tiny", seed=4)
    assert _files(c) != _files(tmp_path / "a" / "sim-market1501")
    parallel = make_twin("sim-cuhk03", tmp_path / "p", scale="tiny", seed=3, workers=2)
    assert _files(parallel) == _files(tmp_path / "a" / "sim-cuhk03")


def test_files_match_render_on_demand(tiny_root):
    # a labels.csv row + the twin's camera style re-renders exactly the pixels of the file
    base = tiny_root / "sim-market1501"
    with open(base / "twin.toml", "rb") as f:
        twin = tomllib.load(f)
    spec = load_twin_spec(base / "twin.toml")
    for r in _labels(base)[:4]:
        cam = spec.cameras[int(r["camid"])]
        img = render_image({a: int(r[a]) for a in ID_NAMES}, {a: int(r[a]) for a in ENV_NAMES}, int(r["person"]),
                           seed=int(r["seed"]), camera_style=cam.style, twin_seed=twin["generated"]["twin_seed"],
                           size=tuple(twin["generated"]["size"]))
        assert np.array_equal(img, np.asarray(Image.open(base / r["relpath"]).convert("RGB")))


def test_twin_identities_for_rendering_cells_not_on_disk():
    people = twin_identities("sim-finegpr", "tiny")
    assert len(people) == 9 and all(set(a) == set(ID_NAMES) for a in people.values())


def test_refuses_to_overwrite_and_touches_nothing_else(tmp_path):
    other = tmp_path / "market1501"
    other.mkdir()
    (other / "keep.txt").write_text("user data")
    base = make_twin("sim-cuhk03", tmp_path, scale="tiny")
    before = _files(base)
    with pytest.raises(FileExistsError, match="overwrite"):
        make_twin("sim-cuhk03", tmp_path, scale="tiny", seed=1)
    assert _files(base) == before
    make_twin("sim-cuhk03", tmp_path, scale="tiny", seed=1, overwrite=True)
    assert _files(base) != before
    assert (other / "keep.txt").read_text() == "user data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["market1501", "sim-cuhk03"]  # no temp folders left


def test_progress_is_reported(tmp_path):
    seen = []
    make_twin("sim-syri", tmp_path, scale="tiny", progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] == 9


# ---- user specs ------------------------------------------------------------------------
USER_SPEC = """
name = "sim-mycity"
format = "market1501"
seed = 7
size = [64, 32]
[prior]
weather = { Sunny = 3, Clouds = 1 }
illumination = [0, 0, 0, 1, 0, 0, 0]
[camera_defaults]
texture = 0.3
[[cameras]]
id = 1
scenes = [2]
style = { blur = 0.5, jpeg = 80, texture = 0.0 }
[[cameras]]
id = 2
style = { noise = 4.0 }
[scales.tiny]
train_ids = 2
test_ids = 2
train_images = 4
query_images = 2
gallery_images = 3
"""


def test_user_toml_twin(tmp_path):
    path = tmp_path / "mycity.toml"
    path.write_text(USER_SPEC)
    spec = load_twin_spec(path)
    assert spec.prior["weather"][:2] == [0.75, 0.25] and spec.prior["gender"] == [0.5, 0.5]
    assert [c.style["texture"] for c in spec.cameras] == [0.0, 0.3]  # camera_defaults, overridden by camera 1
    base = make_twin(path, tmp_path / "data", scale="tiny")
    assert base == tmp_path / "data" / "sim-mycity"
    rows = _labels(base)
    assert {r["illumination"] for r in rows} == {"4"} and {r["weather"] for r in rows} <= {"1", "2"}
    assert Image.open(base / rows[0]["relpath"]).size == (32, 64)


@pytest.mark.parametrize("edit, message", [
    (("format = \"market1501\"", "format = \"market\""), "`format` must be one of"),
    (("seed = 7", "seed = 7\ncolour = 1"), "unknown key(s) colour"),
    (("illumination = [0, 0, 0, 1, 0, 0, 0]", "illumination = [0, 1]"), "prior.illumination must list 7 numbers"),
    (("weather = { Sunny = 3, Clouds = 1 }", "weather = { Rainy = 1 }"), "prior.weather: unknown value 'Rainy'"),
    (("style = { noise = 4.0 }", "style = { noise = -1 }"), "noise=-1 out of range"),
    (("style = { noise = 4.0 }", "style = { sharpen = 1 }"), "unknown key 'sharpen'"),
    (("query_images = 2", "query_images = 9"), "query_images must be <="),
    (("train_images = 4", ""), "missing train_images"),
    (("id = 2", "id = 7"), "camera id 7 cannot be written in market1501 names"),
])
def test_spec_errors_name_the_file_and_the_problem(tmp_path, edit, message):
    path = tmp_path / "bad.toml"
    path.write_text(USER_SPEC.replace(*edit))
    with pytest.raises(SpecError) as err:
        load_twin_spec(path)
    assert str(path) in str(err.value) and message in str(err.value), str(err.value)


def test_unknown_twin_and_scale_are_clear(tmp_path):
    with pytest.raises(SpecError, match="unknown twin 'sim-nowhere'; built-in twins: .*sim-market1501"):
        load_twin_spec("sim-nowhere")
    with pytest.raises(SpecError, match="has no scale 'huge'; it has: demo, full, tiny"):
        make_twin("sim-market1501", tmp_path, scale="huge")
    assert not (tmp_path / "sim-market1501").exists()


# ---- preview ----------------------------------------------------------------------
def test_preview_sheet(tiny_root, tmp_path):
    out = preview_sheet("sim-market1501", tiny_root, tmp_path / "sheet.png", ids=3, cols=4)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 4 * 64 and im.height >= 3 * 128
    with pytest.raises(FileNotFoundError, match="generate the twin first"):
        preview_sheet("sim-dukemtmc", tmp_path, tmp_path / "x.png")
