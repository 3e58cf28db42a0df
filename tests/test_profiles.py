"""Profiles as data: the built-in TOML files, user profiles with a base, `--set`, and their checks."""
from __future__ import annotations

import json
from dataclasses import fields

import pytest
from typer.testing import CliRunner

from benchmark import profiles as P
from benchmark.profiles import Profile, ProfileError, builtin, describe, load_profile, parse_sets
from cli.main import app

runner = CliRunner()


def test_builtins_are_complete_typed_files():
    for name in P.BUILTIN:
        text = (P._HERE / f"{name}.toml").read_text()
        p = builtin(name)
        assert p.name == name and p.base == name and describe(p) == name
        for f in fields(Profile):  # every setting is written in the file, nothing comes from a code default
            assert f.name == "base" or f"\n{f.name} = " in "\n" + text, (name, f.name)
            assert f.metadata.get("doc"), f"{f.name} has no documentation"
    assert P.PAPER.arch == "resnet50" and P.PAPER.lr_steps == (40, 70) and P.PAPER.epochs == 120
    assert P.CPU.style_width == 16 and P.CPU.style_max_images == 300 and P.SMOKE.fid_dims == 64
    assert not hasattr(P.PAPER, "extra")


def test_user_profile_names_a_base_and_changes_fields(tmp_path):
    f = tmp_path / "long.toml"
    f.write_text('base = "cpu"\nepochs = 40\nlr_steps = [30]\narch = "resnet50_fc512"\n')
    p = load_profile(str(f))
    assert (p.name, p.base, p.epochs, p.lr_steps, p.arch) == ("long", "cpu", 40, (30,), "resnet50_fc512")
    assert p.batch_size == P.CPU.batch_size
    assert describe(p) == "long (cpu, arch=resnet50_fc512, lr_steps=30, epochs=40)"
    g = tmp_path / "child.toml"  # a file may build on another file
    g.write_text('base = "long.toml"\nname = "child"\nbatch_size = 16\n')
    c = load_profile(str(g), ["epochs=50"])
    assert (c.name, c.base, c.epochs, c.batch_size, c.arch) == ("child", "cpu", 50, 16, "resnet50_fc512")
    # `profiles show --format toml` writes a file that loads back to the same settings
    out = tmp_path / "saved.toml"
    out.write_text(P.to_toml(c))
    assert load_profile(str(out)).settings() == c.settings()


@pytest.mark.parametrize("body, message", [
    ('epochs = 3\n', "name a base profile"),
    ('base = "gpu"\n', "unknown profile 'gpu'"),
    ('base = "cpu"\nname = "paper"\n', "built-in profile"),
    ('base = "cpu"\nepocs = 3\n', "unknown setting 'epocs' (did you mean 'epochs'?); valid keys: arch,"),
    ('base = "cpu"\nepochs = "ten"\n', "expected an integer for 'epochs'"),
    ('base = "cpu"\npretrained = 1\n', "expected true or false for 'pretrained'"),
    ('base = "cpu"\nepochs = 10\nlr_steps = [15]\n', "lr step 15 is beyond the 10 epochs"),
    ('base = "cpu"\nbase = "x"\n', "not valid TOML"),
    ('base = "bad.toml"\n', "cycle"),
    ('base = "cpu"\nname = "[red]x y"\n', "use letters, digits"),
])
def test_bad_profile_files_are_one_line_errors(tmp_path, body, message):
    f = tmp_path / "bad.toml"
    f.write_text(body)
    with pytest.raises(ProfileError) as e:
        load_profile(str(f))
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("sets, message", [
    (["epocs=3"], "valid keys: arch, pretrained"),
    (["epochs"], "expected KEY=VALUE"),
    (["name=x"], "unknown setting 'name'"),
    (["epochs=-1"], "epochs = -1 is impossible; expected at least 1"),
    (["epochs=1.5"], "expected an integer for 'epochs'"),
    (["arch=resnet51"], "arch = 'resnet51' is impossible; expected one of resnet18"),
    (["lr_steps=40,200"], "lr step 200 is beyond the 120 epochs"),
    (["lr=0"], "lr = 0.0 is impossible"),
    (["flip=2"], "flip = 2.0 is impossible"),
    (["fid_dims=100"], "expected one of 64, 192, 768, 2048"),
    (["style=pix2pix"], "expected one of spgan, cyclegan, color, dat"),
    (["ao_method=nope"], "ao_method = 'nope' is impossible; expected one of gatys"),
    (["ao_input=64"], "two integers"),
    (["style_size=64x32"], "expected two integers HEIGHT,WIDTH"),
])
def test_bad_sets_are_one_line_errors(sets, message):
    with pytest.raises(ProfileError) as e:
        load_profile("paper", sets)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_sets_are_typed_and_inherited_steps_that_cannot_fire_are_dropped():
    p = load_profile("paper", ["epochs=1", "batch_size=8", "pretrained=false", "ao_input=128,64", "lr=1e-3"])
    assert (p.epochs, p.batch_size, p.pretrained, p.ao_input, p.lr) == (1, 8, False, (128, 64), 1e-3)
    assert p.lr_steps == ()  # 40 and 70 never fire in 1 epoch: the stored schedule is the one that ran
    assert load_profile("paper", ["epochs=60"]).lr_steps == (40,)
    assert describe(load_profile("paper", {"epochs": 60})) == "paper, lr_steps=40, epochs=60"
    assert parse_sets(["style=dat", "lr_steps="]) == {"style": "dat", "lr_steps": ""}
    assert load_profile("cpu", ["lr_steps="]).lr_steps == ()
    # the legacy `extra` dict of stored runs maps onto the named fields
    old = {**P.CPU.to_dict(), "extra": {"style_width": 4, "style_max_images": 9}}
    del old["style_width"], old["style_max_images"], old["label_smooth"], old["ao_method"]
    assert Profile.from_dict(old) == P.CPU.with_(style_width=4, style_max_images=9)


