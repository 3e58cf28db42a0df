"""The dataset registry: one canonical key per dataset, its format, where it comes from.

Real keys: market1501, dukemtmc, cuhk03, msmt17 (real photos); finegpr,
randperson, unreal, personx, somaset, syri (synthetic). Each has a procedural
twin `sim-<key>` written by benchmark.synth in the same on-disk format under
`<data_root>/sim-<key>/`, read by the same loader.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmark.datasets.formats import get_format
from benchmark.datasets.formats.base import Format, LoadOptions, Loaded
from benchmark.datasets.issues import Issues
from benchmark.datasets.records import DataError, Dataset, DatasetMissing
from benchmark.datasets.twin import read_twin
from benchmark.names import BUILTIN_KEYS, TWIN_PREFIX, UnknownDataset, UserDataset, Vocabulary  # noqa: F401



@dataclass(frozen=True)
class Published:
    """Counts of one published release: split -> (images, ids)."""

    label: str
    splits: dict[str, tuple[int | None, int | None]]


@dataclass(frozen=True)
class DatasetSpec:
    key: str
    title: str
    kind: str  # real | synthetic | procedural
    format: str  # the real key whose on-disk format it uses
    role: str  # "target" (train/query/gallery) or "source" (train only)
    source: str  # where the real files come from
    try_now: str  # the command-line flags that work without the real files
    published: tuple[Published, ...] = field(default_factory=tuple)
    user: UserDataset | None = None  # set for a registered user dataset or user twin

    @property
    def is_twin(self) -> bool:
        return self.kind == "procedural"

    @property
    def kind_label(self) -> str:
        """What `data list` shows: the kind, and for user datasets which kind of user dataset."""
        return f"user {self.user.kind}" if self.user else self.kind

    def reader(self) -> Format:
        return get_format(self.format)

    def base(self, data_root: Path) -> Path:
        """torchreid's `root` for this dataset: the data root, <data_root>/sim-<key> for a twin,
        or a user dataset's registered folder (through its view when the layout starts one level down)."""
        if self.user is not None:
            if self.user.kind == "twin":
                return self.user.path
            from benchmark.datasets.user import view_base

            return view_base(self.user, data_root)
        return data_root / self.key if self.is_twin else data_root

    def expected(self, data_root: Path) -> str:
        """Where the files are expected (alternative layouts joined by " or ")."""
        if self.user is not None:
            return str(self.user.path)
        base = self.base(data_root)
        return " or ".join(f"{base}/{alt.strip()}" for alt in self.reader().layout.split(" | "))


