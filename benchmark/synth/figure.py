"""The person: a 3-D stick-and-volume body projected at a viewpoint and painted part by part.

Body coordinates are in units of body height: y up from the ground, x to the
person's right, z forward (the way the person faces). The viewpoint angle
theta is the person's heading relative to the camera: 0 deg = facing the
camera (front), 180 deg = seen from behind, 90/270 deg = profile. Projection
is orthographic plus a small "camera above" term (nearer points sit lower):

    screen_x = -x cos(theta) + z sin(theta)      depth = x sin(theta) + z cos(theta)

Parts are painted back to front: what is behind the body (a backpack seen
from the front, long hair), legs, lower garments, the far arm, the torso,
straps and bags, the near arm, then neck, head, face, hair and hat.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from benchmark.synth.identity import Look
from benchmark.synth.raster import Painter

_EYE = np.array((0.10, 0.07, 0.06), np.float32)
_PERSPECTIVE = 0.10  # how much lower (in body heights) a point one body height nearer appears


@dataclass(frozen=True)
class Pose:
    theta_deg: float  # heading relative to the camera (0 = front)
    phase: float  # gait phase, radians
    walk: float  # 0 standing .. 1 walking


@dataclass(frozen=True)
class Placement:
    cx: float  # pixel x of the body axis
    ground: float  # pixel y of the soles
    unit: float  # pixels per body height


class _Proj:
    """Projects body points to pixels for one pose and placement."""

    __slots__ = ("c", "s", "cx", "g", "u", "lean", "hip_y")

    def __init__(self, theta: float, place: Placement, lean: float, hip_y: float):
        self.c, self.s = math.cos(theta), math.sin(theta)
        self.cx, self.g, self.u = place.cx, place.ground, place.unit
        self.lean, self.hip_y = lean, hip_y

    def __call__(self, x: float, y: float, z: float) -> tuple[float, float, float]:
        if y > self.hip_y:  # the upper body leans forward (gait, age)
            z += self.lean * (y - self.hip_y) / (1.0 - self.hip_y)
        sx = -x * self.c + z * self.s
        d = x * self.s + z * self.c
        return self.cx + sx * self.u, self.g - (y - _PERSPECTIVE * d) * self.u, d

    def width(self, half_lat: float, half_depth: float) -> float:
        """Projected half-width in pixels of an elliptic cross-section."""
        return math.hypot(half_lat * self.c, half_depth * self.s) * self.u


def draw_person(p: Painter, look: Look, pose: Pose, place: Placement) -> None:
    """Paint one person onto the painter's canvas."""
    th = math.radians(pose.theta_deg)
    P = _Proj(th, place, look.lean + 0.012 * pose.walk, look.hip_y)
    u = place.unit
    c, s = P.c, P.s
    b = look.build

    hr = look.head_r
    head_cy = 1.0 - 1.1 * hr
    chin = head_cy - 1.1 * hr
    sh_y = chin - 0.045
    hip_y = look.hip_y
    waist_y = hip_y + 0.08
    td = look.shoulder_hw * 0.5  # torso half-depth
    skin = look.skin

    # ---- limbs' geometry ------------------------------------------------
    amp = 0.42 * look.stride * pose.walk
    legs = []
    L = hip_y - 0.035
    for k in (1, -1):
        a = amp * math.sin(pose.phase + (0.0 if k > 0 else math.pi))
        bend = 1.1 * max(0.0, -a)
        hx = k * look.hip_hw * 0.52
        hip = P(hx, hip_y, 0.0)
        ky, kz = hip_y - 0.5 * L * math.cos(a), 0.5 * L * math.sin(a)
        knee = P(hx * 1.02, ky, kz)
        ay_, az = ky - 0.5 * L * math.cos(a - bend), kz + 0.5 * L * math.sin(a - bend)
        ay_ = max(ay_, 0.035)
        ankle = P(hx * 1.05, ay_, az)
        toe = P(hx * 1.05, ay_ - 0.012, az + 0.045)
        legs.append((hip[2] + knee[2] + ankle[2], k, hip, knee, ankle, toe, ay_, az, hx))
    legs.sort(key=lambda t: t[0])

    arms = []
    arm_amp = 0.38 * look.stride * pose.walk
    for k in (1, -1):
        bsw = -arm_amp * math.sin(pose.phase + (0.0 if k > 0 else math.pi))
        sx_ = k * (look.shoulder_hw - 0.022 * b)
        shoulder = P(sx_, sh_y - 0.015, 0.0)
        ey, ez = sh_y - 0.015 - 0.165 * math.cos(bsw), 0.165 * math.sin(bsw)
        elbow = P(sx_ + k * 0.012, ey, ez)
        fb = bsw + 0.22 + 0.3 * max(0.0, bsw)
        wy, wz = ey - 0.145 * math.cos(fb), ez + 0.145 * math.sin(fb)
        wrist = P(sx_ + k * 0.018, wy, wz)
        hand = P(sx_ + k * 0.018, wy - 0.022, wz + 0.008)
        arms.append((shoulder[2], k, shoulder, elbow, wrist, hand))
    arms.sort(key=lambda t: t[0])

    # ---- behind the body (seen from the front) ---------------------------
    if c >= 0:
        _long_hair(p, P, look, head_cy, hr)
        if look.bag is not None and look.bag_kind == 0:
            _backpack(p, P, look, sh_y, waist_y, td)

    # ---- legs, shoes, lower garments --------------------------------------
    thigh_r, knee_r, ankle_r = 0.047 * b * u, 0.035 * b * u, 0.024 * b * u
    for _, k, hip, knee, ankle, toe, ay_, az, hx in legs:
        bare = look.dress or look.shorts
        leg_col = (look.tights if look.tights is not None else skin) if bare else look.lower
        p.capsule(hip[0], hip[1], knee[0], knee[1], thigh_r, knee_r, leg_col, cap_a=look.dress)
        p.capsule(knee[0], knee[1], ankle[0], ankle[1], knee_r, ankle_r, leg_col, cap_a=False)
        if look.shorts:
            t = 0.75
            p.capsule(hip[0], hip[1], hip[0] + t * (knee[0] - hip[0]), hip[1] + t * (knee[1] - hip[1]),
                      thigh_r * 1.12, knee_r * 1.25, look.lower)
        if look.side_stripe and not look.shorts:
            off = -k * c * 0.55
            p.capsule(hip[0] + off * thigh_r, hip[1], ankle[0] + off * ankle_r, ankle[1],
                      0.18 * thigh_r, 0.18 * thigh_r, look.top2, shade=0.0)
        if look.boots:
            # the boot shaft follows the shin from the ankle up to boot_top
            frac = min((look.boot_top - 0.035) / max(0.5 * L, 1e-3), 0.9)
            top = (ankle[0] + frac * (knee[0] - ankle[0]), ankle[1] + frac * (knee[1] - ankle[1]))
            p.capsule(ankle[0], ankle[1], top[0], top[1], ankle_r * 1.3, ankle_r * 1.45, look.shoe, shade=0.3)
        # shoe: an ellipse stretched along the foot's direction
        srx = math.hypot(0.032 * c, 0.06 * s) * u
        p.ellipse((ankle[0] + toe[0]) / 2, max(ankle[1], toe[1]) + 0.006 * u, max(srx, 0.028 * u), 0.024 * u,
                  look.shoe, shade=0.3)

    hip_w = P.width(look.hip_hw * 1.05, td * 1.05)
    pel_top, pel_bot = P(0.0, waist_y, 0.0), P(0.0, hip_y - 0.045, 0.0)
    if look.dress:
        hem = P(0.0, look.dress_hem, 0.0)
        flare = P.width(look.hip_hw * 1.6, td * 1.5)
        p.trapezoid(pel_top[1], hem[1], pel_top[0], hem[0], hip_w * 0.95, flare, look.lower, shade=0.35)
    else:
        p.trapezoid(pel_top[1], pel_bot[1], pel_top[0], pel_bot[0], hip_w, hip_w * 0.9, look.lower, shade=0.3)

    # ---- far arm, torso, bags, near arm -----------------------------------
    def arm(entry) -> None:
        _, k, shoulder, elbow, wrist, hand = entry
        ar, fr = 0.031 * b * u, 0.025 * b * u
        if look.short_sleeve:
            p.capsule(shoulder[0], shoulder[1], elbow[0], elbow[1], ar * 0.9, fr, skin)
            t = look.sleeve_len
            p.capsule(shoulder[0], shoulder[1], shoulder[0] + t * (elbow[0] - shoulder[0]),
                      shoulder[1] + t * (elbow[1] - shoulder[1]), ar * 1.12, ar * 1.05, look.top)
            p.capsule(elbow[0], elbow[1], wrist[0], wrist[1], fr, fr * 0.85, skin, cap_a=False, cap_b=False)
        else:
            p.capsule(shoulder[0], shoulder[1], elbow[0], elbow[1], ar, fr * 1.05, look.top)
            p.capsule(elbow[0], elbow[1], wrist[0], wrist[1], fr * 1.05, fr * 0.95, look.top, cap_a=False,
                      cap_b=False)
        p.ellipse(hand[0], hand[1], 0.021 * u, 0.026 * u, skin, shade=0.2)

    near = [a for a in arms if a[0] >= 0.0]
    for a in arms:
        if a[0] < 0.0:
            arm(a)

    _torso(p, P, look, sh_y, waist_y, hip_y, td)
    if look.bag is not None:
        if look.bag_kind == 0:
            if c < 0:
                _backpack(p, P, look, sh_y, waist_y, td)
            else:
                _straps(p, P, look, sh_y, waist_y, td)
        else:
            _shoulder_bag(p, P, look, sh_y, hip_y, td)
    for a in near:
        arm(a)

    # ---- neck, head, face, hair, hat ---------------------------------------
    neck_a, neck_b = P(0.0, sh_y + 0.005, 0.0), P(0.0, chin + 0.4 * hr, 0.0)
    p.capsule(neck_a[0], neck_a[1], neck_b[0], neck_b[1], 0.028 * u, 0.028 * u, skin * np.float32(0.9), shade=0.25)
    _head(p, P, look, head_cy, hr)
    if c < 0:
        _long_hair(p, P, look, head_cy, hr)


