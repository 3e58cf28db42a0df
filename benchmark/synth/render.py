"""render_image: one person crop from id attributes + environment attributes.

Pipeline: scene background (the camera's stretch, jittered) -> snow / wet
ground -> shadow -> the person (look from the id attributes and per-id
detail, seen at the viewpoint, in a random gait phase) -> fog, flakes, rain
-> time-of-day light -> camera style -> uint8 (-> JPEG round trip when the
style names a quality).

Viewpoint convention: FineGPR's code k means the angle (90 + 10(k-1)) mod 360
(benchmark.attributes.viewpoint_angle); the engine reads it as the person's
heading relative to the camera, 0 deg = facing the camera, 180 deg = from
behind (so c28 is a front view, c10 a back view, c01 and c19 profiles).

Every random choice comes from numpy Generators seeded by (twin_seed, pid)
for the person and (twin_seed, pid, seed) for the image: the same call
always returns the same pixels, in any order, in any process.
"""
from __future__ import annotations

from typing import Any, Mapping

import cv2
import numpy as np

from benchmark.attributes import ENV_ATTRIBUTES, ENV_NAMES, ID_ATTRIBUTES, viewpoint_angle
from benchmark.synth import camera
from benchmark.synth import scene as sc
from benchmark.synth.camera import jpeg_roundtrip, validate_style
from benchmark.synth.figure import Placement, Pose, draw_person
from benchmark.synth.identity import identity_look, passerby_look
from benchmark.synth.raster import Painter

DEFAULT_SIZE = (128, 64)  # (height, width), Market-like
FINEGPR_SIZE = (480, 200)  # FineGPR's own resolution


def _env_codes(env: Mapping[str, int]) -> tuple[int, int, int, int]:
    codes = []
    for attr in ENV_ATTRIBUTES:
        if attr.name not in env:
            raise ValueError(f"env is missing {attr.name!r}; expected all of: {', '.join(ENV_NAMES)}")
        c = int(env[attr.name])
        if not 1 <= c <= attr.n:
            raise ValueError(f"env attribute {attr.name}={c} out of range 1..{attr.n}")
        codes.append(c)
    return tuple(codes)  # type: ignore[return-value]


def _size(size) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (height, width), got {size!r}") from None
    if h < 16 or w < 8 or h > 2048 or w > 2048:
        raise ValueError(f"size (height, width) must be within 16x8..2048x2048, got {size!r}")
    return h, w


def render_raw(
    id_attrs: Mapping[str, int],
    env: Mapping[str, int],
    pid: int,
    *,
    size=DEFAULT_SIZE,
    seed: int = 0,
    camera_style: Mapping[str, Any] | None = None,
    twin_seed: int = 0,
    _style_checked: dict | None = None,
) -> np.ndarray:
    """Like render_image but without the JPEG round trip (the writer encodes once, at the camera's quality)."""
    h, w = _size(size)
    vp, weather, illum, scene = _env_codes(env)
    look = identity_look(id_attrs, pid, twin_seed)
    style = _style_checked if _style_checked is not None else validate_style(camera_style)
    rng = np.random.default_rng([int(twin_seed) % (1 << 64), int(pid) % (1 << 64), int(seed) % (1 << 64), 0x1A6E])

    img, hz = sc.background(scene, h, w, style["view"], rng, style["backdrop"])
    sc.weather_ground(img, hz, weather, rng)
    p = Painter(img)
    j = style["crop_jitter"]  # a detector's box: the person off-centre, too big or too small, cut off
    unit = h * look.fill * rng.uniform(0.93 - 0.2 * j, 1.01 + 0.15 * j)
    ground = h * (rng.uniform(0.955, 0.985) + j * rng.uniform(-0.1, 0.1))
    cx = w * (0.5 + rng.uniform(-0.06 - 0.12 * j, 0.06 + 0.12 * j))
    occluder = _occluder(rng, style["occlusion"], w, h, cx, ground, unit, vp)
    if occluder is not None and not occluder[0]:
        draw_person(p, *occluder[1:])  # behind: someone further away
    sc.shadow(p, cx, ground, unit, weather, sc.daylight(illum), rng)
    walking = rng.random() < 0.85
    pose = Pose(theta_deg=viewpoint_angle(vp) + rng.uniform(-4.0, 4.0), phase=rng.uniform(0.0, 2 * np.pi),
                walk=rng.uniform(0.6, 1.0) if walking else rng.uniform(0.0, 0.15))
    draw_person(p, look, pose, Placement(cx=cx, ground=ground, unit=unit))
    if occluder is not None and occluder[0]:
        draw_person(p, *occluder[1:])  # in front: someone passing closer to the camera
    return _finish(img, weather, illum, style, rng)


