"""Strangers' text made safe to show: one rule for the terminal, one for the app.

Strings from submissions, run artefacts and the DB can hold anything: terminal
escape sequences, bidi overrides that reorder what a reader sees, zero-width
characters, lone surrogates (a file name byte that is not UTF-8, decoded by
Python as U+DC80..U+DCFF), Rich markup (`[/red]`, `[link=...]`), Markdown and
GFM autolinks (`www.example.com`, `http://...`, `a@b.org`).

- `printable(x)`: every invisible or unencodable character shown as a visible
  escape (`\\x1b`, `\\u202e`, a non-UTF-8 byte as `\\xff`); the result always
  encodes as UTF-8. Both rules below start from it.
- `for_terminal(x)`: printable, then Rich markup escaped: print it with Rich
  markup on and it shows exactly as typed (consoles are made with emoji off).
- `inert(x)`: printable text for the app's plain-text elements (st.text,
  st.code, dataframes, JSON); `inert_md(x)`: the same as an inline code span,
  the one Markdown form that renders neither links, autolinks, emphasis nor HTML.
- `inert_tree(obj)`: `printable` on every string (keys too) of a JSON-like value.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any

# Cc controls (C0, DEL, C1: ESC starts terminal sequences), Cf format characters (bidi overrides and
# isolates, zero-width joiners/spaces, BOM, soft hyphen), Cs surrogates, line/paragraph separators
_HIDDEN = ("Cc", "Cf", "Cs", "Zl", "Zp")


_SHORT = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _visible(ch: str, keep: str) -> str:
    if ch in keep:
        return ch
    if ch in _SHORT:
        return _SHORT[ch]
    o = ord(ch)
    if 0xDC80 <= o <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape): show the byte
        return f"\\x{o - 0xDC00:02x}"
    if o < 0x100:
        return f"\\x{o:02x}"
    return f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}"


def _is_hidden(ch: str) -> bool:
    return unicodedata.category(ch) in _HIDDEN


# quick path: plain printable ASCII needs no per-character look
_PLAIN = re.compile(r"[ -~]*")


def printable(value: Any, keep: str = "") -> str:
    """`value` as text with every control, format, separator and surrogate character made a visible escape.

    `keep` lists characters left as they are (e.g. "\\n" for multi-line text). Bytes are
    decoded as UTF-8, undecodable bytes shown as `\\xNN`. None becomes ""."""
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "surrogateescape")
    s = value if isinstance(value, str) else str(value)
    if _PLAIN.fullmatch(s):
        return s
    return "".join(_visible(ch, keep) if _is_hidden(ch) else ch for ch in s)


def for_terminal(value: Any, keep: str = "") -> str:
    """Text to print with Rich (markup on): printable, with `[` that could open a tag escaped."""
    from rich.markup import escape

    return escape(printable(value, keep))


def inert(value: Any, keep: str = "") -> str:
    """Text for the app's plain-text elements (st.text, st.code, dataframe cells): printable."""
    return printable(value, keep)


def inert_md(value: Any) -> str:
    """Text inside Markdown as an inline code span: shown literally, no link/autolink/emphasis/HTML.

    The fence is one backtick longer than the longest run inside; newlines become spaces."""
    s = printable(value).replace("\n", " ")
    if not s:
        return ""
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or s.startswith(" ") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def inert_tree(value: Any, keep: str = "\n") -> Any:
    """A JSON-like value with `printable` applied to every string, keys included."""
    if isinstance(value, str):
        return printable(value, keep)
    if isinstance(value, dict):
        return {printable(k) if isinstance(k, str) else k: inert_tree(v, keep) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [inert_tree(v, keep) for v in value]
    return value


def has_hidden(value: str) -> bool:
    """True when `value` holds a character `printable` would escape (a check for input fields)."""
    return not _PLAIN.fullmatch(value) and any(_is_hidden(ch) for ch in value)
