"""Who a person is: id attributes -> a concrete look with per-identity detail.

The 13 FineGPR id attributes say *what kind* of person this is (gender, short
sleeves, red top, ...). A re-ID model must learn *which* person, so every
identity also gets detail the attributes do not name: the exact shade of each
garment, body build and proportions, a pattern or logo on the top, hair shade
and style, skin tone, bag and hat style, gait. The detail is a pure function
of (twin seed, pid, id attributes): two ids with identical attributes differ,
and the same id always looks the same.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np

from benchmark.attributes import COLOURS, ID_ATTRIBUTES, ID_NAMES

# Base RGB (0..1) of FineGPR's 9 colour names, in code order.
BASE_RGB = {
    "black": (0.09, 0.09, 0.10),
    "white": (0.90, 0.90, 0.87),
    "red": (0.78, 0.13, 0.13),
    "purple": (0.46, 0.20, 0.58),
    "gray": (0.50, 0.50, 0.50),
    "yellow": (0.92, 0.80, 0.18),
    "blue": (0.14, 0.30, 0.72),
    "green": (0.18, 0.52, 0.24),
    "brown": (0.47, 0.31, 0.17),
}
_SKIN = np.array([(0.96, 0.80, 0.69), (0.89, 0.69, 0.55), (0.80, 0.59, 0.44), (0.63, 0.44, 0.31), (0.42, 0.28, 0.19)])
_HAIR = np.array([(0.06, 0.05, 0.05), (0.17, 0.11, 0.07), (0.33, 0.21, 0.12), (0.62, 0.47, 0.26), (0.45, 0.18, 0.09)])
_GREY_HAIR = np.array([(0.60, 0.60, 0.60), (0.82, 0.81, 0.78), (0.42, 0.41, 0.40)])
_ACCESSORY = np.array([
    (0.08, 0.08, 0.09), (0.12, 0.16, 0.30), (0.55, 0.10, 0.10), (0.35, 0.36, 0.38),
    (0.40, 0.27, 0.15), (0.16, 0.32, 0.18), (0.70, 0.62, 0.45), (0.20, 0.40, 0.65),
])

# the clothing attributes: a SOMAset-style outfit change alters only these
CLOTHING = ("glasses", "short_sleeve", "top_length", "dress", "boots", "hat", "bag", "shoe_colour",
            "upper_colour", "lower_colour")
PATTERNS = ("plain", "hstripes", "opening", "logo", "block", "checks", "vstripes")


@dataclass(frozen=True)
class Look:
    """Everything the renderer needs to draw one identity (units: fraction of body height)."""

    # body
    female: bool
    age: int  # 1 teenager, 2 adult, 3 older
    fill: float  # fraction of the crop height the person spans
    head_r: float
    shoulder_hw: float
    hip_hw: float
    build: float  # limb thickness factor
    hip_y: float
    lean: float
    skin: np.ndarray
    # hair
    hair: np.ndarray
    long_hair: bool
    hair_len: float  # how far long hair falls below the chin
    hair_volume: float
    ponytail: bool
    # top
    top: np.ndarray
    top2: np.ndarray  # pattern / logo / inner colour
    pattern: str
    pattern_n: float  # stripe count or logo size
    logo_back: bool
    short_sleeve: bool
    sleeve_len: float  # fraction of the upper arm a short sleeve covers
    hem_y: float
    # bottom
    lower: np.ndarray
    dress: bool
    dress_hem: float
    shorts: bool
    side_stripe: bool
    belt: np.ndarray | None
    tights: np.ndarray | None
    # feet
    shoe: np.ndarray
    boots: bool
    boot_top: float
    # accessories
    glasses: np.ndarray | None
    sunglasses: bool
    hat: np.ndarray | None
    hat_kind: int  # 0 cap with brim, 1 beanie, 2 wide brim
    bag: np.ndarray | None
    bag_kind: int  # 0 backpack, 1 shoulder bag
    bag_size: float
    stride: float


def _rgb(v) -> np.ndarray:
    return np.clip(np.asarray(v, dtype=np.float32), 0.0, 1.0)


def garment_colour(name: str, rng: np.random.Generator) -> np.ndarray:
    """One identity's exact shade of a named colour: the name stays recognisable, the shade is its own."""
    r, g, b = BASE_RGB[name]
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    if name == "black":
        v = rng.uniform(0.05, 0.20)
        s = rng.uniform(0.0, 0.25)
    elif name == "white":
        v = rng.uniform(0.80, 0.97)
        s = rng.uniform(0.0, 0.10)
    elif name == "gray":
        v = rng.uniform(0.33, 0.68)
        s = rng.uniform(0.0, 0.10)
    else:
        h = (h + rng.uniform(-0.035, 0.035)) % 1.0
        s = float(np.clip(s * rng.uniform(0.70, 1.15), 0.2, 1.0))
        v = float(np.clip(v * rng.uniform(0.70, 1.15), 0.2, 1.0))
    return _rgb(colorsys.hsv_to_rgb(h, s, v))


