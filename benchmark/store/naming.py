"""How the store names and groups things: train specs, kinds, the paper row a run mirrors.

Every name comes from the one vocabulary (benchmark.names for datasets,
benchmark.stages for stages, benchmark.specs for parsing); this module only
adds the rules that place a run in the paper's tables. The store reads
leniently: an unknown base or test set (a user dataset, a deleted
registration) passes through normalised instead of failing a query.
"""
from __future__ import annotations

from benchmark import names
from benchmark import stages as stage_registry
from benchmark.specs import canonical_spec  # noqa: F401 (the store's spelling of specs)

SIM_PREFIX = names.TWIN_PREFIX
SUBMISSION_PREFIX = names.SUBMISSION_PREFIX
REAL_KEYS = tuple(b.key for b in names.BUILTIN if b.kind == "real")


def canonical(name: str) -> str:
    """Canonical key for a dataset name people type: `market` -> `market1501`, `sim-duke` -> `sim-dukemtmc`."""
    return names.alias_key(name)


def split_spec(spec: str) -> tuple[str, tuple[str, ...]]:
    """`sim-finegpr+aost` -> ("sim-finegpr", ("aost",)): the base and the stage names as stored (compacted)."""
    parts = [p.strip() for p in spec.strip().split("+")]
    if not parts or not parts[0]:
        raise ValueError(f"empty train spec {spec!r}; expected BASE[+STAGE...], e.g. finegpr+aost")
    return parts[0], tuple(p.lower() for p in parts[1:] if p)


def kind_of(spec: str) -> str:
    """real / synthetic / procedural / submission / user, from the spec's base.

    A base that is no built-in key is one of the user's datasets (`data add`); user twins named
    `sim-...` count as procedural."""
    base, _ = split_spec(spec)
    if base.startswith(SUBMISSION_PREFIX):
        return "submission"
    if base.startswith(SIM_PREFIX):
        return "procedural"
    return names.builtin_kind(base) or "user"


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


def _last_stage(label: str) -> stage_registry.Stage | None:
    try:
        return stage_registry.get_stage(stage_registry.expand(label)[-1])
    except KeyError:
        return None


def table2_member(spec: str) -> bool:
    """Table 2 compares training sets: every base and its full pipeline, not the ablation-only variants."""
    _, stages = split_spec(spec)
    if not stages:
        return True
    last = _last_stage(stages[-1])
    return last is not None and not last.ablation_only


def display_name(name: str) -> str:
    """How the paper prints a train spec or test set; twins keep their `sim-` prefix."""
    base, stages = split_spec(name)
    shown = base if base.startswith(SUBMISSION_PREFIX) else names.display(base)
    return "+".join([shown, *(stage_registry.label_display(s) for s in stages)])


def test_sort_key(test_set: str) -> tuple:
    """Paper order (Market, Duke, CUHK03, MSMT), each real set before its twin, then the rest."""
    m = mirror_of(test_set) or test_set
    order = names.TEST_ORDER
    pos = order.index(m) if m in order else len(order)
    return (pos, m, test_set.startswith(SIM_PREFIX), test_set)
