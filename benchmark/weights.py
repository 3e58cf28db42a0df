"""Pretrained weights files: which ones the profiles use, where they are looked for, fetching them.

The one home of what is known about each file: its official name, where it
comes from and what it is for. Loaders (`reid.models`, `aost.distances`,
`fid`) read files from disk only; nothing is downloaded at run time. A
missing file is an error that gives the `aostbench weights fetch` command.

Checksums: torchvision's and pytorch-fid's file names carry the first hex
digits of the file's SHA-256 (`vgg19-dcbb9e9d.pth`); as `torch.hub` does, a
file is verified when its SHA-256 starts with that prefix. torchreid's OSNet
files carry no hash (status "no hash in name").

`fetch` downloads to `<dest>/.<name>.part`, resumes a partial file with an
HTTP Range request, verifies the hash and only then renames the file into
place (atomic); a file whose hash does not match is deleted, never left where
the loaders look.

Light: no torch import (the CLI lists and fetches without it).
"""
from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from benchmark.paths import find_weights, weights_dirs

_HASH_RE = re.compile(r"-([a-f0-9]*)\.")  # torch.hub's HASH_REGEX
_TORCHVISION = "https://download.pytorch.org/models/"
_GDRIVE = "https://drive.google.com/uc?id="


@dataclass(frozen=True)
class WeightsFile:
    name: str  # what `weights fetch NAME` takes
    filename: str  # the official file name (what loaders look for)
    url: str  # where it officially comes from
    purpose: str

    @property
    def hash_prefix(self) -> str | None:
        m = _HASH_RE.search(self.filename)
        return m.group(1) if m and m.group(1) else None


def _table() -> dict[str, WeightsFile]:
    files = [
        WeightsFile("vgg19", "vgg19-dcbb9e9d.pth", _TORCHVISION + "vgg19-dcbb9e9d.pth",
                    "ImageNet VGG-19 of the attribute-optimisation distances"),
        WeightsFile("fid-inception", "pt_inception-2015-12-05-6726825d.pth",
                    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                    "pt_inception-2015-12-05-6726825d.pth",
                    "pytorch-fid's FID Inception"),
    ]
    # torchreid's ImageNet backbones (its resnet.model_urls / osnet pretrained_urls; tested equal)
    for arch, fname in (("resnet18", "resnet18-5c106cde.pth"), ("resnet34", "resnet34-333f7ec4.pth"),
                        ("resnet50", "resnet50-19c8e357.pth"), ("resnet101", "resnet101-5d3b4d8f.pth"),
                        ("resnet152", "resnet152-b121ed2d.pth"), ("resnext50_32x4d", "resnext50_32x4d-7cdf4587.pth"),
                        ("resnext101_32x8d", "resnext101_32x8d-8ba56ff5.pth")):
        files.append(WeightsFile(arch, fname, _TORCHVISION + fname, f"ImageNet {arch} re-ID backbone"))
    for arch, gid in (("osnet_x1_0", "1LaG1EJpHrxdAxKnSCJ_i0u-nbxSAeiFY"), ("osnet_x0_75", "1uwA9fElHOk3ZogwbeY5GkLI6QPTX70Hq"),
                      ("osnet_x0_5", "16DGLbZukvVYgINws8u8deSaOqjybZ83i"), ("osnet_x0_25", "1rb8UN5ZzPKRc_xvtHlyDh-cSz88YX9hs"),
                      ("osnet_ibn_x1_0", "1sr90V6irlYYDd4_4ISU2iruoRG8J__6l"),
                      ("osnet_ain_x1_0", "1-CaioD9NaqbHK_kzSMW8VE4_3KcsRjEo"), ("osnet_ain_x0_75", "1apy0hpsMypqstfencdH-jKIUEFOW4xoM"),
                      ("osnet_ain_x0_5", "1KusKvEYyKGDTUBVRxRiz55G31wkihB6l"), ("osnet_ain_x0_25", "1SxQt2AvmEcgWNhaRb2xC4rP6ZwVDP0Wt")):
        files.append(WeightsFile(arch, f"{arch}_imagenet.pth", _GDRIVE + gid,
                                 f"ImageNet {arch} re-ID backbone (torchreid's Google Drive file)"))
    return {f.name: f for f in files}


