"""How the store names and groups things: train specs, kinds, the paper row a run mirrors.

The store must not import the pipeline, so it carries the few naming rules it
needs to place a run in the paper's tables. Keys are the registry's canonical
keys (DESIGN.md): `market1501`, `sim-finegpr+aost`, `submission:name+ao`, ...
"""
from __future__ import annotations

REAL_KEYS = ("market1501", "dukemtmc", "cuhk03", "msmt17")
SIM_PREFIX = "sim-"
SUBMISSION_PREFIX = "submission:"

# the short names people type (DESIGN.md); everything is stored under the canonical key
ALIASES = {
    "market": "market1501",
    "market-1501": "market1501",
    "duke": "dukemtmc",
    "dukemtmc-reid": "dukemtmc",
    "msmt": "msmt17",
    "cuhk": "cuhk03",
}

# display names as the paper prints them
_DISPLAY = {
    "market1501": "Market-1501",
    "dukemtmc": "DukeMTMC-reID",
    "cuhk03": "CUHK03",
    "msmt17": "MSMT17",
    "finegpr": "FineGPR",
    "randperson": "RandPerson",
    "unreal": "UnrealPerson",
    "personx": "PersonX",
    "somaset": "SOMAset",
    "syri": "SyRI",
}
_STAGE_DISPLAY = {"random": "Random", "ao": "AO", "aost": "AOST", "st": "ST"}

# the order test sets are shown in (the paper's, then the rest alphabetically)
_TEST_ORDER = ("market1501", "dukemtmc", "cuhk03", "msmt17")


def canonical(name: str) -> str:
    """Canonical key for a dataset name people type: `market` -> `market1501`, `sim-duke` -> `sim-dukemtmc`."""
    try:  # the dataset registry is the authority on names; the rules below only cover its absence
        from benchmark.datasets.registry import canonical_key
        return canonical_key(name)
    except (ImportError, KeyError):
        pass
    n = name.strip().lower()
    if n.startswith(SIM_PREFIX):
        return SIM_PREFIX + ALIASES.get(n[len(SIM_PREFIX):], n[len(SIM_PREFIX):])
    return ALIASES.get(n, n)


def canonical_spec(spec: str) -> str:
    """Canonical train spec: the base's short name expanded, stages lower-cased."""
    base, stages = split_spec(spec)
    if not base.startswith(SUBMISSION_PREFIX):
        base = canonical(base)
    return "+".join([base, *stages])


def split_spec(spec: str) -> tuple[str, tuple[str, ...]]:
    """`sim-finegpr+ao+st` -> ("sim-finegpr", ("ao", "st"))."""
    parts = [p.strip() for p in spec.strip().split("+")]
    if not parts or not parts[0]:
        raise ValueError(f"empty train spec {spec!r}; expected BASE[+STAGE...], e.g. finegpr+aost")
    return parts[0], tuple(p.lower() for p in parts[1:] if p)


def kind_of(spec: str) -> str:
    """real / synthetic / procedural / submission, from the spec's base."""
    base, _ = split_spec(spec)
    if base.startswith(SUBMISSION_PREFIX):
        return "submission"
    if base.startswith(SIM_PREFIX):
        return "procedural"
    if base in REAL_KEYS:
        return "real"
    return "synthetic"


def mirror_of(name: str) -> str | None:
    """The paper's name for a train spec or test set: strips `sim-` (twins mirror the real one).

    Submissions mirror nothing."""
    base, stages = split_spec(name)
    if base.startswith(SUBMISSION_PREFIX):
        return None
    if base.startswith(SIM_PREFIX):
        base = base[len(SIM_PREFIX):]
    return "+".join([base, *stages])


def is_supervised(train_spec: str, test_set: str) -> bool:
    """Trained on the domain it is tested on (the paper underlines these and does not rank them)."""
    base, _ = split_spec(train_spec)
    return kind_of(base) in ("real", "procedural") and base == test_set


def table3_member(spec: str) -> bool:
    """Table 3 is FineGPR's ablation (FineGPR, +Random, +AO, +AOST) and the same stages on other bases."""
    base, stages = split_spec(spec)
    return mirror_of(base) == "finegpr" or bool(stages)


def table2_member(spec: str) -> bool:
    """Table 2 compares training sets: every base and its full pipeline, not the ablation-only variants."""
    _, stages = split_spec(spec)
    return not stages or stages[-1] in ("aost", "st")


def display_name(name: str) -> str:
    """How the paper prints a train spec or test set; twins keep their `sim-` prefix."""
    if name.startswith(SUBMISSION_PREFIX):
        base, stages = split_spec(name)
        return "+".join([base, *(_STAGE_DISPLAY.get(s, s) for s in stages)])
    base, stages = split_spec(name)
    prefix = ""
    if base.startswith(SIM_PREFIX):
        prefix, base = SIM_PREFIX, base[len(SIM_PREFIX):]
    return prefix + "+".join([_DISPLAY.get(base, base), *(_STAGE_DISPLAY.get(s, s) for s in stages)])


def test_sort_key(test_set: str) -> tuple:
    """Paper order (Market, Duke, CUHK03, MSMT), each real set before its twin, then the rest."""
    m = mirror_of(test_set) or test_set
    pos = _TEST_ORDER.index(m) if m in _TEST_ORDER else len(_TEST_ORDER)
    return (pos, m, test_set.startswith(SIM_PREFIX), test_set)