_REAL: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        "market1501", "Market-1501", "real", "market1501", "target",
        "https://zheng-lab.cecs.anu.edu.au/Project/project_reid.html (Market-1501-v15.09.15.zip)",
        "--train sim-finegpr+aost --test sim-market",
        (Published("Market-1501", {"train": (12936, 751), "query": (3368, 750), "gallery": (15913, 752)}),),
    ),
    DatasetSpec(
        "dukemtmc", "DukeMTMC-reID", "real", "dukemtmc", "target",
        "DukeMTMC-reID.zip via https://github.com/layumi/DukeMTMC-reID_evaluation "
        "(withdrawn by its authors in 2019; use it only where your licence allows)",
        "--train sim-finegpr+aost --test sim-duke",
        (Published("DukeMTMC-reID", {"train": (16522, 702), "query": (2228, 702), "gallery": (17661, 1110)}),),
    ),
    DatasetSpec(
        "cuhk03", "CUHK03 (new protocol, 767/700)", "real", "cuhk03", "target",
        "cuhk03_release.zip from https://www.ee.cuhk.edu.hk/~xgwang/CUHK_identification.html plus the "
        "cuhk03_new_protocol_config_*.mat files from https://github.com/zhunzhong07/person-re-ranking "
        "(evaluation/data/CUHK03), or the CUHK03-NP release (same repository, CUHK03-NP/)",
        "--train sim-finegpr+aost --test sim-cuhk03",
        (
            Published("detected", {"train": (7365, 767), "query": (1400, 700), "gallery": (5332, 700)}),
            Published("labeled", {"train": (7368, 767), "query": (1400, 700), "gallery": (5328, 700)}),
        ),
    ),
    DatasetSpec(
        "msmt17", "MSMT17", "real", "msmt17", "target",
        "https://www.pkuvmc.com/publications/msmt17.html (sign the release agreement; MSMT17_V1 or MSMT17_V2)",
        "--train sim-finegpr+aost --test sim-msmt",
        (Published("MSMT17", {"train": (30248, 1041), "query": (11659, 3060), "gallery": (82161, 3060)}),),
    ),
    DatasetSpec(
        "finegpr", "FineGPR", "synthetic", "finegpr", "source",
        "https://github.com/JeremyXSC/FineGPR (request form); attributes.csv is the benchmark's own "
        "per-id file (pid + 13 attribute codes)",
        "--train sim-finegpr+aost --test sim-market",
        (
            Published("FineGPR", {"train": (2028600, 1150)}),
            Published("FineGPR_subset", {"train": (4600, 1150)}),
        ),
    ),
    DatasetSpec(
        "randperson", "RandPerson", "synthetic", "randperson", "source",
        "https://github.com/VideoObjectSearch/RandPerson",
        "--train sim-randperson --test sim-market",
        (
            Published("RandPerson", {"train": (1801816, 8000)}),
            Published("RandPerson subset", {"train": (132145, 8000)}),
        ),
    ),
    DatasetSpec(
        "unreal", "UnrealPerson", "synthetic", "unreal", "source",
        "https://github.com/FlyHighest/UnrealPerson (unreal_v*.* image folders)",
        "--train sim-unreal --test sim-market",
        (Published("UnrealPerson v2.1", {"train": (120000, 3000)}),),
    ),
    DatasetSpec(
        "personx", "PersonX", "synthetic", "personx", "source",
        "https://github.com/sxzrt/Instructions-of-the-PersonX-dataset",
        "--train sim-personx --test sim-market",
        (Published("PersonX", {"train": (None, 1266)}),),
    ),
    DatasetSpec(
        "somaset", "SOMAset", "synthetic", "somaset", "source",
        "SOMAset (Barbosa et al., CVIU 2018; hosted on Kaggle as vicolab/somaset)",
        "--train sim-somaset --test sim-market",
        (Published("SOMAset", {"train": (100000, 50)}),),
    ),
    DatasetSpec(
        "syri", "SyRI", "synthetic", "syri", "source",
        "SyRI (Bak et al., ECCV 2018, 'Domain Adaptation through Synthesis'; ask its authors)",
        "--train sim-syri --test sim-market",
        (Published("SyRI", {"train": (1680000, 100)}),),
    ),
)


def _twin(spec: DatasetSpec) -> DatasetSpec:
    return DatasetSpec(
        key=TWIN_PREFIX + spec.key,
        title=f"procedural twin of {spec.title}",
        kind="procedural",
        format=spec.format,
        role=spec.role,
        source=f"generated here: aostbench data make {TWIN_PREFIX}{spec.key} --scale demo",
        try_now=spec.try_now,
    )


SPECS: dict[str, DatasetSpec] = {s.key: s for s in _REAL}
SPECS.update({TWIN_PREFIX + s.key: _twin(s) for s in _REAL})


def dataset_keys() -> list[str]:
    """Every built-in canonical key: the real/synthetic datasets, then their sim- twins."""
    return list(SPECS)


def canonical_key(name: str, data_root: str | Path | None = None) -> str:
    """The canonical key of a dataset name, alias or user dataset (market -> market1501, sim-duke -> sim-dukemtmc).

    The vocabulary is benchmark.names; user datasets are those registered under the data root."""
    return Vocabulary.at(resolve_root(data_root)).canonical(name)


def get_spec(name: str, data_root: str | Path | None = None) -> DatasetSpec:
    """The spec of a built-in or registered dataset (UnknownDataset listing both when neither)."""
    vocab = Vocabulary.at(resolve_root(data_root))
    key = vocab.canonical(name)
    return SPECS[key] if key in SPECS else user_spec(vocab.user[key], data_root)


def user_spec(d: UserDataset, data_root: str | Path | None = None) -> DatasetSpec:
    """A registered user dataset as a DatasetSpec the loaders, the check and `data list` read."""
    twin = d.kind == "twin"
    role = "target-only" if d.kind == "unlabeled" else (
        "target" if d.format in ("market1501", "dukemtmc", "cuhk03", "msmt17", "personx") else "source")
    return DatasetSpec(
        key=d.name, title=f"your {d.kind} dataset {d.name}", kind="procedural" if twin else "user",
        format=d.format, role=role, source=f"registered folder {d.path}",
        try_now=f"--train sim-finegpr+ao --test {d.name}" if role == "target" else f"--target {d.name}",
        user=d,
    )


