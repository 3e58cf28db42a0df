"""One declarative recipe per row of the paper's Tables 2 and 3.

A recipe is a TOML file in baselines/recipes/: adding a baseline is adding one
file. Fields:
  name        the row label in the paper
  train       the train spec on the real data (e.g. "finegpr+aost")
  sim_train   the same row on the procedural twins (e.g. "sim-finegpr+aost")
  tables      which of the paper's tables the row belongs to
  paper_row   the `train_set` key of the reference rows it corresponds to
  budget      images selected (the paper's 124,200 for the AO rows), optional
  sample_ids / sample_per_id   sampling the original authors used, optional
  real        true for the supervised rows trained on a real dataset
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

RECIPES_DIR = Path(__file__).parent / "recipes"
_REQUIRED = ("name", "train", "sim_train", "tables", "paper_row")


@dataclass(frozen=True)
class Recipe:
    key: str  # file stem, e.g. "finegpr_aost"
    name: str
    train: str
    sim_train: str
    tables: tuple[int, ...]
    paper_row: str
    budget: int | None = None
    sample_ids: int | None = None
    sample_per_id: int | None = None
    real: bool = False
    note: str = ""
    extra: dict = field(default_factory=dict)

    def spec(self, sim: bool) -> str:
        return self.sim_train if sim else self.train


def load_recipe(path: Path) -> Recipe:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML ({e})") from None
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ValueError(f"{path}: recipe lacks {', '.join(missing)}; a recipe needs {', '.join(_REQUIRED)}")
    known = {f for f in Recipe.__dataclass_fields__} - {"key", "extra"}
    extra = {k: v for k, v in data.items() if k not in known}
    fields = {k: v for k, v in data.items() if k in known}
    fields["tables"] = tuple(int(t) for t in fields["tables"])
    return Recipe(key=path.stem, extra=extra, **fields)


def load_recipes(directory: Path = RECIPES_DIR) -> list[Recipe]:
    """All recipes, in a stable order (Table 2's order first, then Table 3's)."""
    recipes = [load_recipe(p) for p in sorted(directory.glob("*.toml"))]
    order = ["somaset", "syri", "unreal", "personx", "randperson", "finegpr", "finegpr_random",
             "finegpr_ao", "finegpr_aost", "supervised_market1501", "supervised_dukemtmc", "supervised_cuhk03"]
    rank = {k: i for i, k in enumerate(order)}
    return sorted(recipes, key=lambda r: (rank.get(r.key, len(order)), r.key))


def recipes_for_table(table: int, directory: Path = RECIPES_DIR) -> list[Recipe]:
    return [r for r in load_recipes(directory) if table in r.tables]
