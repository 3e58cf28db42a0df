"""The one vocabulary of dataset names: canonical keys, the short names people type, user datasets.

Light on purpose (no torch, no DuckDB, no pandas): the CLI, the store, the
app and the pipeline all resolve names here, so `cuhk`, `market_1501` or
`sim-duke` mean the same thing everywhere. Stage names live in
`benchmark.stages` (the Stage registry); train specs are parsed by
`benchmark.specs` from both.

User datasets (`aostbench data add`) and user twins (`aostbench data make
my.toml`) join the vocabulary at run time: `Vocabulary.at(data_root)` reads the
data root's registration file (`benchmark.datasets.user` writes it).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

TWIN_PREFIX = "sim-"
SUBMISSION_PREFIX = "submission:"
REGISTRATION_FILE = "user_datasets.toml"  # under the data root; human-readable, written by `data add`


@dataclass(frozen=True)
class BuiltinName:
    key: str
    display: str  # as the paper prints it
    kind: str  # real | synthetic


# the paper's test sets first (their order is the tables' column order), then the synthetic sources
BUILTIN: tuple[BuiltinName, ...] = (
    BuiltinName("market1501", "Market-1501", "real"),
    BuiltinName("dukemtmc", "DukeMTMC-reID", "real"),
    BuiltinName("cuhk03", "CUHK03", "real"),
    BuiltinName("msmt17", "MSMT17", "real"),
    BuiltinName("finegpr", "FineGPR", "synthetic"),
    BuiltinName("randperson", "RandPerson", "synthetic"),
    BuiltinName("unreal", "UnrealPerson", "synthetic"),
    BuiltinName("personx", "PersonX", "synthetic"),
    BuiltinName("somaset", "SOMAset", "synthetic"),
    BuiltinName("syri", "SyRI", "synthetic"),
)
_BY_KEY = {b.key: b for b in BUILTIN}
TEST_ORDER = ("market1501", "dukemtmc", "cuhk03", "msmt17")

# the short names people type -> canonical key; each also works with the twin prefix (sim-duke)
_SHORT = {
    "market": "market1501", "market-1501": "market1501",
    "duke": "dukemtmc", "dukemtmc-reid": "dukemtmc", "dukemtmcreid": "dukemtmc",
    "cuhk": "cuhk03", "cuhk03-np": "cuhk03",
    "msmt": "msmt17",
    "unrealperson": "unreal", "soma": "somaset",
}
ALIASES: dict[str, str] = {**_SHORT, **{TWIN_PREFIX + a: TWIN_PREFIX + k for a, k in _SHORT.items()}}
BUILTIN_KEYS: tuple[str, ...] = tuple(b.key for b in BUILTIN) + tuple(TWIN_PREFIX + b.key for b in BUILTIN)

# user dataset kinds: labeled folders (a test set, or a source), unlabeled image folders (a target only), twins
USER_KINDS = ("labeled", "unlabeled", "twin")


class UnknownDataset(KeyError):
    """A dataset name that is neither a key, an alias nor a registered user dataset."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def normalise(name: str) -> str:
    """The spelling names are compared in: trimmed, lower case, '_' as '-'."""
    return name.strip().lower().replace("_", "-")


def alias_key(name: str) -> str:
    """Built-in aliases expanded, anything else normalised and passed through (the store's lenient reading)."""
    n = normalise(name)
    return ALIASES.get(n, n)


def is_builtin(name: str) -> bool:
    """Whether `name` is a built-in key or alias (user datasets may not take these names)."""
    n = normalise(name)
    return n in _BY_KEY or n in ALIASES or n in BUILTIN_KEYS


def mirror_key(key: str) -> str:
    """The real dataset a built-in twin stands for (`sim-market1501` -> `market1501`); other keys unchanged."""
    if key.startswith(TWIN_PREFIX) and key[len(TWIN_PREFIX):] in _BY_KEY:
        return key[len(TWIN_PREFIX):]
    return key