def test_profiles_cli_lists_and_shows_resolved_settings(tmp_path):
    res = runner.invoke(app, ["profiles", "list"])
    assert res.exit_code == 0 and "osnet_x0_25" in res.output and "resnet50" in res.output
    res = runner.invoke(app, ["profiles", "show", "paper", "--set", "epochs=60", "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["epochs"] == 60 and d["lr_steps"] == [40] and d["arch"] == "resnet50"
    res = runner.invoke(app, ["profiles", "show", "paper", "--set", "epochs=60"])
    assert "paper, lr_steps=40, epochs=60" in res.output and "(changed)" in res.output


@pytest.mark.parametrize("command", [["run", "--train", "sim-finegpr", "--test", "sim-market"],
                                     ["grid", "--table", "3", "--sim"], ["demo"]])
def test_bad_set_fails_before_any_work(tmp_path, command):
    db, data = tmp_path / "r" / "x.duckdb", tmp_path / "data"
    res = runner.invoke(app, [*command, "--profile", "paper", "--set", "batch_sise=8",
                              "--data-root", str(data), "--db", str(db)])
    assert res.exit_code == 1
    assert "unknown setting 'batch_sise' (did you mean 'batch_size'?)" in res.output and "valid keys" in res.output
    assert not (tmp_path / "r").exists() and not data.exists()  # no DB, no twins made, nothing written


def test_resolving_and_keying_need_no_torch():
    """The CLI checks settings before any work, and a cluster's preflight computes run keys, without torch."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; from benchmark.profiles import load_profile; from benchmark.runkey import run_key; "
            "p = load_profile('paper', ['epochs=3', 'arch=resnet50_fc512']); "
            "run_key('finegpr+aost', ('ao', 'st'), p, target='market1501'); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    root = Path(__file__).resolve().parent.parent
    res = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_perf_runs_at_the_profiles_threads_and_gives_the_count_back():
    """perf ao / ao-recovery measure what a run of the profile would do: the cpu profile's one thread."""
    import torch

    from benchmark.profiles import get_profile, run_threads, torch_threads

    before = torch.get_num_threads()
    cpu = get_profile("cpu").with_(threads=before + 1)
    with torch_threads(run_threads(cpu, "cpu")):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    with torch_threads(run_threads(cpu, "cuda")), torch_threads(run_threads(cpu.with_(threads=0), "cpu")):
        assert torch.get_num_threads() == before  # a GPU run, or torch's default, leaves it alone
    with pytest.raises(RuntimeError), torch_threads(run_threads(cpu, "cpu")):
        raise RuntimeError("a failed measurement")
    assert torch.get_num_threads() == before