def _pick(rng: np.random.Generator, table: np.ndarray, jitter: float = 0.04) -> np.ndarray:
    base = table[rng.integers(len(table))]
    return _rgb(base * rng.uniform(1 - jitter * 2, 1 + jitter * 2) + rng.normal(0, jitter, 3))


def _second_colour(rng: np.random.Generator, main: str) -> np.ndarray:
    # pattern colours: mostly white/black accents, sometimes another palette colour
    u = rng.random()
    if u < 0.3 and main != "white":
        return garment_colour("white", rng)
    if u < 0.55 and main != "black":
        return garment_colour("black", rng)
    others = [c for c in COLOURS if c != main]
    return garment_colour(others[rng.integers(len(others))], rng)


def _validate(id_attrs: Mapping[str, int]) -> tuple[int, ...]:
    codes = []
    for attr in ID_ATTRIBUTES:
        if attr.name not in id_attrs:
            raise ValueError(f"id_attrs is missing {attr.name!r}; expected all of: {', '.join(ID_NAMES)}")
        c = int(id_attrs[attr.name])
        if not 1 <= c <= attr.n:
            raise ValueError(f"id attribute {attr.name}={c} out of range 1..{attr.n} ({', '.join(attr.values)})")
        codes.append(c)
    return tuple(codes)


def identity_look(id_attrs: Mapping[str, int], pid: int, twin_seed: int = 0) -> Look:
    """The look of identity `pid` of a twin: its attributes plus deterministic per-id detail."""
    return _look(_validate(id_attrs), _u64(pid), _u64(twin_seed))


def passerby_look(id_attrs: Mapping[str, int], key: int) -> Look:
    """A look for an anonymous passer-by (occluders): computed afresh, never cached, so random
    strangers do not push the twin's identities out of the cache."""
    return _look.__wrapped__(_validate(id_attrs), _u64(key), 0x0CC)


def _u64(x: int) -> int:
    return int(x) % (1 << 64)


@lru_cache(maxsize=8192)
def _look(codes: tuple[int, ...], pid: int, twin_seed: int) -> Look:
    a = dict(zip(ID_NAMES, codes))
    # body detail depends on the person only; each garment's detail on the person and the attributes
    # of that garment, so changing one attribute changes only its part of the picture (and a person
    # who changes clothes, as in SOMAset, keeps face, hair and build)
    rb = np.random.default_rng([twin_seed, pid, 11])

    def part(tag: int, *names: str) -> np.random.Generator:
        return np.random.default_rng([twin_seed, pid, tag, *(a[n] for n in names)])

    female = a["gender"] == 2
    age = a["age"]
    fill = {1: 0.86, 2: 0.91, 3: 0.89}[age] + rb.uniform(-0.025, 0.025)
    head_r = {1: 0.069, 2: 0.061, 3: 0.062}[age] * rb.uniform(0.93, 1.07)
    build = rb.uniform(0.82, 1.22)
    shoulder_hw = (0.108 if female else 0.128) * rb.uniform(0.90, 1.10) * (0.6 + 0.4 * build)
    hip_hw = (0.098 if female else 0.088) * rb.uniform(0.92, 1.10) * (0.6 + 0.4 * build)
    hip_y = rb.uniform(0.47, 0.53)
    lean = rb.uniform(0.0, 0.012) + (0.025 if age == 3 else 0.0)
    skin = _pick(rb, _SKIN, 0.03)
    if age == 3 and rb.random() < 0.75:
        hair = _pick(rb, _GREY_HAIR, 0.03)
    else:
        hair = _pick(rb, _HAIR, 0.03)
    rh = part(12, "hair_length")
    long_hair = a["hair_length"] == 1
    hair_len = rh.uniform(0.04, 0.16) if long_hair else 0.0
    hair_volume = rh.uniform(0.95, 1.15)
    ponytail = long_hair and rh.random() < 0.3
    stride = rb.uniform(0.75, 1.2)

    rt = part(13, "upper_colour", "short_sleeve", "top_length")
    upper_name = COLOURS[a["upper_colour"] - 1]
    top = garment_colour(upper_name, rt)
    top2 = _second_colour(rt, upper_name)
    pattern = PATTERNS[rt.choice(len(PATTERNS), p=[0.30, 0.16, 0.12, 0.16, 0.12, 0.06, 0.08])]
    pattern_n = rt.uniform(3.0, 7.0) if pattern in ("hstripes", "checks", "vstripes") else rt.uniform(0.2, 0.5)
    logo_back = bool(rt.random() < 0.3)
    short_sleeve = a["short_sleeve"] == 1
    sleeve_len = rt.uniform(0.35, 0.7)
    long_top = a["top_length"] == 1
    hem_y = hip_y - rt.uniform(0.10, 0.17) if long_top else hip_y + rt.uniform(0.02, 0.06)

    rl = part(14, "lower_colour", "dress", "short_sleeve")
    lower = garment_colour(COLOURS[a["lower_colour"] - 1], rl)
    dress = a["dress"] == 1
    shorts = (not dress) and rl.random() < (0.4 if short_sleeve else 0.06)
    tights = garment_colour("black", rl) if dress and rl.random() < 0.35 else None
    belt = _pick(rl, _ACCESSORY[:5], 0.02) if (not dress and rl.random() < 0.35) else None
    side_stripe = (not dress) and rl.random() < 0.12
    dress_hem = rl.uniform(0.17, 0.33)

    rs = part(15, "shoe_colour", "boots")
    shoe = garment_colour("black" if a["shoe_colour"] == 1 else "white", rs)
    if a["shoe_colour"] == 1 and rs.random() < 0.35:
        shoe = garment_colour("brown", rs) * np.float32(0.6)
    boots = a["boots"] == 1
    boot_top = rs.uniform(0.11, 0.19)

    rg = part(16, "glasses")
    glasses = None
    sunglasses = False
    if a["glasses"] == 1:
        sunglasses = rg.random() < 0.35
        glasses = _rgb((0.05, 0.05, 0.06)) if sunglasses else _pick(rg, _ACCESSORY[:5], 0.02)
    ra = part(17, "hat")
    hat = _pick(ra, _ACCESSORY, 0.05) if a["hat"] == 1 else None
    hat_kind = int(ra.integers(3))
    rk = part(18, "bag")
    bag = _pick(rk, _ACCESSORY, 0.05) if a["bag"] == 1 else None
    bag_kind = int(rk.random() < 0.3)
    bag_size = rk.uniform(0.85, 1.2)

    return Look(
        female=female, age=age, fill=fill, head_r=head_r, shoulder_hw=shoulder_hw, hip_hw=hip_hw, build=build,
        hip_y=hip_y, lean=lean, skin=skin, hair=hair, long_hair=long_hair, hair_len=hair_len,
        hair_volume=hair_volume, ponytail=ponytail, top=top, top2=top2, pattern=pattern, pattern_n=pattern_n,
        logo_back=logo_back, short_sleeve=short_sleeve, sleeve_len=sleeve_len, hem_y=hem_y, lower=lower,
        dress=dress, dress_hem=dress_hem, shorts=shorts, side_stripe=side_stripe, belt=belt, tights=tights,
        shoe=shoe, boots=boots, boot_top=boot_top, glasses=glasses, sunglasses=sunglasses, hat=hat,
        hat_kind=hat_kind, bag=bag, bag_kind=bag_kind, bag_size=bag_size, stride=stride,
    )


