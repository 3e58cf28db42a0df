"""`images`: any folder tree of images, unlabeled (a target for AO and style transfer, never a test set).

The paper's target U (Algorithm 1) is unlabeled: no identities, no cameras.
Every image file under the folder, at any depth, becomes a train record with
pid -1 and camid -1; hidden and non-image files are listed as ignored.
"""
from __future__ import annotations

import os
from pathlib import Path

from benchmark.datasets.formats.base import Format, LoadOptions, Loaded
from benchmark.datasets.issues import Issues
from benchmark.datasets.records import Record
from benchmark.datasets.scan import is_image_name, is_system_file

LAYOUT = "any folder tree of image files (.jpg, .png, ...); no identities or cameras needed"


def _locate(base: Path) -> Path | None:
    return base if base.is_dir() else None


def _load(base: Path, issues: Issues, opts: LoadOptions) -> Loaded:
    loaded = Loaded(root=base, required=("train",))
    if not base.is_dir():
        issues.error(f"missing folder {base} (expected: {LAYOUT})")
        return loaded
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not is_system_file(d))  # sorted: a deterministic record order
        for name in sorted(files):
            path = os.path.join(folder, name)
            if is_system_file(name):
                issues.ignore(path, "system file")
            elif not is_image_name(name):
                issues.ignore(path, "not an image file")
            else:
                loaded.train.append(Record(path=path, pid=-1, camid=-1))
    loaded.meta["unlabeled"] = True
    return loaded


FORMATS = {"images": Format("images", LAYOUT, _locate, _load)}