def _occluder(rng: np.random.Generator, prob: float, w: int, h: int, cx: float, ground: float, unit: float,
              vp: int):
    """(in front?, look, pose, placement) of another pedestrian partly in the box, or None.

    Always draws the same random numbers, so the rest of the image does not depend on `prob`."""
    u = rng.random(6)
    if u[0] >= prob:
        return None
    front = u[1] < 0.5
    side = -1.0 if u[2] < 0.5 else 1.0
    who = np.random.default_rng(int(u[3] * 2**32))
    attrs = {a.name: int(who.integers(1, a.n + 1)) for a in ID_ATTRIBUTES}
    look = passerby_look(attrs, int(u[5] * 1e9))
    scale = 1.08 if front else 0.85
    place = Placement(cx=cx + side * w * (0.3 + 0.5 * abs(u[2] - 0.5)), ground=ground + (0.04 if front else -0.06) * h,
                      unit=unit * scale)
    heading = viewpoint_angle(vp) + (180.0 if u[1] < 0.25 else 0.0) + 40.0 * (u[4] - 0.5)
    return front, look, Pose(theta_deg=heading, phase=u[5] * 6.28, walk=0.8), place


def _finish(img: np.ndarray, weather: int, illum: int, style: Mapping[str, Any], rng: np.random.Generator
            ) -> np.ndarray:
    """Weather colour, fog, time-of-day light and the camera's colour in one affine pass, then optics.

    All colour steps are affine per pixel, so they fold into one matrix M; fog
    and the night lamp vary by row only and become a per-row scale and offset:
        out = rows_scale * (M x) + rows_offset
    """
    h = img.shape[0]
    m = cv2.mean(img)
    grey = (m[0] + m[1] + m[2]) / 3.0
    A, a = sc.weather_colour(weather, grey)
    B, lamp, brightness = sc.illumination(illum, h, rng)
    fog = sc.weather_fog(weather, h, rng)
    C, c = camera.style_colour(style, float(np.mean(B @ (A @ np.array(m[:3]) + a))))
    CB = C @ B
    M = CB @ A
    if fog is None and lamp is None:  # the common case: one affine transform does it all
        affine = np.hstack((M, (CB @ a + c)[:, None])).astype(np.float32)
        out = cv2.transform(img.astype(np.float32), affine)
    else:
        w = img.shape[1]
        g = lamp if lamp is not None else np.ones(h)
        f = fog[0] if fog is not None else np.zeros(h)
        scale = g * (1.0 - f)
        offset = scale[:, None] * (CB @ a)[None, :] + c[None, :]
        if fog is not None:
            offset += (g * f)[:, None] * (CB @ fog[1])[None, :]
        out = cv2.transform(img.astype(np.float32), M.astype(np.float32))
        rows = out.reshape(h, w * 3)  # per-row terms over whole rows (fast inner loops)
        rows *= scale.astype(np.float32)[:, None]
        rows += np.tile(offset.astype(np.float32), (1, w))
    sc.particles(out, weather, CB @ np.full(3, 255.0), rng)
    out = camera.apply_optics(out, style, rng, brightness)
    return camera.to_uint8(out, style["gamma"])


def render_image(
    id_attrs: Mapping[str, int],
    env: Mapping[str, int],
    pid: int,
    *,
    size=DEFAULT_SIZE,
    seed: int = 0,
    camera_style: Mapping[str, Any] | None = None,
    twin_seed: int = 0,
) -> np.ndarray:
    """Render one person crop (H x W x 3 uint8, size = (height, width)).

    id_attrs: the 13 FineGPR id attributes (name -> 1-based code); env: viewpoint,
    weather, illumination, scene codes. pid and twin_seed fix the person's
    per-id detail (two pids with equal attributes still differ); seed fixes the
    image's jitter (pose, placement, flakes, noise). camera_style: see
    benchmark.synth.camera.STYLE_KEYS; with a `jpeg` quality the crop is JPEG
    round-tripped so it looks like the written file.
    """
    style = validate_style(camera_style)
    img = render_raw(id_attrs, env, pid, size=size, seed=seed, twin_seed=twin_seed, _style_checked=style)
    if style["jpeg"]:
        img = jpeg_roundtrip(img, style["jpeg"])
    return img