KNOWN: dict[str, WeightsFile] = _table()
VGG19 = KNOWN["vgg19"]
FID_INCEPTION = KNOWN["fid-inception"]
_ARCH_ALIASES = {"resnet50_fc512": "resnet50"}  # torchreid builds it on the resnet50 ImageNet file


def for_arch(arch: str) -> WeightsFile:
    """The ImageNet file torchreid would load for `arch`; ValueError naming the supported archs."""
    key = _ARCH_ALIASES.get(arch, arch)
    if key in KNOWN and key not in (VGG19.name, FID_INCEPTION.name):
        return KNOWN[key]
    archs = sorted(k for k in KNOWN if k not in (VGG19.name, FID_INCEPTION.name)) + sorted(_ARCH_ALIASES)
    raise ValueError(f"no ImageNet weights are known for arch {arch!r}; pretrained training supports "
                     f"{', '.join(sorted(archs))} - or set pretrained=false")


def needed_by(profile) -> list[tuple[WeightsFile, str]]:
    """(file, what needs it) for every weights file a profile names."""
    out = []
    if profile.pretrained:
        out.append((for_arch(profile.arch), f"arch={profile.arch}, pretrained=true"))
    if profile.ao_vgg_weights == "imagenet":
        out.append((VGG19, "ao_vgg_weights=imagenet"))
    if profile.fid_weights == "official":
        out.append((FID_INCEPTION, "fid_weights=official"))
    return out


def fetch_command(wf: WeightsFile) -> str:
    return f"aostbench weights fetch {wf.name}"


class MissingWeights(Exception):
    """A part of the run needs a weights file that is not on disk. Never downloaded at run time."""

    def __init__(self, wf: WeightsFile, needed_for: str, *more: tuple[WeightsFile, str]):
        where = " or ".join(str(d) for d in weights_dirs())
        files = [(wf, needed_for), *more]
        what = "; ".join(f"{f.filename} ({f.purpose}, for {why})" for f, why in files)
        super().__init__(
            f"missing weights file{'s' if more else ''} {what}. "
            f"Get {'them' if more else 'it'} with `aostbench weights fetch {' '.join(f.name for f, _ in files)}`, "
            f"or put {'them' if more else 'it'} in {where} (AOSTBENCH_WEIGHTS=DIR names another folder). "
            f"Nothing is downloaded at run time. Official source{'s' if more else ''}: {', '.join(f.url for f, _ in files)}"
        )
        self.filename = wf.filename
        self.files = [f.filename for f, _ in files]


def require(wf: WeightsFile, needed_for: str) -> Path:
    p = find_weights(wf.filename)
    if p is None:
        raise MissingWeights(wf, needed_for)
    return p


def require_all(needs: list[tuple[WeightsFile, str]]) -> None:
    """MissingWeights naming every absent file of `needs` at once (one fetch command for all)."""
    missing = [(wf, why) for wf, why in needs if find_weights(wf.filename) is None]
    if missing:
        raise MissingWeights(*missing[0], *missing[1:])