def _torso(p: Painter, P: _Proj, look: Look, sh_y: float, waist_y: float, hip_y: float, td: float) -> None:
    c = P.c
    top, mid, hem = P(0.0, sh_y + 0.01, 0.0), P(0.0, waist_y, 0.0), P(0.0, look.hem_y, 0.0)
    w_sh = P.width(look.shoulder_hw, td)
    w_waist = P.width(look.shoulder_hw * (0.74 if look.female else 0.82), td * 0.95)
    long_top = look.hem_y < hip_y
    w_hem = P.width(look.hip_hw * (1.22 if long_top else 1.06), td * 1.1)
    segs = ((top[1], mid[1], top[0], mid[0], w_sh, w_waist), (mid[1], hem[1], mid[0], hem[0], w_waist, w_hem))
    _region(p, segs, top[1], hem[1], -1.0, 1.0, look.top, 0.3)
    # rounded shoulders
    r = 0.034 * P.u * look.build
    p.capsule(top[0] - w_sh + r, top[1] + r * 0.9, top[0] + w_sh - r, top[1] + r * 0.9, r, r, look.top, shade=0.2)
    _pattern(p, segs, look, top[1], hem[1], c)
    if look.belt is not None and not long_top:
        band = 0.012 * P.u
        _region(p, segs, hem[1] - band * 1.3, hem[1] - band * 0.3, -1.0, 1.0, look.belt, 0.2)
    if look.pattern == "logo":
        facing = -c if look.logo_back else c
        if facing > 0.35:
            z = -td if look.logo_back else td
            cx, cy, _ = P(0.0, sh_y - 0.075, z)
            hw = look.pattern_n * look.shoulder_hw * P.u * facing
            hh = (0.025 + 0.06 * look.pattern_n) * P.u
            p.box(cx - hw, cy - hh, cx + hw, cy + hh, look.top2)


