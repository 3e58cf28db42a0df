"""Your own datasets: folders registered by name (`aostbench data add`), and twins made from your TOML.

The registration file is `<data_root>/user_datasets.toml` (benchmark.names
reads it; this module writes it): one `[datasets.NAME]` table per dataset with
its kind (labeled / unlabeled / twin), format, folder and content fingerprint.
A registered folder is only ever read: nothing is written inside it. When its
format's layout is one level down (the folder *is* `Market-1501-v15.09.15/`,
not a folder holding `market1501/`), the loader reads it through a view: a
folder under `<data_root>/.views/NAME/` holding one symbolic link to it.

Names follow the submission naming rule and may not shadow a built-in key or
alias. Everything a user dataset contributes to the store carries its
fingerprint; a folder that changed after registration is refused until it is
registered again (`data add NAME PATH --format F --update`).
"""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from benchmark.names import (REGISTRATION_FILE, UserDataset, is_builtin, normalise,
                             read_registrations)

VIEWS_DIR = ".views"
UNLABELED = "images"  # the format of an unlabeled folder


class UserDataError(ValueError):
    """A registration that cannot be made or used; the one-line message says what to do."""


def name_problem(name: str, what: str = "dataset") -> str | None:
    """Why `name` cannot name a user dataset or twin, or None."""
    from benchmark.submissions.names import NAME_RULE, is_valid_name, shown

    if not is_valid_name(name):
        return f"invalid {what} name {shown(name)}: expected {NAME_RULE}, e.g. my-city"
    if normalise(name) != name:  # names are compared with '_' read as '-' (market_1501 = market-1501)
        return f"{what} name {shown(name)}: use '-' instead of '_', e.g. {normalise(name)}"
    if is_builtin(name):
        return f"{what} name {shown(name)} is a built-in dataset name or alias; choose another, e.g. my-{name}"
    return None


def registration_path(data_root: Path) -> Path:
    return Path(data_root) / REGISTRATION_FILE


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _write(data_root: Path, regs: dict[str, UserDataset]) -> None:
    """Rewrite the registration file atomically (a temporary file, then rename)."""
    from benchmark.synth.spec import dump_toml

    table = {}
    for name, d in sorted(regs.items()):
        path = d.path
        if d.kind == "twin" and path.parent == Path(data_root):
            path = Path(path.name)  # a twin lives under the data root: stored relative, so the root can move
        entry = {"kind": d.kind, "format": d.format, "path": str(path)}
        if d.fingerprint:
            entry["fingerprint"] = d.fingerprint
        entry["added"] = d.added or _now()
        entry.update({k: v for k, v in d.extra.items() if isinstance(v, (str, int, float, bool))})
        table[name] = entry
    head = ("# Your datasets, registered by `aostbench data add` and `aostbench data make my.toml`.\n"
            "# `aostbench data remove NAME` unregisters one (its files stay). Folders are never written to.\n")
    text = head + (dump_toml({"datasets": table}) if table else "")
    dest = registration_path(data_root)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(dest)


def view_base(d: UserDataset, data_root: Path) -> Path:
    """The folder the format reader starts from: the registered folder, or its view under the data root."""
    top = d.extra.get("read_as")
    if not top:
        return d.path
    base = Path(data_root) / VIEWS_DIR / d.name
    link = base / top
    if not link.is_symlink() or Path(os.readlink(link)) != d.path:
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(d.path, target_is_directory=True)
    return base


def _read_as_candidates(fmt_name: str) -> list[str]:
    """Where the folder may sit in the format's layout, deepest first: `market1501/Market-1501-v15.09.15`,
    then `market1501` (cuhk03: `cuhk03-np`, `cuhk03`, ...)."""
    from benchmark.datasets.formats import get_format

    out = []
    for alt in get_format(fmt_name).layout.split(" | "):
        path = alt.strip().split(" ")[0]
        parts = path.split("/")
        if not path.endswith("/"):
            parts = parts[:-1]  # the last component names files
        keep = []
        for part in parts:
            if not part or any(c in part for c in "{}<>*|"):
                break
            keep.append(part)
        for k in range(len(keep), 0, -1):
            cand = "/".join(keep[:k])
            if cand not in out:
                out.append(cand)
    return out