def sample_identity_attrs(
    prior: Mapping[str, Sequence[float]], n: int, rng: np.random.Generator
) -> list[dict[str, int]]:
    """`n` identities' 13 id attributes drawn independently from `prior` (name -> probability per code).

    Attributes missing from `prior` are uniform; env attributes in `prior` are ignored.
    """
    cols: dict[str, np.ndarray] = {}
    for attr in ID_ATTRIBUTES:
        p = _probs(prior.get(attr.name), attr.n, attr.name)
        cols[attr.name] = rng.choice(attr.n, size=n, p=p) + 1
    return [{name: int(cols[name][i]) for name in ID_NAMES} for i in range(n)]


def balanced_identity_attrs(
    prior: Mapping[str, Sequence[float]], n: int, rng: np.random.Generator
) -> list[dict[str, int]]:
    """Like sample_identity_attrs, but each attribute's codes are spread as evenly as the prior allows.

    Used for the source grid (sim-finegpr): with n >= 9 every value of every
    attribute with non-zero probability is present, even at demo scale.
    """
    cols: dict[str, np.ndarray] = {}
    for attr in ID_ATTRIBUTES:
        p = _probs(prior.get(attr.name), attr.n, attr.name)
        cols[attr.name] = stratified_codes(p, n, rng)
    return [{name: int(cols[name][i]) for name in ID_NAMES} for i in range(n)]


def stratified_codes(p: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n codes (1-based) whose counts follow p as closely as integers allow, every p>0 code at least once
    when n allows, in random order."""
    counts = np.floor(p * n).astype(int)
    nonzero = np.flatnonzero(p > 0)
    if n >= len(nonzero):
        counts[nonzero] = np.maximum(counts[nonzero], 1)
    # fix the total: add to the largest remainders, take from the largest counts
    while counts.sum() < n:
        rem = p * n - counts
        rem[p <= 0] = -np.inf
        counts[int(np.argmax(rem))] += 1
    while counts.sum() > n:
        counts[int(np.argmax(counts - p * n))] -= 1
    codes = np.repeat(np.arange(1, len(p) + 1), counts)
    return rng.permutation(codes)


def _probs(values: Sequence[float] | None, n: int, name: str) -> np.ndarray:
    if values is None:
        return np.full(n, 1.0 / n)
    p = np.asarray(values, dtype=float)
    if p.shape != (n,) or not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise ValueError(f"prior for {name!r} must be {n} non-negative numbers with a positive sum, got {list(values)}")
    return p / p.sum()