# --- checksums -----------------------------------------------------------------------------------

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_of(path: str | Path) -> str:
    """SHA-256 hex digest of a file (remembered per path, size and mtime within the process)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def checksum_status(filename: str, sha256: str) -> str:
    """"ok" when the SHA-256 starts with the prefix the file name carries, "mismatch", or "no hash in name"."""
    m = _HASH_RE.search(Path(filename).name)
    if not m or not m.group(1):
        return "no hash in name"
    return "ok" if sha256.startswith(m.group(1)) else "mismatch"


def use_record(part: str, path: str | Path, tensors: int, label: str) -> dict:
    """What a run records for a weights file it loaded, at the point of use."""
    p = Path(path)
    digest = sha256_of(p)
    return {"part": part, "file": p.name, "path": str(p), "sha256": digest,
            "checksum": checksum_status(p.name, digest), "tensors": int(tensors), "label": label}


def status(wf: WeightsFile) -> dict:
    """Where `wf` is looked for, whether it is there, and its checksum status."""
    path = find_weights(wf.filename)
    row = {"name": wf.name, "file": wf.filename, "looked_in": [str(d) for d in weights_dirs()],
           "path": str(path) if path else None, "present": path is not None, "checksum": "missing", "sha256": None}
    if path is not None:
        row["sha256"] = sha256_of(path)
        row["checksum"] = checksum_status(wf.filename, row["sha256"])
    return row


# --- fetching ------------------------------------------------------------------------------------

class ChecksumMismatch(ValueError):
    pass


def source_url(wf: WeightsFile, base_url: str | None = None) -> str:
    """The official URL, or `<base_url>/<file name>` (a mirror, or a test server)."""
    return f"{base_url.rstrip('/')}/{wf.filename}" if base_url else wf.url


def fetch(wf: WeightsFile, dest: str | Path, *, base_url: str | None = None, progress: bool = True,
          timeout: float = 60.0, attempts: int = 3, stream=None) -> Path:
    """Download `wf` into `dest` (resuming a partial download), verify its hash, move it into place.

    A transfer cut short is resumed (HTTP Range) up to `attempts` times in this call; what
    was received stays in `.<name>.part`, so a later call resumes too.
    """
    dest = Path(dest).expanduser()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create the weights folder {dest} ({exc.strerror}); pass --dest DIR") from None
    final = dest / wf.filename
    part = dest / f".{wf.filename}.part"
    url = source_url(wf, base_url)
    for attempt in range(1, attempts + 1):
        try:
            _download(wf, url, part, progress=progress, timeout=timeout, stream=stream)
            break
        except _CutShort as exc:
            if attempt == attempts:
                raise OSError(f"{exc}; run `{fetch_command(wf)}` again to resume") from None
    with open(part, "rb") as f:
        head = f.read(2)
    if not (head == b"PK" or head[:1] == b"\x80"):  # torch.save's zip or legacy pickle; not an HTML page
        part.unlink()
        raise ChecksumMismatch(f"{wf.filename} from {url} is not a PyTorch weights file (it starts with {head!r}; "
                               "a login or quota page?); the download was deleted")
    digest = sha256_of(part)
    if checksum_status(wf.filename, digest) == "mismatch":
        part.unlink()
        raise ChecksumMismatch(
            f"{wf.filename} from {url}: SHA-256 {digest[:16]}... does not start with {wf.hash_prefix} "
            "(the hash in its name); the download was deleted")
    os.replace(part, final)
    return final


class _CutShort(OSError):
    pass


def _download(wf: WeightsFile, url: str, part: Path, *, progress: bool, timeout: float, stream) -> None:
    import http.client

    from benchmark import progress as prog

    have = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "aostbench"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the partial file is already whole
            return
        raise OSError(f"cannot download {wf.filename} from {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise OSError(f"cannot download {wf.filename} from {url}: {getattr(exc, 'reason', exc)}") from None
    with resp:
        resumed = have > 0 and resp.status == 206
        if not resumed:
            have = 0  # the server sent the whole file
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        label = f"fetch {wf.filename}" + (f" (resumed at {have} B)" if resumed else "")
        with open(part, "ab" if resumed else "wb") as out, \
                prog.stage(label, total, unit="B", enabled=progress, done=have, stream=stream) as bar:
            try:
                while True:
                    chunk = resp.read(1 << 16)
                    if not chunk:
                        break
                    out.write(chunk)
                    bar.update(len(chunk))
            except (http.client.IncompleteRead, ConnectionError, TimeoutError) as exc:
                out.flush()
                raise _CutShort(f"download of {wf.filename} was cut short ({type(exc).__name__})") from None
            out.flush()
            os.fsync(out.fileno())
    got = part.stat().st_size
    if total is not None and got < total:
        raise _CutShort(f"download of {wf.filename} stopped at {got} of {total} bytes")