def add_dataset(name: str, path: str | Path, fmt: str, data_root: Path, *, update: bool = False,
                deep: bool = False):
    """Register folder `path` as dataset `name` in format `fmt`; returns (UserDataset, CheckReport).

    The folder is validated first with `data check`'s report; when it has errors nothing is
    registered and UserDataError carries the report's first error (the report is on `.report`).
    """
    from benchmark.datasets.check import check_spec
    from benchmark.datasets.formats import format_names
    from benchmark.datasets.registry import user_spec

    data_root = Path(data_root).expanduser().absolute()
    problem = name_problem(name)
    if problem:
        raise UserDataError(problem)
    regs = read_registrations(data_root)
    if name in regs and not update:
        raise UserDataError(f"dataset {name!r} is already registered ({regs[name].path}); re-register it with "
                            f"--update, or choose another name")
    if update and name not in regs:
        raise UserDataError(f"dataset {name!r} is not registered; add it without --update")
    if name in regs and regs[name].kind == "twin":
        raise UserDataError(f"{name!r} is a twin made by `aostbench data make`; regenerate it with "
                            f"--overwrite instead")
    if fmt not in format_names():
        raise UserDataError(f"unknown format {fmt!r}; expected one of {', '.join(format_names())} "
                            f"(`{UNLABELED}`: any folder of unlabeled images)")
    folder = Path(path).expanduser().absolute()
    if not folder.is_dir():
        raise UserDataError(f"no folder at {folder}: give the path of an existing folder")
    if folder == data_root or data_root in folder.parents and folder.parts[len(data_root.parts)] == VIEWS_DIR:
        raise UserDataError(f"{folder} is the data root or one of its views; give the dataset's own folder")
    kind = "unlabeled" if fmt == UNLABELED else "labeled"
    tried = []  # (errors, warnings, UserDataset, report, fingerprint) per way of reading the folder
    for read_as in ([None] + ([] if fmt == UNLABELED else _read_as_candidates(fmt))):
        d = UserDataset(name=name, kind=kind, format=fmt, path=folder, added=_now(),
                        extra={"read_as": read_as} if read_as else {})
        report, fp = check_spec(user_spec(d, data_root), data_root, deep=deep)
        _in_user_terms(report, d, data_root)
        if report.missing:
            _drop_view(data_root, name)
            continue  # the format's layout is not there when read this way
        images = sum(c["images"] for c in report.counts.values())
        tried.append((-images, len(report.errors), len(report.warnings), d, report, fp))
        if read_as:
            _drop_view(data_root, name)
    if not tried:
        from benchmark.datasets.formats import get_format

        raise UserDataError(f"{folder} does not hold a {fmt} layout: expected {get_format(fmt).layout} inside it, "
                            f"or the folder to be one of its levels; check --format")
    *_, d, report, fp = min(tried, key=lambda t: t[:3])  # the reading that finds most images, then fewest errors
    if not report.ok:
        err = UserDataError(f"{folder} is not a valid {fmt} folder ({len(report.errors)} error(s), the first: "
                            f"{report.errors[0].splitlines()[0]}); fix the folder or check --format")
        err.report = report
        raise err
    view_base(d, data_root)  # the chosen view (if any) is the one kept
    d = UserDataset(name=d.name, kind=d.kind, format=d.format, path=d.path, fingerprint=fp,
                    added=regs[name].added if name in regs else d.added, extra=d.extra)
    regs[name] = d
    _write(data_root, regs)
    return d, report


def _in_user_terms(report, d: UserDataset, data_root: Path) -> None:
    """Say the user's folder where the report says the view's link (the view is our detail)."""
    top = d.extra.get("read_as")
    if not top:
        return
    link = str(Path(data_root) / VIEWS_DIR / d.name / top)
    fix = lambda text: text.replace(link, str(d.path))  # noqa: E731
    report.root = fix(report.root)
    report.errors[:] = [fix(m) for m in report.errors]
    report.warnings[:] = [fix(m) for m in report.warnings]
    report.notes[:] = [fix(m) for m in report.notes]


def _drop_view(data_root: Path, name: str) -> None:
    """Remove a view: its links and the folders holding them; never anything a link points to."""
    base = Path(data_root) / VIEWS_DIR / name
    if not base.is_dir() or base.is_symlink():
        return
    for folder, dirs, files in os.walk(base, topdown=False, followlinks=False):
        for entry in (*dirs, *files):
            p = Path(folder) / entry
            if p.is_symlink():
                p.unlink()
            elif p.is_dir():
                p.rmdir()  # empty by now: only our own folders are in a view
    base.rmdir()


def remove_dataset(name: str, data_root: Path) -> UserDataset:
    """Unregister `name`; its files are never deleted (a twin's folder stays under the data root)."""
    data_root = Path(data_root).expanduser().absolute()
    regs = read_registrations(data_root)
    n = normalise(name)
    if n not in regs:
        mine = ", ".join(regs) or "none"
        raise UserDataError(f"no user dataset {name!r} is registered under {data_root} (registered: {mine})")
    d = regs.pop(n)
    _write(data_root, regs)
    _drop_view(data_root, n)
    return d


def twin_name_problem(name: str, data_root: Path) -> str | None:
    """Why a twin spec's `name` cannot be written and registered as a user twin (None: fine, or built-in)."""
    from benchmark.names import BUILTIN_KEYS

    if name in BUILTIN_KEYS:
        return None  # a built-in twin's own slot
    problem = name_problem(name, "twin")
    if problem:
        return problem
    regs = read_registrations(Path(data_root))
    if name in regs and regs[name].kind != "twin":
        return f"twin name {name!r} is already registered for the folder {regs[name].path}; rename the twin"
    return None


def register_twin(name: str, data_root: Path, fmt: str) -> UserDataset | None:
    """Register a user twin written under `<data_root>/<name>/` (built-in twins need no registration)."""
    from benchmark.datasets.fingerprint import fingerprint
    from benchmark.datasets.registry import load_dataset_spec, user_spec
    from benchmark.names import BUILTIN_KEYS

    if name in BUILTIN_KEYS:
        return None
    data_root = Path(data_root).expanduser().absolute()
    regs = read_registrations(data_root)
    d = UserDataset(name=name, kind="twin", format=fmt, path=data_root / name,
                    added=regs[name].added if name in regs else _now())
    ds = load_dataset_spec(user_spec(d, data_root), data_root, verify=False)
    d = UserDataset(name=d.name, kind=d.kind, format=d.format, path=d.path, fingerprint=fingerprint(ds),
                    added=d.added)
    regs[name] = d
    _write(data_root, regs)
    return d
