"""The "bounding_box" family: Market-1501, DukeMTMC-reID, PersonX (and CUHK03-NP's folders).

Three folders, bounding_box_train / query / bounding_box_test, with the person
id and camera in each file name, read the way torchreid reads them
(`([-\\d]+)_c(\\d)`), but strictly: every image must match its dataset's full
pattern. Market: pid -1 is junk (skipped), pid 0 a distractor (gallery only).
"""
from __future__ import annotations

from pathlib import Path

from benchmark.datasets.formats.base import Format, LoadOptions, Loaded, first_dir
from benchmark.datasets.issues import Issues
from benchmark.datasets.records import Record
from benchmark.datasets.scan import NamePattern, bad_name, entries, image_files, require_dir

SPLIT_DIRS = (("train", "bounding_box_train"), ("query", "query"), ("gallery", "bounding_box_test"))

MARKET_NAME = NamePattern(
    r"^(-1|\d+)_c(\d)s(\d+)_(\d+)_(\d+)\.jpg$", "PPPP_cCsS_FFFFFF_NN.jpg (e.g. 0002_c1s1_000451_03.jpg)"
)
DUKE_NAME = NamePattern(r"^(\d+)_c(\d)_f(\d+)\.jpg$", "PPPP_cC_fFFFFFFF.jpg (e.g. 0005_c2_f0046985.jpg)")
PERSONX_NAME = NamePattern(r"^(-1|\d+)_c(\d)s(\d+)_(\d+)\.jpg$", "PPPP_cCs1_VV.jpg (e.g. 0001_c1s1_33.jpg)")
CUHK03NP_NAME = NamePattern(r"^(\d+)_c(\d)_(\d+)\.png$", "PPPP_cC_NN.png (e.g. 0001_c1_01.png)")


def read_bbox_dir(
    folder: Path,
    split: str,
    pattern: NamePattern,
    cameras: int,
    issues: Issues,
    *,
    junk_pids: frozenset[int] = frozenset(),
    distractor_pids: frozenset[int] = frozenset(),
    counters: dict | None = None,
) -> list[Record]:
    """Records of one split folder; pid/camera from the name, camid made 0-based."""
    out: list[Record] = []
    for e in image_files(folder, issues):
        m = pattern.match(e.name)
        if m is None:
            issues.error(bad_name(e.path, pattern.text))
            continue
        pid, cam = int(m.group(1)), int(m.group(2))
        if not 1 <= cam <= cameras:
            issues.error(f"bad camera in {e.path}: c{cam}, expected c1..c{cameras}")
            continue
        if pid in junk_pids:
            if counters is not None:
                counters["junk_skipped"] = counters.get("junk_skipped", 0) + 1
            continue
        if pid in distractor_pids and split != "gallery":
            issues.error(f"distractor id {pid} in {e.path}: distractors (pid {pid}) belong to the gallery only")
            continue
        out.append(Record(path=e.path, pid=pid, camid=cam - 1))
    return out


def read_three_splits(
    data_dir: Path, pattern: NamePattern, cameras: int, issues: Issues, layout: str, **kw
) -> Loaded:
    loaded = Loaded(root=data_dir, required=("train", "query", "gallery"))
    counters: dict = {}
    for split, sub in SPLIT_DIRS:
        folder = data_dir / sub
        if require_dir(folder, issues, layout):
            setattr(loaded, split, read_bbox_dir(folder, split, pattern, cameras, issues, counters=counters, **kw))
    loaded.meta.update(counters)
    return loaded


# --- Market-1501 ---------------------------------------------------------------
MARKET_LAYOUT = "market1501/Market-1501-v15.09.15/{bounding_box_train,query,bounding_box_test}/"


def _market_locate(base: Path) -> Path | None:
    # torchreid also accepts the three folders directly under market1501/
    return first_dir(base / "market1501" / "Market-1501-v15.09.15", base / "market1501")


def _market_load(base: Path, issues: Issues, opts: LoadOptions) -> Loaded:
    data_dir = _market_locate(base) or base / "market1501" / "Market-1501-v15.09.15"
    if data_dir.name != "Market-1501-v15.09.15":
        issues.warn(
            f"{data_dir} holds the split folders directly; torchreid accepts this but prefers "
            f"{data_dir / 'Market-1501-v15.09.15'}"
        )
    return read_three_splits(
        data_dir, MARKET_NAME, 6, issues, MARKET_LAYOUT, junk_pids=frozenset({-1}), distractor_pids=frozenset({0})
    )


# --- DukeMTMC-reID ----------------------------------------------------------------
DUKE_LAYOUT = "dukemtmc-reid/DukeMTMC-reID/{bounding_box_train,query,bounding_box_test}/"


def _duke_locate(base: Path) -> Path | None:
    if (base / "dukemtmc-reid").is_dir():
        return base / "dukemtmc-reid" / "DukeMTMC-reID"
    return None


def _duke_load(base: Path, issues: Issues, opts: LoadOptions) -> Loaded:
    data_dir = base / "dukemtmc-reid" / "DukeMTMC-reID"
    require_dir(data_dir, issues, DUKE_LAYOUT)
    return read_three_splits(data_dir, DUKE_NAME, 8, issues, DUKE_LAYOUT)


# --- PersonX --------------------------------------------------------------------
PERSONX_LAYOUT = "personx/PersonX_v1/{1..6}/{bounding_box_train,query,bounding_box_test}/"


def _personx_locate(base: Path) -> Path | None:
    return first_dir(base / "personx" / "PersonX_v1", base / "personx")


def _personx_load(base: Path, issues: Issues, opts: LoadOptions) -> Loaded:
    data_dir = _personx_locate(base) or base / "personx" / "PersonX_v1"
    loaded = Loaded(root=data_dir, required=("train",))
    if not require_dir(data_dir, issues, PERSONX_LAYOUT):
        return loaded
    subsets = []
    for e in entries(data_dir):
        if e.is_dir() and e.name.isdigit():
            subsets.append(Path(e.path))
        else:
            issues.ignore(e.path, "not a numbered PersonX subset folder")
    if not subsets:
        issues.error(f"no numbered subset folders (1..6) in {data_dir} (expected layout: {PERSONX_LAYOUT})")
    for sub in subsets:
        # a subset need not hold all three folders (train = every bounding_box_train there is)
        present = [(split, sub / name) for split, name in SPLIT_DIRS if (sub / name).is_dir()]
        if not present:
            issues.error(f"subset folder {sub} holds none of bounding_box_train, query, bounding_box_test")
        for split, folder in present:
            recs = read_bbox_dir(folder, split, PERSONX_NAME, 9, issues, junk_pids=frozenset({-1}))
            getattr(loaded, split).extend(recs)
    loaded.meta["subsets"] = [s.name for s in subsets]
    return loaded


FORMATS = {
    "market1501": Format("market1501", MARKET_LAYOUT, _market_locate, _market_load),
    "dukemtmc": Format("dukemtmc", DUKE_LAYOUT, _duke_locate, _duke_load),
    "personx": Format("personx", PERSONX_LAYOUT, _personx_locate, _personx_load),
}