def resolve_root(data_root: str | Path | None) -> Path:
    from benchmark.paths import data_root as default_root

    return default_root(data_root).expanduser().absolute()


def missing_message(spec: DatasetSpec, data_root: Path) -> str:
    """What to do when a dataset is not on disk: where, where from, and what works now."""
    if spec.user is not None and spec.user.kind != "twin":
        return (f"your dataset {spec.key!r} is registered at {spec.user.path}, which is gone or holds no "
                f"{spec.format} layout: put the folder back, or unregister it: aostbench data remove {spec.key}")
    if spec.user is not None:
        return (f"your twin {spec.key!r} is registered but {spec.user.path} is gone: regenerate it with "
                f"aostbench data make YOUR.toml --data-root {data_root}, or: aostbench data remove {spec.key}")
    if spec.is_twin:
        return (
            f"procedural twin {spec.key!r} is not generated yet: expected {spec.expected(data_root)}\n"
            f"  Make it (seconds): aostbench data make {spec.key} --scale demo --data-root {data_root}\n"
            f"  Then e.g.: aostbench run {spec.try_now}"
        )
    return (
        f"dataset {spec.key!r} ({spec.title}) not found: expected {spec.expected(data_root)}\n"
        f"  It comes from: {spec.source}\n"
        f"  Put the extracted files there, or point --data-root / AOSTBENCH_DATA at the folder that holds them.\n"
        f"  Nothing is downloaded for you. To try the benchmark now, use the procedural twins: "
        f"{' && '.join(f'aostbench data make {t}' for t in _twins_to_try(spec))}, then aostbench run {spec.try_now}"
    )


def _twins_to_try(spec: DatasetSpec) -> list[str]:
    """The twins a missing dataset's `try_now` command reads: its own twin first, then the spec's others."""
    out = [TWIN_PREFIX + spec.key]
    for word in spec.try_now.replace("+", " ").replace(",", " ").split():
        if word.startswith(TWIN_PREFIX):
            key = Vocabulary().canonical(word)
            if key not in out:
                out.append(key)
    return out


def read(spec: DatasetSpec, data_root: Path, issues: Issues, opts: LoadOptions) -> tuple[Loaded, dict | None]:
    """Run the format reader on a dataset that is present; DatasetMissing when it is not."""
    base = spec.base(data_root)
    fmt = spec.reader()
    if (spec.is_twin and not base.is_dir()) or fmt.locate(base) is None:
        raise DatasetMissing(missing_message(spec, data_root))
    twin = read_twin(base, spec.key) if spec.is_twin else None
    loaded = fmt.load(base, issues, opts)
    return loaded, twin


def verify_registered(spec: DatasetSpec, ds: Dataset) -> str:
    """A user dataset's fingerprint now; DataError when it differs from the one it was registered with."""
    from benchmark.datasets.fingerprint import fingerprint

    fp = fingerprint(ds)
    d = spec.user
    if d is not None and d.fingerprint and fp != d.fingerprint:
        again = (f"aostbench data make YOUR.toml --overwrite" if d.kind == "twin"
                 else f"aostbench data add {d.name} {d.path} --format {d.format} --update")
        raise DataError(f"your dataset {d.name!r} ({d.path}) changed since it was registered (fingerprint "
                        f"{d.fingerprint}, now {fp}); if the change is intended, register it again: {again}")
    return fp


def to_dataset(spec: DatasetSpec, data_root: Path, loaded: Loaded, twin: dict | None) -> Dataset:
    meta = dict(loaded.meta)
    meta.update(base=str(spec.base(data_root)), format=spec.format, title=spec.title)
    if twin is not None:
        meta["twin"] = twin
    return Dataset(
        key=spec.key, kind=spec.kind, root=loaded.root,
        train=loaded.train, query=loaded.query, gallery=loaded.gallery, meta=meta,
    )


def load_dataset(name: str, data_root: str | Path | None = None, *, variant: str | None = None) -> Dataset:
    """Read a dataset by name or alias from `data_root` (default: benchmark.paths.data_root()).

    Strict and read-only: the first file that breaks the format raises DataError
    naming it and the expected pattern; a dataset that is not there raises
    DatasetMissing saying where it is expected, where it comes from and the twin
    to try now. Records keep raw pids (the trainer relabels). `variant` picks
    CUHK03's "detected" (default) or "labeled" images.
    """
    root = resolve_root(data_root)
    return load_dataset_spec(get_spec(name, root), root, variant=variant)