def _region(p: Painter, segs, ya: float, yb: float, ua: float, ub: float, colour, shade: float) -> None:
    """Paint the part of the torso between rows ya..yb and across-body positions ua..ub (-1..1)."""
    for y0, y1, c0, c1, w0, w1 in segs:
        lo, hi = max(ya, y0), min(yb, y1)
        if hi <= lo:
            continue
        span = max(y1 - y0, 1e-6)
        t0, t1 = (lo - y0) / span, (hi - y0) / span
        cl, ch = c0 + t0 * (c1 - c0), c0 + t1 * (c1 - c0)
        wl, wh = w0 + t0 * (w1 - w0), w0 + t1 * (w1 - w0)
        for f, light in p._layers(shade, min(wl, wh)):
            u0, u1 = max(ua, -f), min(ub, f)
            if u1 <= u0:
                continue
            p.poly(((cl + u0 * wl, lo), (cl + u1 * wl, lo), (ch + u1 * wh, hi), (ch + u0 * wh, hi)),
                   np.asarray(colour) * np.float32(light))


def _pattern(p: Painter, segs, look: Look, y0: float, y1: float, c: float) -> None:
    kind, n, col2 = look.pattern, look.pattern_n, look.top2
    span = y1 - y0
    if kind in ("hstripes", "checks"):
        k = int(round(n))
        for i in range(k):
            _region(p, segs, y0 + span * (i + 0.5) / k, y0 + span * (i + 1) / k, -1.0, 1.0, col2, 0.3)
    if kind in ("vstripes", "checks"):
        m = int(round(n))
        col = col2 if kind == "vstripes" else look.top * np.float32(0.6)
        for i in range(m):
            mid = -1.0 + (2 * i + 1) / m
            _region(p, segs, y0, y1, mid - 0.4 / m, mid + 0.4 / m, col, 0.3)
    elif kind == "block":
        _region(p, segs, y0 + 0.42 * span, y1, -1.0, 1.0, col2, 0.3)
    elif kind == "opening" and c > 0.3:
        _region(p, segs, y0, y1, -0.22 * c, 0.22 * c, col2, 0.0)


