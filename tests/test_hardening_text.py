"""Strangers' text shown safely (issue 15 items 7, 10, 13): one rule for the terminal, one for the app.

Hostile strings (Rich markup, terminal escape and hyperlink sequences, bidi overrides, zero-width
characters, lone surrogates from non-UTF-8 file names, Markdown, HTML, GFM autolinks) are stored
the way a stranger or a damaged artefact would store them, then shown by the CLI and the app.
"""
from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path

import pytest
import typer
from markdown_it import MarkdownIt
from rich.console import Console
from typer.testing import CliRunner

from benchmark.profiles import SMOKE
from benchmark.store import Metrics, RunResult, Store
from benchmark.text_safety import for_terminal, inert_md, inert_tree, printable

HIDDEN = ("Cc", "Cf", "Cs", "Zl", "Zp")
HOSTILE = [
    "\x1b[31mred\x1b[0m", "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\", "\x9b2J", "a\x00b", "\x07bell",
    "\u202eevil\u202c", "\u2066iso\u2069", "zero\u200bwidth", "\ufeffbom", "soft\u00adhyphen", "line\u2028sep",
    "byte \udcff here", "\ud800 high", "tab\there", "new\nline", "cr\rreturn", "\U000e0041tag",
]
MARKUP = ["x[/red]", "sim-finegpr[/]", "[link=https://evil.example]click[/link]", "[bold", "trail\\",
          ":warning: :smile:", "[/]", "\\[escaped]", "a[red]b[/red]c"]
AUTOLINKS = [
    "www.example.com/x", "see www.example.com", "http://evil.example/a?b=c", "https://x.y", "ftp://files.example",
    "a@b.org", "mailto:a@b.org", "xmpp:user@host.example", "<http://x.y>", "<a@b.org>", "[t](http://x.y)",
    "![i](http://x.y/i.png)", "[ref]\n\n[ref]: http://x.y", "**bold** _it_", "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>", "$x^2$", ":material/home: :smile:", "`code` and ``double``", "` lead",
    "trail `", " both ", "# heading", "> quote", "| a | b |", "&amp; &#46;", "WWW.EXAMPLE.COM",
]


def _no_hidden(s: str) -> bool:
    return not any(unicodedata.category(ch) in HIDDEN for ch in s)


@pytest.mark.parametrize("text", HOSTILE + MARKUP + AUTOLINKS)
def test_printable_is_visible_utf8(text):
    out = printable(text)
    out.encode("utf-8")  # strict: a lone surrogate would raise
    assert _no_hidden(out)
    assert printable(out) == out  # idempotent: escaping twice shows the same


def test_printable_shows_what_was_hidden():
    assert printable("\x1b[31m") == "\\x1b[31m"
    assert printable("\u202eabc") == "\\u202eabc"
    assert printable("name\udcff.jpg") == "name\\xff.jpg"  # the byte that was not UTF-8
    assert printable(b"caf\xc3\xa9 \xff") == "café \\xff"
    assert printable("a\nb", keep="\n") == "a\nb" and printable("a\nb") == "a\\nb"
    assert printable(None) == "" and printable(42) == "42"
    assert inert_tree({"k\udcff": ["v\x1b", 1, {"x": "\u202e"}]}) == {"k\\xff": ["v\\x1b", 1, {"x": "\\u202e"}]}


def _rendered(markup: str) -> str:
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, color_system="truecolor", emoji=False, width=400).print(
        markup, highlight=False, soft_wrap=True)
    return buf.getvalue()


@pytest.mark.parametrize("text", HOSTILE + MARKUP + AUTOLINKS)
def test_for_terminal_prints_exactly_the_printable_text(text):
    raw = _rendered(f"[bold]{for_terminal(text)}[/] end")  # inside our own markup, as the CLI does
    plain = re.sub(r"\x1b\[[0-9;]*m", "", raw)  # our bold style is the only escape sequence left
    assert plain.rstrip("\n") == printable(text) + " end"
    assert "\x1b]" not in raw  # no hyperlink or other operating-system command reached the terminal


def _code_spans_only(md: str) -> list[str]:
    """The inline tokens of `md` (CommonMark); inert means: one code span and nothing else."""
    tokens = MarkdownIt("commonmark").parseInline(md)[0].children
    return [t.type for t in tokens]


def markdown_is_inert(md: str) -> bool:
    """True when nothing outside code spans can become a link, emphasis, HTML, math or an icon."""
    outside = re.sub(r"(`+)(?:(?!\1).)+?\1", " ", md, flags=re.S)
    return not re.search(r"www\.|[a-z]+://|@|[<>\[\]*_$`]|:[\w/]+:|&|\\", outside, flags=re.I)


@pytest.mark.parametrize("text", HOSTILE + MARKUP + AUTOLINKS)
def test_inert_md_is_one_literal_code_span(text):
    md = inert_md(text)
    assert markdown_is_inert(md)
    tokens = MarkdownIt("commonmark").parseInline(md)[0].children
    assert [t.type for t in tokens] == ["code_inline"]
    assert tokens[0].content == printable(text).replace("\n", " ")


