"""Submissions that carry strangers' bytes into text (issue 15 items 10, 12), and submit as a transaction."""
from __future__ import annotations


import pytest
import typer
from typer.testing import CliRunner

from benchmark.submissions import list_submissions, submit
from cli import submit as submit_cli
from tests.test_submissions import SMALL, env, market_files, write_tree  # noqa: F401 - env is a fixture


@pytest.fixture()
def app() -> typer.Typer:
    a = typer.Typer()
    submit_cli.register(a)
    return a


def _invoke(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("field", ["description", "license"])
@pytest.mark.parametrize("text", ["bad \udcff byte", "\x1b]8;;http://x\x1b\\link", "rev\u202eersed", "nul\x00",
                                  "zero\u200bwidth", "\ud800"])
def test_text_fields_with_hidden_or_non_utf8_characters_fail_at_dry_run_and_submit_alike(env, field, text):
    root = write_tree(env["inputs"] / "sub", market_files())
    dry = submit(root, "texty", dry_run=True, **{field: text})
    assert dry.status == "invalid" and any("non-UTF-8" in r for r in dry.reasons), dry.reasons
    real = submit(root, "texty", **{field: text})
    assert real.status == "rejected" and real.reasons == dry.reasons
    row = [r for r in list_submissions() if r["name"] == "texty"][-1]
    stored = repr(row)  # the stored row holds only printable text
    assert all(ch not in stored for ch in ("\udcff", "\ud800", "\x1b", "\u202e", "\u200b"))


def test_a_non_utf8_file_name_is_rejected_and_every_listing_still_works(env, app):
    files = market_files()
    root = write_tree(env["inputs"] / "sub", files)
    bad = root / "bounding_box_train" / "0009_c1s1_000000_01\udcff.jpg"
    bad.write_bytes(files["bounding_box_train/0001_c1s1_000000_01.jpg"])
    result = submit(root, "bytes")
    assert result.status == "rejected" and any("\\xff" in r and "non-UTF-8" in r for r in result.reasons)
    for args in (("submissions", "list"), ("submissions", "show", "bytes"), ("submissions", "list", "--json")):
        r = _invoke(app, *args)
        assert r.exit_code == 0, (args, r.output, r.exception)
        assert "\\xff" in r.output
    r = _invoke(app, "submit", root, "--name", "bytes", "--description", "x\udcffy", "--dry-run")
    assert r.exit_code == 1 and "x\\xffy" in r.output and "Traceback" not in r.output


def test_an_attributes_cell_over_the_csv_limit_names_file_and_line(env):
    root = write_tree(env["inputs"] / "sub", market_files())
    attrs = env["inputs"] / "ids.csv"
    attrs.write_text("pid,bag\n1,yes\n2," + "y" * 140_000 + "\n", encoding="utf-8")
    result = submit(root, "cells", attributes=attrs, limits=SMALL)
    assert result.status == "rejected"
    assert any("attributes file 'ids.csv' line 3: a field longer than 131,072 characters" in r
               for r in result.reasons), result.reasons