def _head(p: Painter, P: _Proj, look: Look, head_cy: float, hr: float) -> None:
    c, s, u = P.c, P.s, P.u
    vol = look.hair_volume
    hx, hy, _ = P(0.0, head_cy, 0.0)
    # hair volume behind the head, visible around it from the front
    bx, by, _ = P(0.0, head_cy + 0.08 * hr, -0.25 * hr)
    if c >= 0:
        p.ellipse(bx, by, 0.96 * hr * vol * u, 1.12 * hr * vol * u, look.hair, shade=0.2)
    p.ellipse(hx, hy, 0.86 * hr * u, 1.08 * hr * u, look.skin, shade=0.22)
    if look.ponytail and c < 0.5:
        a = P(0.0, head_cy + 0.2 * hr, -1.0 * hr)
        b = P(0.0, head_cy - 1.6 * hr, -1.2 * hr)
        p.capsule(a[0], a[1], b[0], b[1], 0.34 * hr * u, 0.22 * hr * u, look.hair, shade=0.3)
    # face: eyes, mouth, glasses where they turn towards the camera
    eyes = []
    for k in (1, -1):
        ex, ey, ed = P(k * 0.36 * hr, head_cy + 0.08 * hr, 0.84 * hr)
        if ed > 0.25 * hr:
            eyes.append((ex, ey, k))
            p.ellipse(ex, ey, 0.13 * hr * u, 0.11 * hr * u, _EYE, shade=0.0)
    mx, my, md = P(0.0, head_cy - 0.5 * hr, 0.9 * hr)
    if md > 0.3 * hr:
        mw = 0.22 * hr * u * max(abs(c), 0.3)
        p.capsule(mx - mw, my, mx + mw, my, 0.06 * hr * u, 0.06 * hr * u, look.skin * np.float32(0.62), shade=0.0)
    if look.glasses is not None and eyes:
        op = 0.95 if look.sunglasses else 0.7
        if len(eyes) == 2:
            (x1, y1, _), (x2, y2, _) = eyes
            p.capsule(x1, y1, x2, y2, 0.17 * hr * u, 0.17 * hr * u, look.glasses, shade=0.0, opacity=op)
        else:
            ex, ey, k = eyes[0]
            ax, ay, _ = P(k * 0.9 * hr, head_cy + 0.12 * hr, 0.0)
            p.ellipse(ex, ey, 0.2 * hr * u, 0.17 * hr * u, look.glasses, shade=0.0, opacity=op)
            p.capsule(ex, ey, ax, ay, 0.07 * hr * u, 0.07 * hr * u, look.glasses, shade=0.0)
    # hair: a cap down to the hairline from the front, down to the nape from behind
    back = (1.0 - c) * 0.5  # 0 front .. 1 back
    line = head_cy + hr * (0.42 - 1.05 * back - (0.5 * back if look.long_hair else 0.0))
    _, line_px, _ = P(0.0, line, 0.0)
    tx, ty, _ = P(0.0, head_cy + 0.1 * hr, -0.2 * hr)
    p.ellipse(tx, ty, 0.93 * hr * vol * u, 1.08 * hr * vol * u, look.hair, shade=0.2, y_max=line_px)
    if look.hat is not None:
        _hat(p, P, look, head_cy, hr)


def _long_hair(p: Painter, P: _Proj, look: Look, head_cy: float, hr: float) -> None:
    if not look.long_hair:
        return
    a = P(0.0, head_cy, -0.35 * hr)
    b = P(0.0, head_cy - 1.1 * hr - look.hair_len, -0.55 * hr)
    w = 0.92 * hr * look.hair_volume * P.u
    p.capsule(a[0], a[1], b[0], b[1], w, w * 0.8, look.hair, shade=0.3)


