"""Names from strangers: submission names, ids, relative paths; and how to show them safely.

Every SQL statement is parameterised, so these rules are not what keeps the
database safe; they keep names usable as a folder name, in a train spec
(`submission:NAME+aost`) and on a web page, and make errors readable.
"""
from __future__ import annotations

import re

from benchmark.submissions.errors import InvalidName
from benchmark.text_safety import has_hidden, printable

NAME_RULE = "1-64 characters: lower-case letters, digits, '-' and '_', starting and ending with a letter or digit"
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
PID = re.compile(r"^\d{1,9}$")  # a person id: a non-negative integer
CAMID = re.compile(r"^\d{1,4}$")  # a camera id: a non-negative integer
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def shown(text: object, limit: int = 160) -> str:
    """Untrusted text for a message: control, bidi and non-UTF-8 characters escaped, length capped, quoted."""
    s = printable(text)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return f"'{s}'"


def validate_name(name: object) -> str:
    """The submission name, unchanged, or InvalidName saying what a name may be."""
    if not isinstance(name, str) or not name:
        raise InvalidName(f"a submission needs a name ({NAME_RULE})")
    if not _NAME.fullmatch(name):
        raise InvalidName(f"invalid submission name {shown(name)}: expected {NAME_RULE}, e.g. my-synth-v2")
    return name


def is_valid_name(name: object) -> bool:
    try:
        validate_name(name)
    except InvalidName:
        return False
    return True


def path_problem(rel: str, *, max_chars: int, max_name_bytes: int, max_depth: int) -> str | None:
    """Why a relative path from an archive or a manifest is unsafe, or None when it is fine.

    Accepted: '/'-separated relative paths without '..', without a drive letter or
    backslash, without control characters; '.' components are allowed (tar writes './').
    """
    if not rel:
        return "empty path"
    if len(rel) > max_chars:
        return f"path longer than {max_chars} characters"
    if _CONTROL.search(rel) or has_hidden(rel):
        return "control character or other invisible or non-UTF-8 character in the path"
    if "\\" in rel:
        return "backslash in the path (only '/' separates folders)"
    if rel.startswith("/"):
        return "absolute path"
    if re.match(r"^[A-Za-z]:", rel):
        return "drive letter in the path"
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return "'..' in the path"
    if len(parts) > max_depth:
        return f"more than {max_depth} folders deep"
    if any(len(p.encode("utf-8", "surrogatepass")) > max_name_bytes for p in parts):
        return f"a path component longer than {max_name_bytes} bytes"
    return None


def normal_path(rel: str) -> str:
    """A safe relative path in its one spelling: no '.' or empty components, no trailing '/'."""
    return "/".join(p for p in rel.split("/") if p not in ("", "."))
