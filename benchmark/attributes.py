"""FineGPR's attribute vocabulary: one place for names, codes and value names.

Codes are 1-based as in FineGPR's file names (c01, w03, ...). Everything that
speaks about attributes (the engine, the loaders, AO, the store, the app) uses
these names so a value means the same thing everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

COLOURS = ("black", "white", "red", "purple", "gray", "yellow", "blue", "green", "brown")


@dataclass(frozen=True)
class Attribute:
    name: str
    values: tuple[str, ...]  # values[k-1] is the name of code k
    level: str  # "id" (constant per identity) or "env" (per image)
    letter: str = ""  # the FineGPR file-name field letter, for env attributes

    @property
    def n(self) -> int:
        return len(self.values)

    def code(self, value: str) -> int:
        """1-based code of a value name (case-insensitive)."""
        v = value.strip().lower()
        for k, name in enumerate(self.values, start=1):
            if name.lower() == v:
                return k
        raise ValueError(f"attribute {self.name!r}: unknown value {value!r}; expected one of {', '.join(self.values)}")

    def value(self, code: int) -> str:
        if not 1 <= int(code) <= self.n:
            raise ValueError(f"attribute {self.name!r}: code {code} out of range 1..{self.n}")
        return self.values[int(code) - 1]


def _viewpoint_names() -> tuple[str, ...]:
    # c01 = 90 deg, +10 deg per code, wrapping at 360
    return tuple(f"{(90 + 10 * (k - 1)) % 360}deg" for k in range(1, 37))


VIEWPOINT = Attribute("viewpoint", _viewpoint_names(), "env", "c")
WEATHER = Attribute("weather", ("Sunny", "Clouds", "Overcast", "Foggy", "Neutral", "Blizzard", "Snowlight"), "env", "w")
ILLUMINATION = Attribute(
    "illumination", ("Midnight", "Dawn", "Forenoon", "Noon", "Afternoon", "Dusk", "Night"), "env", "l"
)
SCENE = Attribute("scene", tuple(f"p{k:02d}" for k in range(1, 10)), "env", "p")
# FineGPR's scene kinds: urban or wild, by scene code
SCENE_KIND = {1: "urban", 2: "urban", 3: "wild", 4: "urban", 5: "wild", 6: "urban", 7: "urban", 8: "wild", 9: "urban"}

ENV_ATTRIBUTES: tuple[Attribute, ...] = (VIEWPOINT, WEATHER, ILLUMINATION, SCENE)

ID_ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("gender", ("male", "female"), "id"),
    Attribute("hair_length", ("long", "short"), "id"),
    Attribute("age", ("teenager", "adult", "older"), "id"),
    Attribute("glasses", ("yes", "no"), "id"),
    Attribute("short_sleeve", ("yes", "no"), "id"),
    Attribute("top_length", ("long", "short"), "id"),
    Attribute("dress", ("yes", "no"), "id"),
    Attribute("boots", ("yes", "no"), "id"),
    Attribute("hat", ("yes", "no"), "id"),
    Attribute("bag", ("yes", "no"), "id"),
    Attribute("shoe_colour", ("dark", "light"), "id"),
    Attribute("upper_colour", COLOURS, "id"),
    Attribute("lower_colour", COLOURS, "id"),
)

ALL_ATTRIBUTES: tuple[Attribute, ...] = ID_ATTRIBUTES + ENV_ATTRIBUTES
BY_NAME: dict[str, Attribute] = {a.name: a for a in ALL_ATTRIBUTES}
ID_NAMES: tuple[str, ...] = tuple(a.name for a in ID_ATTRIBUTES)
ENV_NAMES: tuple[str, ...] = tuple(a.name for a in ENV_ATTRIBUTES)


def viewpoint_angle(code: int) -> int:
    """Angle in degrees of a FineGPR viewpoint code (c01 = 90 deg)."""
    return (90 + 10 * (int(code) - 1)) % 360


def get(name: str) -> Attribute:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown attribute {name!r}; known: {', '.join(BY_NAME)}") from None


def total_variation(p: Sequence[float], q: Sequence[float]) -> float:
    """1/2 sum |p - q| between two distributions over the same codes (each normalised first)."""
    import numpy as np

    a, b = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"distributions over different numbers of codes: {a.shape} vs {b.shape}")
    return float(0.5 * np.abs(a / a.sum() - b / b.sum()).sum())
