"""`aostbench data list|check|make|preview` through Typer's CliRunner, on tiny fixtures."""
from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import benchmark.synth
import cli.common
import cli.data
from benchmark.datasets import check_dataset, load_dataset
from tests.test_datasets import MARKET_DIR, image_bytes, make_market, make_syri, make_twin_market, put, tree_state

runner = CliRunner()


def data_app() -> typer.Typer:
    """Only the `data` group, so this file does not depend on other command modules importing."""
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        pass

    cli.data.register(app)
    return app


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    # long paths would otherwise be folded across lines
    monkeypatch.setattr(cli.common.console, "width", 400)
    monkeypatch.setattr(cli.common.err_console, "width", 400)
    monkeypatch.delenv("AOSTBENCH_DEBUG", raising=False)


def invoke(*args: str):
    return runner.invoke(data_app(), ["data", *args])


def test_list_shows_found_missing_counts_and_hints(tmp_path):
    make_market(tmp_path)
    make_syri(tmp_path)
    before = tree_state(tmp_path)
    res = invoke("list", "--data-root", str(tmp_path))
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    market = next(line for line in lines if "│ market1501 " in line)
    assert "found" in market and "train 7/4 ids" in market and "gallery 4/3 ids" in market
    msmt = next(line for line in lines if "│ msmt17 " in line)
    assert "missing" in msmt and str(tmp_path / "msmt17") in msmt
    assert "msmt17: get it from https://www.pkuvmc.com" in res.output  # what to download, where to put it
    assert "aostbench data make sim-market1501 --scale demo" in res.output
    assert tree_state(tmp_path) == before


def test_list_flags_a_broken_dataset(tmp_path):
    make_market(tmp_path)
    bad = put(tmp_path.joinpath(*MARKET_DIR, "query", "nonsense.jpg"))
    res = invoke("list", "--data-root", str(tmp_path))
    assert res.exit_code == 0
    assert "invalid" in res.output and str(bad) in res.output


def test_check_ok_and_json(tmp_path):
    make_market(tmp_path)
    res = invoke("check", "market", "--data-root", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert "check market1501 (real)" in res.output and "result: OK" in res.output
    res = invoke("check", "market1501", "--data-root", str(tmp_path), "--json")
    assert res.exit_code == 0 and '"ok": true' in res.output


def test_check_bad_name_exits_1_naming_the_file(tmp_path):
    make_market(tmp_path)
    bad = put(tmp_path.joinpath(*MARKET_DIR, "bounding_box_train", "0001-c1.jpg"))
    res = invoke("check", "market1501", "--data-root", str(tmp_path))
    assert res.exit_code == 1
    assert str(bad) in res.output and "PPPP_cCsS_FFFFFF_NN.jpg" in res.output
    assert "result: FAILED (1 error(s))" in res.output


def test_check_deep_finds_a_truncated_image(tmp_path):
    make_market(tmp_path)
    victim = tmp_path.joinpath(*MARKET_DIR, "query", "0004_c1s1_000400_00.jpg")
    data = image_bytes("JPEG", shade=7)
    victim.write_bytes(data[: len(data) // 3])
    assert invoke("check", "market1501", "--data-root", str(tmp_path)).exit_code == 0
    res = invoke("check", "market1501", "--deep", "--data-root", str(tmp_path))
    assert res.exit_code == 1 and str(victim) in res.output and "undecodable" in res.output


def test_check_missing_and_unknown_are_one_clear_message(tmp_path):
    res = invoke("check", "duke", "--data-root", str(tmp_path))
    assert res.exit_code == 1
    assert "DukeMTMC-reID" in res.output and "--train sim-finegpr+aost --test sim-duke" in res.output
    res = invoke("check", "dukemtc", "--data-root", str(tmp_path))
    assert res.exit_code == 1
    assert "unknown dataset 'dukemtc'" in res.output and "Traceback" not in res.output


def test_check_twin(tmp_path):
    make_twin_market(tmp_path)
    res = invoke("check", "sim-market", "--data-root", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert "counts match twin.toml" in res.output


def test_make_rejects_real_names_and_bad_scales(tmp_path):
    res = invoke("make", "market", "--root", str(tmp_path))
    assert res.exit_code == 1 and "its procedural twin is sim-market1501" in res.output
    res = invoke("make", "sim-market", "--scale", "huge", "--root", str(tmp_path))
    assert res.exit_code == 1 and "unknown scale 'huge'" in res.output
    assert list(tmp_path.iterdir()) == []


def test_make_and_preview_pass_canonical_names_to_the_engine(tmp_path, monkeypatch):
    """The CLI's plumbing only: the engine is replaced by a recorder (it has its own tests)."""
    calls = []

    def make_twin(name, root, *, scale="demo", seed=0, overwrite=False, progress=None):
        calls.append(("make", name, Path(root), scale, seed, overwrite))
        progress(1, 4)  # the shapes of progress call the CLI must survive
        progress(4, 4, "done")
        progress(done=2, total=4)

    def preview_sheet(name, root, out):
        calls.append(("preview", name, Path(root), Path(out)))
        return out

    monkeypatch.setattr(benchmark.synth, "make_twin", make_twin, raising=False)
    monkeypatch.setattr(benchmark.synth, "preview_sheet", preview_sheet, raising=False)
    res = invoke("make", "sim-duke", "--scale", "full", "--seed", "3", "--root", str(tmp_path), "--overwrite")
    assert res.exit_code == 0, res.output
    res = invoke("preview", "sim-market", "--root", str(tmp_path), "-o", str(tmp_path / "s.png"))
    assert res.exit_code == 0, res.output
    assert calls == [
        ("make", "sim-dukemtmc", tmp_path, "full", 3, True),
        ("preview", "sim-market1501", tmp_path, tmp_path / "s.png"),
    ]


def test_make_twin_spec_file_passes_through(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(benchmark.synth, "make_twin", lambda name, root, **kw: seen.append(name), raising=False)
    spec = put(tmp_path / "mytarget.toml", b'name = "sim-mytarget"\n')
    assert invoke("make", str(spec), "--root", str(tmp_path)).exit_code == 0
    assert seen == [str(spec)]
    res = invoke("make", str(tmp_path / "absent.toml"), "--root", str(tmp_path))
    assert res.exit_code == 1 and "absent.toml not found" in res.output


def _engine_ready() -> bool:
    import importlib

    try:
        synth = importlib.import_module("benchmark.synth")
    except ImportError:
        return False
    return callable(getattr(synth, "make_twin", None))


@pytest.mark.slow
@pytest.mark.skipif(not _engine_ready(), reason="benchmark.synth.make_twin is not written yet")
def test_made_twin_reads_here_and_in_torchreid(tmp_path):
    """The issue's end-to-end check: a demo sim-market1501 from the CLI is read by our loader, passes
    its check, and torchreid's own Market1501 class reads the same counts from the same files."""
    from torchreid.reid.data.datasets.image.market1501 import Market1501

    res = invoke("make", "sim-market1501", "--scale", "demo", "--root", str(tmp_path))
    assert res.exit_code == 0, res.output
    ds = load_dataset("sim-market1501", tmp_path)
    assert ds.kind == "procedural" and "prior" in ds.meta["twin"]
    report = check_dataset("sim-market1501", tmp_path)
    assert report.ok, report.to_text()
    theirs = Market1501(root=str(tmp_path / "sim-market1501"), verbose=False)
    assert [len(theirs.train), len(theirs.query), len(theirs.gallery)] == [len(ds.train), len(ds.query), len(ds.gallery)]
    assert theirs.num_train_pids == ds.num_train_pids