def display(key: str) -> str:
    """How the paper prints a dataset; twins keep their prefix; user datasets print as registered."""
    if key.startswith(TWIN_PREFIX) and key[len(TWIN_PREFIX):] in _BY_KEY:
        return TWIN_PREFIX + _BY_KEY[key[len(TWIN_PREFIX):]].display
    return _BY_KEY[key].display if key in _BY_KEY else key


def builtin_kind(key: str) -> str | None:
    if key in _BY_KEY:
        return _BY_KEY[key].kind
    if key.startswith(TWIN_PREFIX) and key[len(TWIN_PREFIX):] in _BY_KEY:
        return "procedural"
    return None


@dataclass(frozen=True)
class UserDataset:
    """One registration: a folder the user owns (never written to), read with a known format."""

    name: str
    kind: str  # labeled | unlabeled | twin
    format: str  # a loader's format key (market1501, ...) or "images" (any folder tree of images)
    path: Path
    fingerprint: str | None = None
    added: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def store_kind(self) -> str:
        """The kind the store records: user twins are procedural; folders are `user`."""
        return "procedural" if self.kind == "twin" else "user"


class RegistrationError(ValueError):
    """The data root's registration file cannot be read; the message names the file."""


def read_registrations(data_root: Path) -> dict[str, UserDataset]:
    """The user datasets registered under `data_root` (empty when there is no registration file)."""
    path = Path(data_root) / REGISTRATION_FILE
    if not path.is_file():
        return {}
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RegistrationError(f"{path}: not valid TOML ({exc}); fix or remove the file") from None
    out: dict[str, UserDataset] = {}
    table = raw.get("datasets", {})
    if not isinstance(table, dict):
        raise RegistrationError(f"{path}: [datasets.NAME] tables expected")
    for name, d in table.items():
        if not isinstance(d, dict) or not all(isinstance(d.get(k), str) for k in ("kind", "format", "path")):
            raise RegistrationError(f"{path}: [datasets.{name}] needs kind, format and path strings")
        if d["kind"] not in USER_KINDS:
            raise RegistrationError(f"{path}: [datasets.{name}] kind must be one of {', '.join(USER_KINDS)}")
        p = Path(d["path"])
        out[name] = UserDataset(name=name, kind=d["kind"], format=d["format"],
                                path=p if p.is_absolute() else Path(data_root) / p,
                                fingerprint=d.get("fingerprint"), added=str(d.get("added", "")),
                                extra={k: v for k, v in d.items()
                                       if k not in ("kind", "format", "path", "fingerprint", "added")})
    return out


@dataclass(frozen=True)
class Vocabulary:
    """Built-in keys and aliases plus the user datasets of one data root."""

    user: Mapping[str, UserDataset] = field(default_factory=dict)

    @classmethod
    def at(cls, data_root: str | Path | None) -> "Vocabulary":
        return cls(read_registrations(Path(data_root))) if data_root is not None else cls()

    def keys(self) -> list[str]:
        return [*BUILTIN_KEYS, *self.user]

    def canonical(self, name: str) -> str:
        """The canonical key of a name, alias or user dataset; UnknownDataset listing what there is."""
        n = normalise(name)
        if n in BUILTIN_KEYS:
            return n
        if n in ALIASES:
            return ALIASES[n]
        if n in self.user:
            return n
        short = ", ".join(f"{a}={k}" for a, k in _SHORT.items())
        users = f"; yours: {', '.join(self.user)}" if self.user else ""
        raise UnknownDataset(
            f"unknown dataset {name!r}. Available: {', '.join(BUILTIN_KEYS)} "
            f"(aliases: {short}, and sim-<alias>){users}. "
            f"Register your own folder with: aostbench data add NAME PATH --format FORMAT"
        )

    def kind(self, key: str) -> str:
        """real / synthetic / procedural / user / submission."""
        if key.startswith(SUBMISSION_PREFIX):
            return "submission"
        if key in self.user:
            return self.user[key].store_kind
        return builtin_kind(key) or "user"