def _hat(p: Painter, P: _Proj, look: Look, head_cy: float, hr: float) -> None:
    c, s, u = P.c, P.s, P.u
    col = look.hat
    if look.hat_kind == 2:  # wide brim
        bx, by, _ = P(0.0, head_cy + 0.45 * hr, 0.0)
        p.ellipse(bx, by, 1.6 * hr * u, 0.32 * hr * u, col * np.float32(0.85), shade=0.1)
        cx, cy, _ = P(0.0, head_cy + 0.8 * hr, 0.0)
        p.ellipse(cx, cy, 0.9 * hr * u, 0.7 * hr * u, col, shade=0.2, y_max=by)
        return
    cx, cy, _ = P(0.0, head_cy + 0.3 * hr, -0.05 * hr)
    _, cut, _ = P(0.0, head_cy + (0.25 if look.hat_kind == 0 else 0.05) * hr, 0.0)
    brim = P(0.0, head_cy + 0.3 * hr, 1.0 * hr) if look.hat_kind == 0 else None
    if brim is not None and brim[2] < 0:
        p.ellipse(brim[0], brim[1], math.hypot(0.75 * hr * c, 0.65 * hr * s) * u, 0.17 * hr * u, col * np.float32(0.8))
    p.ellipse(cx, cy, 0.99 * hr * u, 0.95 * hr * u, col, shade=0.25, y_max=cut)
    if look.hat_kind == 1:  # beanie: a folded band
        w = P.width(0.95 * hr, 0.95 * hr)
        p.capsule(cx - w, cut - 0.12 * hr * u, cx + w, cut - 0.12 * hr * u, 0.16 * hr * u, 0.16 * hr * u,
                  col * np.float32(0.8), shade=0.1)
    if brim is not None and brim[2] >= 0:
        p.ellipse(brim[0], brim[1], math.hypot(0.75 * hr * c, 0.65 * hr * s) * u, 0.17 * hr * u, col * np.float32(0.8))


def _backpack(p: Painter, P: _Proj, look: Look, sh_y: float, waist_y: float, td: float) -> None:
    k = look.bag_size
    z = -(td + 0.045 * k)
    top, bot = P(0.0, sh_y - 0.015, z), P(0.0, waist_y - 0.02 - 0.05 * (k - 1), z)
    hw = P.width(0.085 * k, 0.05 * k)
    p.trapezoid(top[1], bot[1], top[0], bot[0], hw * 0.9, hw, look.bag, shade=0.3)
    if P.c < -0.3:  # the front pocket, from behind
        pt, pb = P(0.0, (sh_y + waist_y) / 2 - 0.02, z), P(0.0, waist_y - 0.01, z)
        p.trapezoid(pt[1], pb[1], pt[0], pb[0], hw * 0.6, hw * 0.65, look.bag * np.float32(0.7), shade=0.2)


def _straps(p: Painter, P: _Proj, look: Look, sh_y: float, waist_y: float, td: float) -> None:
    if P.c < 0.15:
        return
    r = 0.011 * P.u
    for k in (1, -1):
        a = P(k * look.shoulder_hw * 0.55, sh_y + 0.005, td)
        b = P(k * look.shoulder_hw * 0.62, waist_y + 0.04, td)
        p.capsule(a[0], a[1], b[0], b[1], r, r, look.bag * np.float32(0.8), shade=0.0)


def _shoulder_bag(p: Painter, P: _Proj, look: Look, sh_y: float, hip_y: float, td: float) -> None:
    k = look.bag_size
    bx = look.hip_hw + 0.05
    zside = td if P.c >= 0 else -td
    a = P(-look.shoulder_hw * 0.6, sh_y + 0.005, zside)
    top = P(bx, hip_y + 0.09, 0.0)
    p.capsule(a[0], a[1], top[0], top[1], 0.009 * P.u, 0.009 * P.u, look.bag * np.float32(0.8), shade=0.0)
    t, bt = P(bx, hip_y + 0.09, 0.0), P(bx, hip_y - 0.01 - 0.03 * k, 0.0)
    hw = P.width(0.055 * k, 0.03 * k)
    p.trapezoid(t[1], bt[1], t[0], bt[0], hw * 0.9, hw, look.bag, shade=0.3)
