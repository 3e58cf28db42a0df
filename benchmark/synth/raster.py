"""Anti-aliased shape painting on a uint8 RGB canvas through OpenCV's polygon filler.

OpenCV fills anti-aliased polygons and ellipses in C (only on 8-bit images),
with sub-pixel coordinates (fixed point, `SHIFT` fractional bits): a shape
costs a few microseconds, which is what makes hundreds of crops per second
possible. Volume is suggested by layered "cel" shading: a darker full-size
shape, then lighter shrunken copies on top. Coordinates are pixels, y down.
"""
from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

SHIFT = 4
_SCALE = float(1 << SHIFT)
_AA = cv2.LINE_AA

_T = np.linspace(0.0, 1.0, 18)  # arc parameter for cut ellipses
_FLAT = ((1.0, 1.0),)
_LAYER_CACHE: dict[tuple[float, bool], tuple[tuple[float, float], ...]] = {}


def _col(colour, f: float = 1.0) -> tuple[float, float, float]:
    """0..1 RGB (any sequence) times f -> OpenCV's 0..255 colour tuple."""
    r, g, b = (colour.tolist() if isinstance(colour, np.ndarray) else colour)
    k = 255.0 * f
    return (min(r * k, 255.0), min(g * k, 255.0), min(b * k, 255.0))