# -- the CLI ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_app() -> typer.Typer:
    from cli import db as db_cli
    from cli import results as results_cli
    from cli import runs as runs_cli
    from cli import submit as submit_cli

    a = typer.Typer()
    for mod in (results_cli, runs_cli, db_cli, submit_cli):
        mod.register(a)
    return a


def _invoke(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args])


EVIL_SPEC = "sim-finegpr[/]"
EVIL_ERROR = "[link=https://evil.example]click[/link] \x1b]8;;http://x\x1b\\ www.example.com \u202erev"


@pytest.fixture()
def hostile_store(tmp_path: Path):
    db, runs = tmp_path / "r" / "aostbench.duckdb", tmp_path / "r" / "runs"
    store = Store(db, runs)
    ok = RunResult.new(EVIL_SPEC, SMOKE, 0, ["sim-market1501[/red]"], id="x[red]-1")
    ok.config["note"] = "[link=https://evil.example]x[/link] \x1b[2J"
    store.start_run(ok)
    ok.metrics["sim-market1501[/red]"] = Metrics(r1=30.0, r5=50.0, map=20.0)
    store.finish_run(ok)
    bad = RunResult.new("sim-finegpr", SMOKE, 1, ["sim-market1501"], id="y[bold]-2")
    store.start_run(bad)
    store.fail_run(bad.id, EVIL_ERROR)
    store.add_submission("evil", status="rejected", reasons=["image 'bad\udcff.jpg': [red]x www.example.com"],
                         report={"description": "\udcfe \x1b[31m", "errors": ["\u202e"]})
    return db, runs


def test_runs_list_show_and_results_print_hostile_strings_literally(cli_app, hostile_store):
    db, runs = hostile_store
    r = _invoke(cli_app, "runs", "list", "--db", db)
    assert r.exit_code == 0, r.output
    assert EVIL_SPEC in r.output and "x[red]-1" in r.output and "\x1b" not in r.output
    r = _invoke(cli_app, "runs", "show", "y[bold]-2", "--db", db)
    assert r.exit_code == 0, r.output
    assert "[link=https://evil.example]click[/link]" in r.output and "\\x1b]8;;" in r.output
    assert "\x1b" not in r.output and "\u202e" not in r.output and "\\u202erev" in r.output
    r = _invoke(cli_app, "runs", "show", "x[red]-1", "--db", db)
    assert r.exit_code == 0, r.output
    assert EVIL_SPEC in r.output and "\\x1b[2J" in r.output
    r = _invoke(cli_app, "results", "--table", "2", "--db", db)
    assert r.exit_code == 0, r.output
    r = _invoke(cli_app, "runs", "list", "--format", "csv", "--db", db)
    assert r.exit_code == 0 and "\x1b" not in r.output


def test_submissions_list_and_show_survive_a_stored_surrogate(cli_app, hostile_store):
    db, _ = hostile_store
    for args in (("submissions", "list"), ("submissions", "list", "--json"), ("submissions", "show", "evil")):
        r = _invoke(cli_app, *args, "--db", db)
        assert r.exit_code == 0, (args, r.output, r.exception)
        r.output.encode("utf-8")
    r = _invoke(cli_app, "submissions", "show", "evil", "--db", db)
    assert "bad\\xff.jpg" in r.output and "[red]x www.example.com" in r.output


def test_db_check_and_rebuild_print_hostile_ids_literally(cli_app, hostile_store):
    db, runs = hostile_store
    (runs / "x[red]-1" / "result.json").write_text("{ not json", encoding="utf-8")
    r = _invoke(cli_app, "db", "check", "--db", db)
    assert r.exit_code == 1 and "x[red]-1" in r.output, r.output
    r = _invoke(cli_app, "db", "rebuild", "--db", db)
    assert r.exit_code == 0 and "x[red]-1" in r.output, r.output


# -- the app ------------------------------------------------------------------------------------------
APP_PAGES = Path(__file__).resolve().parent.parent / "leaderboard_app"


def _page(name: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP_PAGES / "pages" / name), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _all_markdown(at) -> list[str]:
    out = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.label for e in at.expander]
    out += [e.value for e in at.error] + [w.value for w in at.warning] + [i.value for i in at.info]
    return out


def test_app_pages_show_hostile_text_inert(hostile_store, monkeypatch):
    db, runs = hostile_store
    monkeypatch.setenv("AOSTBENCH_DB", str(db))
    monkeypatch.setenv("AOSTBENCH_RUNS", str(runs))
    at = _page("submissions.py")
    assert len(at.expander) == 1
    assert any("bad\\xff.jpg" in t.value and "www.example.com" in t.value for t in at.text)
    assert not any(t.value.startswith(("stored at", "fingerprint")) for t in at.text)  # no "nan" lines
    at = _page("runs.py")
    at.selectbox(key="runs-detail").set_value("y[bold]-2").run()
    assert not at.exception
    assert any("www.example.com" in c.value for c in at.code)
    for md in _all_markdown(at):
        assert "www.example.com" not in md or markdown_is_inert(md.split("·")[-1])
    for name in ("leaderboard.py", "ablation.py", "fid.py", "attributes.py", "downloads.py"):
        _page(name)