def load_dataset_spec(spec: DatasetSpec, root: Path, *, variant: str | None = None, verify: bool = True) -> Dataset:
    """load_dataset for a spec in hand; a user dataset is checked against its registered fingerprint."""
    issues = Issues(strict=True)
    loaded, twin = read(spec, root, issues, LoadOptions(variant=variant))
    for split in loaded.required:
        if not getattr(loaded, split):
            where = loaded.root
            raise DataError(f"{spec.key}: the {split} split is empty (read from {where}; expected layout: {spec.reader().layout})")
    ds = to_dataset(spec, root, loaded, twin)
    if spec.user is not None and verify:
        ds.meta["fingerprint"] = verify_registered(spec, ds)
        ds.meta["user"] = {"kind": spec.user.kind, "path": str(spec.user.path), "format": spec.user.format}
    return ds


FOLDER_PREFIX = "folder:"  # the key of an unregistered `--target DIR`


def load_target(name_or_dir: str, data_root: str | Path | None = None) -> Dataset:
    """The dataset AO and style transfer adapt to: a dataset name, or any folder tree of unlabeled images.

    A folder is read as the `images` format under the key `folder:<its name>`; its content
    fingerprint (in meta) tells runs on different folders of the same name apart."""
    from benchmark.datasets.fingerprint import fingerprint

    root = resolve_root(data_root)
    vocab = Vocabulary.at(root)
    try:
        return load_dataset_spec(get_spec(vocab.canonical(name_or_dir), root), root)
    except UnknownDataset:
        folder = Path(name_or_dir).expanduser()
        if not folder.is_dir():
            raise UnknownDataset(f"--target {name_or_dir!r} is neither a dataset name nor an existing folder: give "
                                 f"a test set, a registered dataset, or a folder of target images") from None
    fmt = get_format("images")
    loaded = fmt.load(folder.absolute(), Issues(strict=True), LoadOptions())
    if not loaded.train:
        raise DataError(f"--target {folder}: no images found in that folder (any .jpg/.png at any depth)")
    ds = Dataset(key=FOLDER_PREFIX + folder.absolute().name, kind="user", root=loaded.root, train=loaded.train,
                 meta={**loaded.meta, "format": "images", "base": str(folder.absolute()),
                       "user": {"kind": "unlabeled", "path": str(folder.absolute()), "format": "images"}})
    ds.meta["fingerprint"] = fingerprint(ds)
    return ds


def counts_of(ds_or_loaded) -> dict[str, dict[str, int]]:
    out = {}
    for split in ("train", "query", "gallery"):
        recs = getattr(ds_or_loaded, split)
        out[split] = {"images": len(recs), "ids": len({r.pid for r in recs}), "cameras": len({r.camid for r in recs})}
    return out


def dataset_status(data_root: str | Path | None = None) -> list[dict]:
    """One row per registry key for `aostbench data list`: found or missing, where, counts, hint.

    Found datasets are read (names parsed, nothing decoded or extracted); one
    that is present but broken gets found=True and its first error in "error".
    """
    root = resolve_root(data_root)
    rows = []
    specs = [*SPECS.values(), *(user_spec(d, root) for d in Vocabulary.at(root).user.values())]
    for spec in specs:
        key = spec.key
        row = {
            "key": key, "title": spec.title, "kind": spec.kind_label, "role": spec.role, "user": spec.user is not None,
            "expected": spec.expected(root), "found": False, "counts": None, "error": None, "hint": None,
        }
        try:
            loaded, twin = read(spec, root, Issues(strict=True), LoadOptions(materialize=False))
            row["found"] = True
            row["counts"] = counts_of(loaded)
            if spec.user is not None:
                verify_registered(spec, to_dataset(spec, root, loaded, twin))
            empty = [s for s in loaded.required if not getattr(loaded, s)]
            if empty:
                row["error"] = f"empty split(s): {', '.join(empty)}"
        except DatasetMissing:
            row["hint"] = (
                missing_message(spec, root) if spec.user is not None
                else f"aostbench data make {key} --scale demo"
                if spec.is_twin
                else f"get it from {spec.source}; put it at {row['expected']}"
            )
        except DataError as exc:
            row["found"] = True
            row["error"] = str(exc)
        rows.append(row)
    return rows
