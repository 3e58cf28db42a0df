"""The `people` AO method: label-shift algebra, the method switch, and on a small skewed twin: recovery,
determinism for a seed, and that the target's labels and prior are never read."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmark.attributes import BY_NAME, total_variation
from benchmark.profiles import PROFILES, SMOKE

SPEC = """
name = "sim-redcoats"
format = "market1501"
description = "test target: nearly everyone in red tops and blue trousers"
seed = 77
size = [128, 64]

[prior]
# black, white, red, purple, gray, yellow, blue, green, brown
upper_colour = [0.02, 0.02, 0.80, 0.02, 0.02, 0.06, 0.02, 0.02, 0.02]
lower_colour = [0.03, 0.02, 0.02, 0.02, 0.03, 0.02, 0.80, 0.03, 0.03]
illumination = [0.0, 0.0, 0.5, 0.5, 0.0, 0.0, 0.0]

[[cameras]]
id = 1
style = { blur = 0.8, noise = 3.0, cast = [1.05, 1.0, 0.95], downscale = 0.6, jpeg = 85 }

[[cameras]]
id = 2
style = { blur = 1.0, noise = 4.0, cast = [0.95, 1.0, 1.05], downscale = 0.5, jpeg = 80 }

[scales.demo]
train_ids = 40
test_ids = 10
train_images = 400
query_images = 10
gallery_images = 30
"""

PROFILE = SMOKE.with_(ao_method="people", ao_probe=250, ao_target_images=50, pso_particles=8, pso_iters=8)


# --- algebra ---------------------------------------------------------------------------------


def test_label_shift_inverts_a_known_confusion():
    from benchmark.aost.people import label_shift, project_simplex

    c = np.array([[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.1, 0.2, 0.7]])  # columns: P(predicted | true)
    q = np.array([0.7, 0.1, 0.2])
    got = label_shift(c, c @ q, pull=1e-9)
    assert np.allclose(got, q, atol=1e-4)
    # the pull keeps an attribute the classifier cannot see (identical columns) at uniform
    blind = np.full((3, 3), 1 / 3)
    assert np.allclose(label_shift(blind, np.array([0.5, 0.3, 0.2]), pull=1e-3), 1 / 3)
    p = project_simplex(np.array([0.9, 0.6, -0.4]))
    assert p.sum() == pytest.approx(1.0) and (p >= 0).all() and p[2] == 0.0


def test_without_a_heading_estimate_the_quadrants_come_from_the_sectors_summed():
    """A classifier that mixes neighbouring sectors (as the real one does) but keeps quadrants apart: the
    quadrant masses are the better-conditioned 4x4 system's, so the front stays the front."""
    from benchmark.aost.people import QUADRANTS, VIEW_SECTORS, label_shift, viewpoint_shift

    assert (QUADRANTS.sum(1) == 1).all() and (QUADRANTS.sum(0) == VIEW_SECTORS // 4).all()
    front = QUADRANTS[:, 0].astype(bool)  # sector 9 (0 deg) and its neighbours
    assert front[9] and front[8] and front[10] and not front[3]
    c = np.zeros((VIEW_SECTORS, VIEW_SECTORS))
    for y in range(VIEW_SECTORS):  # true sector y: predicted evenly over its quadrant
        c[:, y] = QUADRANTS @ QUADRANTS[y] / 3
    c = 0.8 * c + 0.2 / VIEW_SECTORS
    q_true = np.eye(VIEW_SECTORS)[9]
    for pull in (0.02, 0.3):  # a quiet camera, a noisy one (benchmark.aost.people.pull)
        q = viewpoint_shift(c, c @ q_true, pull)
        quadrants = label_shift(QUADRANTS.T @ c @ QUADRANTS / 3, QUADRANTS.T @ c @ q_true, pull)
        assert np.allclose(QUADRANTS.T @ q, quadrants, atol=1e-6)
        assert q[front].sum() > (0.9 if pull < 0.1 else 0.7)


def test_viewpoint_sectors_and_their_mirror():
    from benchmark.aost.people import MIRROR, VIEW_SECTORS, classes_of, expand

    assert (MIRROR[MIRROR] == np.arange(VIEW_SECTORS)).all()  # an involution
    # code 1 = 90 deg <-> code 19 = 270 deg; code 10 = 180 deg (back) and code 28 = 0 deg (front) are their own mirrors
    s = classes_of("viewpoint", np.array([1, 19, 10, 28]))
    assert MIRROR[s[0]] == s[1] and MIRROR[s[2]] == s[2] and MIRROR[s[3]] == s[3]
    q = expand("viewpoint", np.eye(VIEW_SECTORS)[s[2]])
    assert q.sum() == pytest.approx(1.0) and np.count_nonzero(q) == 5  # the back sector, interpolated around the circle
    assert q[9] == pytest.approx(1 / 3) and q[8] == q[10] == pytest.approx(1 / 4) and q[7] == pytest.approx(1 / 12)


def test_every_built_in_profile_runs_the_papers_method_and_unknown_methods_are_refused():
    from benchmark.profiles import AO_METHODS

    assert {p.ao_method for p in PROFILES.values()} == {"gatys"}
    assert "people" in AO_METHODS
    with pytest.raises(ValueError, match="ao_method = 'vibes' is impossible; expected one of gatys, people"):
        SMOKE.with_(ao_method="vibes")  # as `--set ao_method=vibes` does


# --- on a small twin -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def skewed(tmp_path_factory):
    """sim-finegpr (tiny, the source) and a small target twin in red tops and blue trousers; V* of seed 0."""
    from benchmark.aost.ao import optimise_attributes
    from benchmark.aost.recovery import load_twin
    from benchmark.synth import make_twin

    root = tmp_path_factory.mktemp("people")
    make_twin("sim-finegpr", root, scale="tiny")
    spec = root / "redcoats.toml"
    spec.write_text(SPEC)
    make_twin(str(spec), root, scale="demo")
    source, target = load_twin("sim-finegpr", root), load_twin("sim-redcoats", root)
    found = optimise_attributes(source, target, PROFILE, seed=0, cache_root=root / "cache")
    return root, source, target, found


def test_people_recovers_a_skewed_clothing_colour_better_than_uniform(skewed):
    from benchmark.aost.heading import diagonals_decide
    from benchmark.aost.people import FOOTAGE

    _, _, target, found = skewed
    prior = target.meta["twin"]["prior"]
    for a in ("upper_colour", "lower_colour"):
        uniform = np.full(BY_NAME[a].n, 1.0 / BY_NAME[a].n)
        tv, tv_uniform = total_variation(found.v_star[a], prior[a]), total_variation(uniform, prior[a])
        assert found.details["people"][a]["used"], f"{a}: the classifier was not trusted ({found.details['people'][a]})"
        assert tv < 0.7 * tv_uniform, f"{a}: TV {tv:.3f} vs uniform's {tv_uniform:.3f}"
    assert found.details["method"] == "people"
    assert "calibration_accuracy" in found.details["people_heading"]  # the heading classifier ran and was calibrated
    assert found.details["people_heading"]["footage"] == FOOTAGE  # a rendered source: it learnt on footage, and says so
    assert found.details["people_heading"]["tensors_from_partnet"] == 30  # five convs and batch norms, as it says
    heading = found.details["people_heading"]
    quadrants, diagonals = (np.array(list(heading[k].values())) if heading[k] else None for k in ("quadrants", "diagonals"))
    assert heading["refined_by_diagonals"] == diagonals_decide(quadrants, diagonals)  # the record is the rule's
    assert set(found.v_star) >= {"weather", "illumination", "scene", "viewpoint"}


def test_people_estimates_the_environment_with_heads_of_its_own(skewed):
    """Weather, illumination and scene come from the classifier's own heads by BBSE where they can tell
    their classes apart (gatys's V* otherwise), and the record says which; the target's daylight is found."""
    _, _, target, found = skewed
    came_from = found.details["people_environment_from"]
    assert set(came_from) == {"weather", "illumination", "scene"}
    for e, origin in came_from.items():
        assert origin == ("people" if found.details["people"][e]["used"] else "gatys")
    assert came_from["illumination"] == "people"
    prior = target.meta["twin"]["prior"]["illumination"]
    uniform = np.full(len(prior), 1.0 / len(prior))
    assert total_variation(found.v_star["illumination"], prior) < 0.7 * total_variation(uniform, prior)


def test_people_is_deterministic_and_never_reads_the_targets_labels_or_prior(skewed, tmp_path):
    """The same seed in a fresh cache, on the target with every label scrambled and its twin prior removed."""
    from benchmark.aost.ao import optimise_attributes

    root, source, target, found = skewed
    rng = np.random.default_rng(1)
    scrambled_attrs = [{a: int(rng.integers(1, BY_NAME[a].n + 1)) for a in BY_NAME} for _ in target.train]
    train = [dataclasses.replace(r, pid=int(rng.integers(1, 10**6)), camid=int(rng.integers(0, 9)), attrs=at)
             for r, at in zip(target.train, scrambled_attrs)]
    blind = dataclasses.replace(target, train=train, meta={k: v for k, v in target.meta.items() if k != "twin"})
    for name in ("labels.csv", "twin.toml"):  # nothing on disk to peek at either
        (root / "sim-redcoats" / name).unlink(missing_ok=True)
    again = optimise_attributes(source, blind, PROFILE, seed=0, cache_root=tmp_path / "cache")
    assert again.details["people_cached"] is False  # trained afresh
    assert again.v_star == found.v_star


def test_recovery_summary_shows_ratios_per_method_as_ranges_over_seeds():
    from benchmark.perf.ao import COLUMNS, summarise

    def run(method, seed, tv_upper, seconds):
        attrs = {a: {"tv": 0.3, "tv_uniform": 0.6} for a in BY_NAME}
        attrs["upper_colour"] = {"tv": tv_upper, "tv_uniform": 0.8}
        attrs["gender"] = {"tv": 0.1, "tv_uniform": 0.0}  # a uniform prior: no ratio for it alone
        return {"target": "sim-x", "method": method, "seed": seed, "attributes": attrs, "seconds": seconds}

    rows = summarise([run("gatys", 0, 0.8, 10), run("people", 0, 0.2, 30), run("gatys", 1, 0.8, 20),
                      run("people", 1, 0.4, 50)])
    assert [(r["target"], r["method"]) for r in rows] == [("sim-x", "gatys"), ("sim-x", "people")]
    col = [k for k, _ in COLUMNS].index("upper_colour")
    assert rows[0]["cells"][col] == "1.00" and rows[1]["cells"][col] == "0.25-0.50"
    assert rows[0]["cells"][[k for k, _ in COLUMNS].index("weather")] == "0.50"
    assert rows[1]["seconds"] == "40" and rows[1]["last"] and not rows[0]["last"]


def test_perf_ao_recovery_refuses_unknown_methods_and_targets_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    res = runner.invoke(app, ["perf", "ao-recovery", "--methods", "gatys,vibes"])
    assert res.exit_code != 0 and "unknown AO method(s) vibes; expected gatys, people" in " ".join(res.output.split())
    res = runner.invoke(app, ["perf", "ao-recovery", "--targets", "sim-nope", "--data-root", str(tmp_path)])
    assert res.exit_code != 0 and "--targets: unknown twin 'sim-nope'" in " ".join(res.output.split())
    assert "Traceback" not in res.output


def test_heading_quadrants_agree_with_the_sectors_and_mirror():
    from benchmark.aost.heading import MIRROR_QUADRANT, quadrant_of
    from benchmark.aost.people import MIRROR, QUADRANTS, classes_of

    codes = np.arange(1, 37)
    quads = quadrant_of(codes)
    assert (quads == QUADRANTS[classes_of("viewpoint", codes)].argmax(1)).all()  # one notion of a quadrant
    assert quadrant_of(np.array([28]))[0] == 0 and quadrant_of(np.array([10]))[0] == 2  # 0 deg front, 180 back
    mirrored = (((360 - (90 + 10 * (codes - 1))) % 360 - 90) % 360) // 10 + 1  # heading a -> -a
    assert (quadrant_of(mirrored) == MIRROR_QUADRANT.numpy()[quads]).all()
    sectors = classes_of("viewpoint", codes)
    assert (QUADRANTS[MIRROR.numpy()[sectors]].argmax(1) == MIRROR_QUADRANT.numpy()[quads]).all()


def test_diagonal_quadrants_are_turned_45_degrees_and_mirror():
    from benchmark.aost.heading import MIRROR_DIAGONAL, diagonal_labels

    codes = np.arange(1, 37)
    y = diagonal_labels(codes)
    assert np.allclose(y.sum(1), 1.0) and np.allclose(y.sum(0), 9.0)  # each diagonal quadrant holds 90 deg
    assert np.allclose(y[27], [0.5, 0, 0, 0.5])  # 0 deg (front) lies on front-right's and front-left's edge
    assert np.allclose(y[4], [0, 1, 0, 0])  # 130 deg: back-right
    mirrored = (((360 - (90 + 10 * (codes - 1))) % 360 - 90) % 360) // 10 + 1  # heading a -> -a
    assert np.allclose(diagonal_labels(mirrored), y[:, MIRROR_DIAGONAL.numpy()])


def test_the_diagonals_place_mass_on_the_axis_quadrants_edges_and_stay_out_near_the_axes():
    """Headings at 135 and 315 deg: the axis quadrants look even and their shape inside each quadrant is
    flat; the sharp diagonal estimate moves the mass to the right side of each edge. A right-profile
    target with a diagonal estimate that leans front (the error measured on profiles) keeps `p`."""
    from benchmark.aost.heading import AXIS_OF_CODE, DIAGONAL_OF_CODE, refine_with_diagonals

    angle = (90 + 10 * np.arange(36)) % 360
    def peaks(*centres):
        d = np.min([np.minimum(np.abs(angle - c), 360 - np.abs(angle - c)) for c in centres], 0)
        p = np.exp(-0.5 * (d / 20.0) ** 2)
        return p / p.sum()

    truth = peaks(135, 315)
    flat = AXIS_OF_CODE @ (AXIS_OF_CODE.T @ truth) / 9  # right masses, even inside each quadrant
    refined = refine_with_diagonals(flat, AXIS_OF_CODE.T @ truth, DIAGONAL_OF_CODE.T @ truth)
    assert total_variation(refined, truth) < 0.5 * total_variation(flat, truth)
    assert np.allclose(AXIS_OF_CODE.T @ refined, AXIS_OF_CODE.T @ truth, atol=0.02)
    profile = peaks(90)
    p = AXIS_OF_CODE @ (AXIS_OF_CODE.T @ profile) / 9
    leaning = np.array([0.8, 0.2, 0.0, 0.0])  # front-right over back-right
    assert refine_with_diagonals(p, AXIS_OF_CODE.T @ profile, leaning) is p
    assert refine_with_diagonals(p, AXIS_OF_CODE.T @ profile, None) is p
    # both profiles, and a diagonal head sure they lean to the front: sharper, but it puts the mass in the
    # front quadrant's neighbours' halves where the axis head sees none in front
    two = peaks(90, 270)
    p = AXIS_OF_CODE @ (AXIS_OF_CODE.T @ two) / 9
    assert refine_with_diagonals(p, AXIS_OF_CODE.T @ two, np.array([0.5, 0.0, 0.0, 0.5])) is p


def test_the_confusion_is_taken_under_the_targets_environment():
    """A classifier that tells front from back by day and swaps them at night: weighted to a night target's
    illumination, BBSE finds the night target's backs; over the source's balanced light it cannot."""
    from benchmark.aost.people import confusion, effective_size, environment_weights, label_shift

    day = np.eye(4) * 0.7 + 0.075
    night = np.array([[0.2, 0.1, 0.6, 0.1], [0.1, 0.7, 0.1, 0.1], [0.6, 0.1, 0.2, 0.1], [0.1, 0.1, 0.1, 0.7]])
    rng = np.random.default_rng(0)
    labels = rng.integers(1, 5, 1400)
    light = np.resize(np.arange(1, 8), 1400)  # 7 illuminations, balanced; 5-7 are dark
    probs = np.where((light >= 5)[:, None], night.T[labels - 1], day.T[labels - 1])
    truth = np.array([0.05, 0.05, 0.85, 0.05])  # seen from behind, at night
    mu = night @ truth
    dark = {"illumination": [0, 0, 0, 0, 0.5, 0.5, 0], "weather": [1 / 7] * 7}
    w = environment_weights({"illumination": light, "weather": np.resize(np.arange(1, 8), 1400)}, dark)
    assert w is not None and w[light < 5].max() == 0 and abs(w.mean() - 1) < 1e-9
    assert 380 < effective_size(w, 1400) < 420  # two of seven illuminations
    weighted = label_shift(confusion(probs, labels, 4, w), mu, 1e-3)
    balanced = label_shift(confusion(probs, labels, 4), mu, 1e-3)
    assert total_variation(weighted, truth) < 0.02
    assert total_variation(balanced, truth) > 0.3
    assert environment_weights({"illumination": light}, None) is None


def test_the_random_cameras_resolution_loss_covers_its_range():
    import torch

    from benchmark.aost.people import resolution_factor

    gen = torch.Generator().manual_seed(0)
    f = [resolution_factor(gen) for _ in range(200)]
    assert min(f) < 0.5 and max(f) > 0.95  # not one typical factor (a median over the batch was ~0.72)


def test_the_quadrant_estimate_decides_each_quadrants_mass_and_the_sectors_its_shape():
    """A sector system that is sure of sector 4 (130 deg: back, at the edge of the right profile) but
    whose BBSE would leak mass across quadrants: the quadrant masses are the heading estimate's, and
    inside the back quadrant most of the mass stays on the sector the classifier saw."""
    from benchmark.aost.people import QUADRANTS, SECTOR_SHAPE, VIEW_SECTORS, viewpoint_shift

    c = 0.5 * np.eye(VIEW_SECTORS) + 0.5 / VIEW_SECTORS
    q_true = np.eye(VIEW_SECTORS)[4]
    coarse = np.array([0.05, 0.25, 0.65, 0.05])  # front, right, back, left
    q = viewpoint_shift(c, c @ q_true, 0.05, coarse)
    assert q.sum() == pytest.approx(1.0) and (q >= 0).all()
    assert np.allclose(QUADRANTS.T @ q, coarse)
    back = QUADRANTS[:, 2].astype(bool)
    assert q[4] / q[back].sum() >= SECTOR_SHAPE * 0.9  # the sectors' shape, not spread evenly
    # a quadrant the sectors gave nothing to is spread evenly, not dropped
    assert np.allclose(q[QUADRANTS[:, 0].astype(bool)], coarse[0] / 3)


def test_the_heading_net_reads_a_mirror_image_as_the_mirrored_heading():
    """Averaged with the mirror image, a left/right bias of the net cannot shift the profiles' masses."""
    import torch

    from benchmark.aost.heading import AXES, DIAGONALS, MIRROR_DIAGONAL, MIRROR_QUADRANT, HeadingNet, predict_heading

    torch.manual_seed(0)
    net = HeadingNet().eval()
    with torch.no_grad():  # a strong bias to the right profile, and to the front-right diagonal
        net.head.bias.copy_(torch.tensor([0.0, 2.0, 0.0, -2.0, 2.0, 0.0, 0.0, -2.0]))
    x = torch.randn(6, 3, 64, 32)
    p, pm = predict_heading(net, x), predict_heading(net, x.flip(3))
    assert np.allclose(pm[:, AXES], p[:, AXES][:, MIRROR_QUADRANT.numpy()], atol=1e-6)
    assert np.allclose(pm[:, DIAGONALS], p[:, DIAGONALS][:, MIRROR_DIAGONAL.numpy()], atol=1e-6)
    assert np.allclose(p[:, AXES].sum(1), 1.0) and np.allclose(p[:, DIAGONALS].sum(1), 1.0)


def test_the_heading_net_starts_from_the_attribute_nets_first_layers():
    import torch

    from benchmark.aost.heading import HeadingNet, start_from
    from benchmark.aost.people import _new_net

    torch.manual_seed(0)
    parts = _new_net(["upper_colour", "viewpoint"])
    net = HeadingNet()
    last = net.body[17].weight.detach().clone()  # the heading net's own sixth conv: PartNet has no such layer
    assert start_from(net, parts.body) == 5 + 5 * 5  # five convs and their batch norms (weights, biases, statistics)
    for i in (0, 3, 7, 10, 14):
        assert torch.equal(net.body[i].weight, parts.body[i].weight)
        assert torch.equal(net.body[i + 1].running_var, parts.body[i + 1].running_var)
    assert torch.equal(net.body[17].weight, last)