class Painter:
    """Paints shapes onto `img` (H x W x 3 uint8, modified in place)."""

    __slots__ = ("img", "h", "w", "fine")

    def __init__(self, img: np.ndarray):
        if img.dtype != np.uint8:
            raise TypeError("Painter needs a uint8 canvas (OpenCV anti-aliases only 8-bit images)")
        self.img = img
        self.h, self.w = img.shape[:2]
        self.fine = self.h >= 256  # more shading layers at high resolution

    def _layers(self, shade: float, size_px: float) -> tuple[tuple[float, float], ...]:
        """(size factor, brightness) from the outside in."""
        if not shade or size_px < 2.0:
            return _FLAT
        key = (shade, self.fine)
        got = _LAYER_CACHE.get(key)
        if got is None:
            got = (((1.0, 1.0 - shade), (0.8, 1.0 - 0.5 * shade), (0.55, 1.0)) if self.fine
                   else ((1.0, 1.0 - 0.8 * shade), (0.6, 1.0)))
            _LAYER_CACHE[key] = got
        return got

    def _fill(self, pts: np.ndarray, colour, opacity: float, convex: bool = True) -> None:
        ipts = np.rint(pts * _SCALE).astype(np.int32)
        if opacity >= 0.999:
            if convex:
                cv2.fillConvexPoly(self.img, ipts, colour, _AA, SHIFT)
            else:
                cv2.fillPoly(self.img, [ipts], colour, _AA, SHIFT)
            return
        self._blended(lambda canvas: cv2.fillPoly(canvas, [ipts], colour, _AA, SHIFT), pts, opacity)

    def _blended(self, draw, pts: np.ndarray, opacity: float) -> None:
        """Draw on a copy and mix it back over the shape's bounding box (shadows, glasses)."""
        x0, y0 = np.floor(pts.min(axis=0)).astype(int) - 1
        x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 2
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, self.w), min(y1, self.h)
        if x0 >= x1 or y0 >= y1:
            return
        layer = self.img.copy()
        draw(layer)
        roi = self.img[y0:y1, x0:x1]
        cv2.addWeighted(layer[y0:y1, x0:x1], opacity, roi, 1.0 - opacity, 0.0, dst=roi)

    def capsule(self, ax, ay, bx, by, ra, rb, colour, shade: float = 0.35, opacity: float = 1.0,
                cap_a: bool = True, cap_b: bool = True) -> None:
        """A limb: segment a->b whose radius goes ra->rb (two discs joined by their tangent quad).

        cap_a / cap_b = False leaves out an end disc that another part always covers (a joint)."""
        dx, dy = bx - ax, by - ay
        ln = math.hypot(dx, dy)
        if ln < 1e-6:
            dx, dy, ln = 0.0, 1.0, 1.0
        nx, ny = -dy / ln, dx / ln
        if opacity < 0.999:
            r = max(ra, rb)
            box = np.array(((min(ax, bx) - r, min(ay, by) - r), (max(ax, bx) + r, max(ay, by) + r)))
            self._blended(lambda canvas: Painter(canvas).capsule(ax, ay, bx, by, ra, rb, colour, shade, 1.0,
                                                                 cap_a, cap_b), box, opacity)
            return
        img = self.img
        for f, light in self._layers(shade, min(ra, rb)):
            r1, r2 = max(ra * f, 0.35), max(rb * f, 0.35)
            col = _col(colour, light)
            S = _SCALE
            if cap_a:
                cv2.circle(img, (int(ax * S + 0.5), int(ay * S + 0.5)), int(r1 * S + 0.5), col, -1, _AA, SHIFT)
            if cap_b:
                cv2.circle(img, (int(bx * S + 0.5), int(by * S + 0.5)), int(r2 * S + 0.5), col, -1, _AA, SHIFT)
            quad = np.array((((ax + nx * r1) * S, (ay + ny * r1) * S), ((bx + nx * r2) * S, (by + ny * r2) * S),
                             ((bx - nx * r2) * S, (by - ny * r2) * S), ((ax - nx * r1) * S, (ay - ny * r1) * S)))
            cv2.fillConvexPoly(img, (quad + 0.5).astype(np.int32), col, _AA, SHIFT)

    def ellipse(self, cx, cy, rx, ry, colour, shade: float = 0.25, opacity: float = 1.0,
                y_max: float | None = None) -> None:
        """A filled ellipse, optionally cut to y <= y_max (a hairline, a hat's crown)."""
        rx, ry = max(rx, 0.3), max(ry, 0.3)
        if y_max is not None and y_max < cy - ry:
            return
        if opacity < 0.999:
            box = np.array(((cx - rx, cy - ry), (cx + rx, cy + ry)))
            self._blended(lambda canvas: Painter(canvas).ellipse(cx, cy, rx, ry, colour, shade, 1.0, y_max), box,
                          opacity)
            return
        for f, light in self._layers(shade, min(rx, ry)):
            erx, ery = rx * f, ry * f
            ecy = cy - (ry - ery) * 0.35 if f < 1.0 else cy  # light from above
            col = _col(colour, light)
            if y_max is None or y_max >= ecy + ery:
                cv2.ellipse(self.img, (int(cx * _SCALE + 0.5), int(ecy * _SCALE + 0.5)),
                            (max(int(erx * _SCALE + 0.5), 1), max(int(ery * _SCALE + 0.5), 1)),
                            0.0, 0.0, 360.0, col, -1, _AA, SHIFT)
                continue
            s0 = (y_max - ecy) / ery
            if s0 <= -1.0:
                continue
            a0 = math.asin(min(s0, 1.0))
            t = (math.pi - a0) + (math.pi + 2 * a0) * _T
            pts = np.empty((len(_T), 2))
            pts[:, 0] = cx + erx * np.cos(t)
            pts[:, 1] = ecy + ery * np.sin(t)
            self._fill(pts, col, 1.0)

    def trapezoid(self, y_top, y_bot, cx_top, cx_bot, hw_top, hw_bot, colour, shade: float = 0.3,
                  opacity: float = 1.0) -> None:
        """A band between two rows whose centre and half-width vary linearly (torso, skirt, box)."""
        for f, light in self._layers(shade, min(hw_top, hw_bot)):
            a, b = hw_top * f, hw_bot * f
            pts = np.array(((cx_top - a, y_top), (cx_top + a, y_top), (cx_bot + b, y_bot), (cx_bot - b, y_bot)))
            self._fill(pts, _col(colour, light), opacity)

    def poly(self, pts: Sequence[tuple[float, float]], colour, opacity: float = 1.0, convex: bool = True) -> None:
        self._fill(np.asarray(pts, dtype=np.float64), _col(colour), opacity, convex)

    def box(self, x0, y0, x1, y1, colour, opacity: float = 1.0) -> None:
        """An axis-aligned rectangle (logos, windows)."""
        self._fill(np.array(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), dtype=np.float64), _col(colour), opacity)
