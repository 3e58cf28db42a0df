"""FineGPR: one folder per id (`FineGPR/<IIII>/`) or the flat `FineGPR_subset/`.

Names `IIII_cXX_wXX_lXX_pXX.jpg` carry the environment attributes (viewpoint,
weather, illumination, scene; 1-based codes); `finegpr/attributes.csv` (the
benchmark's own file, one row per id) carries the 13 id attributes. Every image
is train; camid = viewpoint code - 1.
"""
from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Iterator

from benchmark.attributes import ENV_NAMES, ID_ATTRIBUTES, ID_NAMES, SCENE, VIEWPOINT, WEATHER, ILLUMINATION
from benchmark.datasets.formats.base import Format, LoadOptions, Loaded
from benchmark.datasets.issues import Issues
from benchmark.datasets.records import Record
from benchmark.datasets.scan import NamePattern, bad_name, entries, image_files, is_image_name, is_system_file

LAYOUT = "finegpr/FineGPR/<IIII>/<IIII>_cXX_wXX_lXX_pXX.jpg (or flat finegpr/FineGPR_subset/) + finegpr/attributes.csv"
NAME = NamePattern(
    r"^(\d+)_c(\d{2})_w(\d{2})_l(\d{2})_p(\d{2})\.jpg$", "IIII_cXX_wXX_lXX_pXX.jpg (e.g. 0001_c01_w01_l03_p02.jpg)"
)
_ENV = (VIEWPOINT, WEATHER, ILLUMINATION, SCENE)


class ImageAttrs(Mapping):
    """An image's attributes: its id's 13 codes (shared per id) plus its 4 env codes.

    A read-only mapping like a dict, but about 10x smaller: FineGPR has 2 million images.
    """

    __slots__ = ("_id", "_env")

    def __init__(self, id_attrs: Mapping[str, int], env: tuple[int, int, int, int]):
        self._id = id_attrs
        self._env = env

    def __getitem__(self, key: str) -> int:
        if key in self._id:
            return self._id[key]
        try:
            return self._env[ENV_NAMES.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        yield from self._id
        yield from ENV_NAMES

    def __len__(self) -> int:
        return len(self._id) + len(ENV_NAMES)

    def __repr__(self) -> str:
        return f"ImageAttrs({dict(self)!r})"

    def __reduce__(self):
        return (ImageAttrs, (dict(self._id), self._env))


def _locate(base: Path) -> Path | None:
    for sub in ("FineGPR", "FineGPR_subset"):
        if (base / "finegpr" / sub).is_dir():
            return base / "finegpr" / sub
    return base / "finegpr" if (base / "finegpr").is_dir() else None


def read_attributes_csv(path: Path, issues: Issues) -> dict[int, dict[str, int]]:
    """pid -> {id attribute name: 1-based code}; value names (e.g. "female") are accepted too."""
    table: dict[int, dict[str, int]] = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in ("pid", *ID_NAMES) if c not in cols]
        if missing:
            issues.error(f"{path}: missing column(s) {', '.join(missing)}; expected pid,{','.join(ID_NAMES)}")
            return table
        extra = [c for c in cols if c not in ("pid", *ID_NAMES)]
        if extra:
            issues.warn(f"{path}: extra column(s) {', '.join(extra)} ignored")
        for lineno, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            if not row["pid"].isdigit():
                issues.error(f"{path}:{lineno}: pid {row['pid']!r} is not a number")
                continue
            pid = int(row["pid"])
            if pid in table:
                issues.error(f"{path}:{lineno}: pid {pid} appears twice")
                continue
            codes = {}
            for attr in ID_ATTRIBUTES:
                raw = row[attr.name]
                try:
                    code = int(raw) if raw.isdigit() else attr.code(raw)
                    attr.value(code)  # range check
                except ValueError:
                    issues.error(
                        f"{path}:{lineno}: {attr.name}={raw!r}; expected a code 1..{attr.n} "
                        f"({', '.join(attr.values)})"
                    )
                    break
                codes[attr.name] = code
            else:
                table[pid] = codes
    return table


def _parse(path: str, name: str, issues: Issues) -> tuple[int, tuple[int, int, int, int]] | None:
    m = NAME.match(name)
    if m is None:
        issues.error(bad_name(path, NAME.text))
        return None
    env = tuple(int(g) for g in m.groups()[1:])
    for attr, code in zip(_ENV, env):
        if not 1 <= code <= attr.n:
            issues.error(f"bad {attr.name} code in {path}: {attr.letter}{code:02d}, expected {attr.letter}01..{attr.letter}{attr.n:02d}")
            return None
    return int(m.group(1)), env  # type: ignore[return-value]


def _files(data_dir: Path, issues: Issues) -> Iterator[tuple[str, str, int | None]]:
    """(path, name, pid of the folder or None when flat) for every image."""
    if data_dir.name == "FineGPR_subset":
        for e in image_files(data_dir, issues):
            yield e.path, e.name, None
        return
    for e in entries(data_dir):
        if is_system_file(e.name):
            issues.ignore(e.path, "system file")
        elif e.is_dir():
            if not e.name.isdigit():
                issues.error(f"unexpected folder {e.path}: FineGPR/ holds one folder per id named IIII (e.g. 0001)")
                continue
            for f in image_files(Path(e.path), issues):
                yield f.path, f.name, int(e.name)
        elif is_image_name(e.name):
            issues.error(f"image outside an id folder: {e.path}; expected FineGPR/<IIII>/<IIII>_cXX_wXX_lXX_pXX.jpg")
        else:
            issues.ignore(e.path, "not an image file")


def _load(base: Path, issues: Issues, opts: LoadOptions) -> Loaded:
    data_dir = _locate(base) or base / "finegpr" / "FineGPR"
    loaded = Loaded(root=data_dir, required=("train",))
    if data_dir.name not in ("FineGPR", "FineGPR_subset"):
        issues.error(f"no FineGPR or FineGPR_subset folder in {data_dir} (expected layout: {LAYOUT})")
        return loaded
    csv_path = base / "finegpr" / "attributes.csv"
    id_table: dict[int, dict[str, int]] | None = None
    if csv_path.is_file():
        id_table = read_attributes_csv(csv_path, issues)
    else:
        issues.warn(f"no {csv_path}: id attributes unknown, records carry only the 4 environment attributes")
    no_id_attrs: dict[str, int] = {}
    missing_ids: set[int] = set()
    for path, name, folder_pid in _files(data_dir, issues):
        parsed = _parse(path, name, issues)
        if parsed is None:
            continue
        pid, env = parsed
        if folder_pid is not None and folder_pid != pid:
            issues.error(f"{path}: id {pid} in the name but in folder {folder_pid:04d}; expected FineGPR/<IIII>/<IIII>_...jpg")
            continue
        id_attrs = no_id_attrs
        if id_table is not None:
            if pid not in id_table:
                if pid not in missing_ids:
                    missing_ids.add(pid)
                    issues.error(f"{csv_path} has no row for id {pid} (first image: {path})")
                continue
            id_attrs = id_table[pid]
        loaded.train.append(Record(path=path, pid=pid, camid=env[0] - 1, attrs=ImageAttrs(id_attrs, env)))
    loaded.meta["id_attributes"] = id_table
    loaded.meta["subset"] = data_dir.name == "FineGPR_subset"
    return loaded


FORMATS = {"finegpr": Format("finegpr", LAYOUT, _locate, _load)}
