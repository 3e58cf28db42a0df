"""Where and when: the 9 scene backgrounds, the 7 weathers and the 7 illuminations.

Each scene is a wide panorama (4 crop-widths) built once per crop size from a
fixed seed and cached; a camera looks at its own stretch of it (`view`), and
every image jitters that window a little. Weather acts on the ground before
the person is drawn (snow cover, wet asphalt, shadows) and on the whole
image after (fog, haze, snow flakes, rain streaks, contrast); illumination
(time of day) sets brightness, colour temperature and saturation last.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from benchmark.synth.raster import Painter

PANORAMA_WIDTHS = 4  # panorama width in crop widths

# code -> horizon as a fraction of the crop height (ground below it)
_HORIZON = {1: 0.42, 2: 0.46, 3: 0.36, 4: 0.40, 5: 0.50, 6: 0.44, 7: 0.40, 8: 0.34, 9: 0.44}


def _noise(shape: tuple[int, int], cells: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Smooth noise in about [-1, 1]: a coarse random grid upsampled."""
    small = rng.standard_normal((max(cells[0], 2), max(cells[1], 2))).astype(np.float32)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC) * np.float32(0.6)


class _Paint:
    """`with _Paint(img) as p:` paints on a float canvas through the uint8 Painter."""

    def __init__(self, img: np.ndarray):
        self.img = img

    def __enter__(self) -> Painter:
        self.u8 = (np.clip(self.img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return Painter(self.u8)

    def __exit__(self, *exc) -> None:
        self.img[:] = self.u8.astype(np.float32) / np.float32(255.0)


def _fill(img: np.ndarray, y0: int, y1: int, colour, texture: np.ndarray | None = None, amount: float = 0.0):
    col = np.asarray(colour, np.float32)
    if texture is None:
        img[y0:y1] = col
    else:
        img[y0:y1] = col * (1.0 + amount * texture[y0:y1, :, None])


def _sky(img: np.ndarray, y1: int, top, bottom) -> None:
    t = np.linspace(0.0, 1.0, max(y1, 1), dtype=np.float32)[:, None, None]
    img[:y1] = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t


def _ground(img: np.ndarray, hz: int, base, line, tile: float, line_w: float, rng: np.random.Generator,
            texture: float = 0.08, lines: str = "grid") -> None:
    """Ground plane from the horizon down, with perspective tile or lane lines."""
    h, w = img.shape[:2]
    ys = np.arange(hz, h, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(w, dtype=np.float32)[None, :] + 0.5
    t = (ys - hz) / max(h - hz, 1)  # 0 at the horizon, 1 at the bottom
    depth = 1.0 / np.maximum(t, 0.02)
    gx = (xs - w / 2) / h * depth
    gz = depth
    tex = _noise((h - hz, w), (max((h - hz) // 6, 2), max(w // 6, 2)), rng)
    region = np.asarray(base, np.float32) * (1.0 + texture * tex[..., None])
    if lines != "none":
        fx = np.abs(((gx / tile) % 1.0) - 0.5)
        fz = np.abs(((gz / tile) % 1.0) - 0.5)
        lw = line_w * 0.5
        if lines == "grid":
            m = (fx > 0.5 - lw) | (fz > 0.5 - lw * 1.5)
        else:  # lanes: long dashes along the depth direction
            m = (fx > 0.5 - lw * 0.6) & (((gz / tile) % 1.0) < 0.5)
        region = np.where(m[..., None], np.asarray(line, np.float32), region)
    img[hz:] = region


def _facade(img: np.ndarray, y0: int, y1: int, wall, window, cols: float, rows: int, rng: np.random.Generator,
            frame=None) -> None:
    h, w = img.shape[:2]
    tex = _noise((h, w), (h // 8 + 2, w // 8 + 2), rng)
    _fill(img, y0, y1, wall, tex, 0.07)
    cell_w = img.shape[0] / cols
    cell_h = (y1 - y0) / rows
    with _Paint(img) as p:
        for r in range(rows):
            for k in range(int(w / cell_w) + 1):
                x = k * cell_w + cell_w * 0.18
                y = y0 + r * cell_h + cell_h * 0.2
                shade = np.asarray(window, np.float32) * np.float32(rng.uniform(0.75, 1.25))
                if frame is not None:
                    p.box(x - 1, y - 1, x + cell_w * 0.64 + 1, y + cell_h * 0.6 + 1, frame)
                p.box(x, y, x + cell_w * 0.64, y + cell_h * 0.6, shade)


def _trees(img: np.ndarray, y_base: float, n: int, size: float, rng: np.random.Generator, trunk=True,
           greens=((0.16, 0.33, 0.14), (0.22, 0.42, 0.18), (0.12, 0.26, 0.12))) -> None:
    h, w = img.shape[:2]
    with _Paint(img) as p:
        for _ in range(n):
            x = rng.uniform(0, w)
            r = size * h * rng.uniform(0.7, 1.3)
            g = np.asarray(greens[rng.integers(len(greens))], np.float32) * np.float32(rng.uniform(0.8, 1.2))
            if trunk:
                p.capsule(x, y_base, x, y_base - r * 1.2, r * 0.12, r * 0.1, (0.30, 0.21, 0.13), shade=0.3)
            p.ellipse(x, y_base - r * 1.5, r * rng.uniform(0.7, 1.0), r, g, shade=0.35)


class _Variant:
    """Another place of the same kind: variant 0 is the source's own scene; any other variant redraws
    its colours, proportions and horizon (a target twin's campus is not FineGPR's city)."""

    def __init__(self, scene: int, variant: int):
        self.on = variant != 0
        self.rng = np.random.default_rng([0xBAC, scene, variant])

    def c(self, colour):
        if not self.on:
            return colour
        tint = self.rng.uniform(0.8, 1.2, 3) * self.rng.uniform(0.8, 1.15)
        return tuple(float(v) for v in np.clip(np.asarray(colour) * tint, 0.02, 0.98))

    def f(self, x: float, lo: float = 0.7, hi: float = 1.45) -> float:
        return x * self.rng.uniform(lo, hi) if self.on else x

    def horizon(self, frac: float) -> float:
        return float(np.clip(frac + self.rng.uniform(-0.07, 0.07), 0.25, 0.6)) if self.on else frac


@lru_cache(maxsize=64)
def panorama(scene: int, h: int, w: int, variant: int = 0) -> np.ndarray:
    """The scene's background panorama (h x PANORAMA_WIDTHS*w x 3 uint8), read-only.

    `variant` picks another place of the same kind (0 = the source's). Built in float (fills,
    gradients, textures); shapes go through the uint8 Painter via _Paint.
    """
    if not 1 <= scene <= 9:
        raise ValueError(f"scene code {scene} out of range 1..9")
    W = w * PANORAMA_WIDTHS
    img = np.zeros((h, W, 3), np.float32)
    rng = np.random.default_rng([0x5CE7E, scene] + ([variant] if variant else []))
    V = _Variant(scene, variant)
    C, F = V.c, V.f
    hz = int(round(V.horizon(_HORIZON[scene]) * h))
    if scene == 1:  # urban: concrete office block over a paved sidewalk
        _facade(img, 0, hz, C((0.62, 0.61, 0.58)), C((0.16, 0.22, 0.30)), F(2.2), int(F(3)), rng,
                frame=C((0.45, 0.45, 0.44)))
        _ground(img, hz, C((0.66, 0.64, 0.60)), C((0.50, 0.49, 0.47)), F(0.9), 0.10, rng)
    elif scene == 2:  # urban: brick wall over an asphalt street
        _facade(img, 0, hz, C((0.52, 0.26, 0.19)), C((0.58, 0.30, 0.22)), F(6.0), int(F(9)), rng)
        img[hz - max(h // 40, 1):hz] = C((0.55, 0.55, 0.53))
        _ground(img, hz, C((0.27, 0.27, 0.29)), C((0.85, 0.85, 0.80)), F(1.6), 0.07, rng, texture=0.12,
                lines="lanes")
    elif scene == 3:  # wild: meadow with a tree line under open sky
        _sky(img, hz, C((0.45, 0.65, 0.90)), C((0.78, 0.86, 0.93)))
        _trees(img, hz + 2, int(F(10) * PANORAMA_WIDTHS), F(0.09), rng, trunk=False)
        _ground(img, hz, C((0.36, 0.55, 0.22)), (0, 0, 0), 1.0, 0.0, rng, texture=0.18, lines="none")
    elif scene == 4:  # urban: glass office over a light stone plaza
        _facade(img, 0, hz, C((0.30, 0.36, 0.42)), C((0.45, 0.62, 0.78)), F(1.4), int(F(2)), rng,
                frame=C((0.25, 0.27, 0.30)))
        _ground(img, hz, C((0.80, 0.76, 0.66)), C((0.62, 0.58, 0.50)), F(1.4), 0.05, rng)
    elif scene == 5:  # wild: forest path
        _sky(img, hz, C((0.30, 0.40, 0.30)), C((0.40, 0.48, 0.36)))
        _trees(img, hz + 4, int(F(14) * PANORAMA_WIDTHS), F(0.16), rng,
               greens=(C((0.10, 0.24, 0.10)), C((0.14, 0.30, 0.12)), C((0.18, 0.34, 0.16))))
        _ground(img, hz, C((0.42, 0.33, 0.22)), (0, 0, 0), 1.0, 0.0, rng, texture=0.2, lines="none")
        side = _noise((h - hz, img.shape[1]), (3, PANORAMA_WIDTHS * 3), rng)
        grass = np.asarray(C((0.25, 0.40, 0.16)), np.float32)
        img[hz:] = np.where((side > 0.25)[..., None], grass, img[hz:])
    elif scene == 6:  # urban: shop fronts with awnings over a tiled floor
        _facade(img, 0, hz, C((0.78, 0.74, 0.66)), C((0.20, 0.22, 0.26)), F(1.1), 1, rng)
        awn = [C((0.70, 0.15, 0.12)), C((0.12, 0.45, 0.22)), C((0.85, 0.70, 0.15)), C((0.15, 0.30, 0.60))]
        step = h * F(0.9)
        with _Paint(img) as p:
            for k in range(int(img.shape[1] / step) + 1):
                col = np.asarray(awn[rng.integers(len(awn))], np.float32)
                p.box(k * step + 2, 0.08 * h, (k + 1) * step - 2, 0.16 * h, col)
        _ground(img, hz, C((0.55, 0.55, 0.57)), C((0.40, 0.40, 0.42)), F(0.6), 0.08, rng)
    elif scene == 7:  # urban: street with parked cars
        _sky(img, int(0.12 * h), C((0.60, 0.72, 0.88)), C((0.75, 0.80, 0.86)))
        _facade(img, int(0.12 * h), hz, C((0.55, 0.50, 0.45)), C((0.25, 0.28, 0.32)), F(3.0), int(F(3)), rng)
        img[hz:hz + int(0.10 * h)] = C((0.50, 0.50, 0.49))  # the far sidewalk the cars park on
        cars = [(0.75, 0.1, 0.1), (0.1, 0.1, 0.12), (0.85, 0.85, 0.85), (0.2, 0.3, 0.6), (0.5, 0.5, 0.52)]
        x = rng.uniform(0, h * 0.3)
        with _Paint(img) as p:
            while x < img.shape[1]:
                cw = h * rng.uniform(0.5, 0.7)
                col = np.asarray(cars[rng.integers(len(cars))], np.float32)
                base = hz + 0.10 * h
                p.box(x, base - 0.10 * h, x + cw, base, col)
                p.box(x + cw * 0.2, base - 0.16 * h, x + cw * 0.8, base - 0.09 * h, col * np.float32(0.6))
                x += cw + h * rng.uniform(0.05, 0.3)
        _ground(img, hz + int(0.10 * h), C((0.33, 0.33, 0.34)), C((0.90, 0.90, 0.88)), F(1.0), 0.05, rng,
                texture=0.1, lines="lanes")
    elif scene == 8:  # wild: beach with the sea behind
        _sky(img, hz, C((0.50, 0.72, 0.95)), C((0.85, 0.90, 0.95)))
        sea = int(hz + F(0.08) * h)
        img[hz:sea] = C((0.20, 0.42, 0.62))
        _ground(img, sea, C((0.86, 0.78, 0.58)), (0, 0, 0), 1.0, 0.0, rng, texture=0.1, lines="none")
    else:  # 9 urban park: hedge and lamp posts along a paved path with lawn
        top = int(F(0.25) * h)
        _facade(img, 0, top, C((0.70, 0.68, 0.64)), C((0.30, 0.34, 0.40)), F(2.0), 1, rng)
        img[top:hz] = C((0.15, 0.30, 0.13))
        tex = _noise((h, img.shape[1]), (h // 6, img.shape[1] // 6), rng)
        img[top:hz] *= (1.0 + 0.25 * tex[top:hz, :, None])
        step = h * F(0.8)
        with _Paint(img) as p:
            for k in range(int(img.shape[1] / step) + 1):
                x = k * step + h * 0.2
                p.capsule(x, 0.02 * h, x, hz + 0.02 * h, 0.012 * h, 0.012 * h, (0.12, 0.12, 0.13), shade=0.2)
                p.ellipse(x, 0.03 * h, 0.04 * h, 0.025 * h, (0.95, 0.92, 0.75), shade=0.0)
        _ground(img, hz, C((0.60, 0.58, 0.55)), C((0.34, 0.50, 0.22)), F(1.2), 0.12, rng)
    out = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    out.setflags(write=False)
    _HZ[(scene, h, w, variant)] = hz
    return out


_HZ: dict[tuple[int, int, int, int], int] = {}  # the horizon row of each built panorama


def background(scene: int, h: int, w: int, view: float, rng: np.random.Generator, variant: int = 0
               ) -> tuple[np.ndarray, int]:
    """A writable h x w uint8 crop of the scene at camera position `view` (0..1) with per-image jitter,
    and the horizon row (where the ground starts)."""
    pano = panorama(int(scene), h, w, int(variant))
    span = pano.shape[1] - w
    x = int(round(np.clip(view + rng.uniform(-0.04, 0.04), 0.0, 1.0) * span))
    return pano[:, x:x + w].copy(), _HZ[(int(scene), h, w, int(variant))]


# ---- weather ---------------------------------------------------------------
# code: (shadow strength, ground snow cover, wet ground, fog/haze amount, fog colour,
#        saturation, contrast, flakes per pixel, rain)
WEATHER_FX = {
    1: (0.45, 0.0, 0.0, 0.00, (0.80, 0.82, 0.85), 1.12, 1.12, 0.0, False),  # Sunny
    2: (0.25, 0.0, 0.0, 0.05, (0.80, 0.83, 0.88), 1.00, 1.00, 0.0, False),  # Clouds
    3: (0.08, 0.0, 0.25, 0.10, (0.62, 0.64, 0.67), 0.68, 0.88, 0.0, True),  # Overcast (drizzle)
    4: (0.00, 0.0, 0.05, 0.48, (0.80, 0.81, 0.82), 0.80, 0.92, 0.0, False),  # Foggy
    5: (0.18, 0.0, 0.0, 0.00, (0.80, 0.80, 0.80), 1.00, 1.00, 0.0, False),  # Neutral
    6: (0.00, 0.85, 0.0, 0.36, (0.90, 0.92, 0.95), 0.70, 0.85, 0.018, False),  # Blizzard
    7: (0.12, 0.55, 0.0, 0.08, (0.90, 0.92, 0.95), 0.92, 1.00, 0.004, False),  # Snowlight
}


def weather_ground(img: np.ndarray, hz: int, weather: int, rng: np.random.Generator) -> None:
    """Snow cover or wet ground below the horizon row `hz` of the uint8 background (in place)."""
    _, snow, wet, *_ = WEATHER_FX[weather]
    if not snow and not wet:
        return
    ground = img[hz:]
    if snow:
        a = snow * rng.uniform(0.85, 1.0)
        cv2.convertScaleAbs(ground, dst=ground, alpha=1.0 - a, beta=237.0 * a)
        roof = img[: max(hz // 8, 1)]
        cv2.convertScaleAbs(roof, dst=roof, alpha=1.0 - 0.5 * a, beta=242.0 * 0.5 * a)
    if wet:
        cv2.convertScaleAbs(ground, dst=ground, alpha=1.0 - wet, beta=0.0)


def shadow(p: Painter, cx: float, ground: float, unit: float, weather: int, daylight: float, rng) -> None:
    strength = WEATHER_FX[weather][0] * daylight
    if strength <= 0.01:
        return
    off = rng.uniform(-0.12, 0.12) * unit
    p.ellipse(cx + off, ground - 0.01 * unit, 0.17 * unit, 0.035 * unit, (0.0, 0.0, 0.0), shade=0.0,
              opacity=strength)


@lru_cache(maxsize=16)
def _rain_texture(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng([0xA1A, h, w])
    p = Painter(np.zeros((2 * h, 2 * w, 3), np.uint8))
    for _ in range(int(0.02 * h * w / 4) + 4):
        x, y = rng.uniform(0, 2 * w), rng.uniform(0, 2 * h)
        ln = rng.uniform(0.04, 0.09) * h
        p.capsule(x, y, x + 0.25 * ln, y + ln, 0.35, 0.35, (1.0, 1.0, 1.0), shade=0.0)
    tex = p.img.astype(np.float32) * np.float32(0.22 / 255.0)  # 3 channels: no broadcasting in the blend
    tex.setflags(write=False)
    return tex


def _saturation(s: float) -> np.ndarray:
    """3x3 matrix scaling the distance of each pixel from its grey (the RGB mean) by s."""
    return np.float64(s) * np.eye(3) + np.float64(1.0 - s) / 3.0 * np.ones((3, 3))


def weather_colour(weather: int, mean_grey: float) -> tuple[np.ndarray, np.ndarray]:
    """The weather's saturation and contrast as an affine colour map x -> A x + a (0..255 units);
    contrast pivots on `mean_grey`, the image's mean brightness."""
    contrast = WEATHER_FX[weather][6]
    return _WEATHER_A[weather], np.full(3, (1.0 - contrast) * mean_grey)


_WEATHER_A = {w: fx[6] * _saturation(fx[5]) for w, fx in WEATHER_FX.items()}


def weather_fog(weather: int, h: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-row fog/haze amount (thicker towards the top, i.e. the distance) and the fog colour, or None."""
    fog, fog_col = WEATHER_FX[weather][3], WEATHER_FX[weather][4]
    if not fog:
        return None
    f = np.linspace(fog * 1.15, fog * 0.75, h) * rng.uniform(0.85, 1.1)
    return f, np.asarray(fog_col) * 255.0


def particles(img: np.ndarray, weather: int, white: np.ndarray, rng: np.random.Generator) -> None:
    """Snow flakes and drizzle streaks, in final colour space (`white` = a lit white), in place."""
    flakes, rain = WEATHER_FX[weather][7], WEATHER_FX[weather][8]
    h, w = img.shape[:2]
    if rain:
        tex = _rain_texture(h, w)
        y, x = int(rng.integers(h)), int(rng.integers(w))
        t = tex[y:y + h, x:x + w]
        img += t * (np.asarray(white * 0.85, np.float32) - img)
    if flakes:
        n = int(flakes * h * w * rng.uniform(0.7, 1.3))
        idx = rng.integers(0, h * w, n)
        flat = img.reshape(-1, 3)
        flake = np.asarray(white * 0.97, np.float32)
        flat[idx] += np.float32(0.8) * (flake - flat[idx])
        if h >= 200:  # flakes of more than one pixel at high resolution
            idx2 = np.minimum(idx + 1, h * w - 1)
            flat[idx2] += np.float32(0.6) * (flake - flat[idx2])


# ---- illumination ------------------------------------------------------------
# code: (brightness, RGB colour temperature, saturation, daylight for shadows)
ILLUMINATION_FX = {
    1: (0.24, (0.72, 0.84, 1.18), 0.50, 0.0),  # Midnight: dark, blue
    2: (0.58, (1.12, 0.93, 0.95), 0.85, 0.4),  # Dawn: dim, pink
    3: (0.96, (0.97, 1.00, 1.06), 1.00, 0.9),  # Forenoon: bright, cool
    4: (1.08, (1.00, 1.00, 1.00), 1.05, 1.0),  # Noon: brightest
    5: (0.98, (1.08, 1.00, 0.88), 1.00, 0.9),  # Afternoon: warm
    6: (0.52, (1.25, 0.86, 0.64), 0.90, 0.4),  # Dusk: orange
    7: (0.32, (1.20, 0.96, 0.66), 0.60, 0.0),  # Night: sodium street light
}


def illumination(illum: int, h: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Time of day: colour matrix (brightness x colour temperature x saturation), an optional per-row
    gain (a street lamp above at night) and the brightness, so sensor noise can grow in the dark."""
    gain = ILLUMINATION_FX[illum][0] * rng.uniform(0.9, 1.1)
    rows = _lamp_rows(h) if illum in (1, 7) else None
    return _ILLUM_B[illum] * gain, rows, float(gain)


_ILLUM_B = {k: np.diag(fx[1]) @ _saturation(fx[2]) for k, fx in ILLUMINATION_FX.items()}


@lru_cache(maxsize=16)
def _lamp_rows(h: int) -> np.ndarray:
    rows = np.linspace(1.35, 0.85, h)
    rows.setflags(write=False)
    return rows


def daylight(illum: int) -> float:
    return ILLUMINATION_FX[illum][3]
