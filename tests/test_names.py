"""One vocabulary (issue 14 item 2): dataset names, stages and specs resolve the same everywhere.

The CLI (`run`, `results --test`), the store's queries and the app all read
benchmark.names / benchmark.stages / benchmark.specs; these tests assert that
every alias and every spec spelling lands on the same key in each of them.
"""
from __future__ import annotations

import pytest

from benchmark import names, stages
from benchmark.datasets import canonical_key, dataset_keys
from benchmark.specs import SpecError, canonical_spec, parse_spec
from benchmark.store import naming
from benchmark.synth.spec import load_twin_spec

ALIAS_CASES = sorted(names.ALIASES.items()) + [(k, k) for k in names.BUILTIN_KEYS] + [
    ("Market_1501", "market1501"), (" DUKE ", "dukemtmc"), ("sim_duke", "sim-dukemtmc"), ("CUHK", "cuhk03")]


@pytest.mark.parametrize("alias, key", ALIAS_CASES)
def test_every_alias_resolves_the_same_in_cli_store_and_app(alias, key, tmp_path):
    from cli.results import parse_test_sets

    assert canonical_key(alias, tmp_path) == key  # run --test / --target, data check
    assert parse_test_sets(alias) == [key]  # results --test
    assert naming.canonical(alias) == key  # store queries and the app's filters
    assert parse_spec(f"{alias}+ao", dataset=lambda n: canonical_key(n, tmp_path)).base == key
    assert canonical_spec(f"{alias}+ao") == f"{key}+ao"


def test_registry_and_vocabulary_list_the_same_datasets():
    assert tuple(dataset_keys()) == names.BUILTIN_KEYS
    for alias, key in names.ALIASES.items():
        assert key in names.BUILTIN_KEYS, alias


def test_twin_aliases_reach_the_engine_specs():
    for alias, key in names.ALIASES.items():
        if alias.startswith(names.TWIN_PREFIX):
            assert load_twin_spec(alias).name == key


@pytest.mark.parametrize("spelling", ["sim-finegpr+aost", "sim-finegpr+ao+st", "sim-finegpr+st+ao",
                                      "SIM-FineGPR+AOST", "sim_finegpr+ao+st"])
def test_runs_df_accepts_every_spelling_run_accepts(spelling, tmp_path):
    """`run` stores parse_spec(...).text; the store's reading of any accepted spelling is that same text."""
    from benchmark.store import RunResult, Store
    from benchmark.profiles import get_profile
    from benchmark.store.queries import runs_df

    stored = parse_spec(spelling).text
    assert stored == "sim-finegpr+aost"
    db = tmp_path / "a.duckdb"
    store = Store(db, tmp_path / "runs")
    run = RunResult.new(stored, get_profile("smoke"), 0, ["sim-market1501"])
    store.start_run(run)
    assert list(runs_df(db, train_spec=spelling)["id"]) == [run.id]


def test_stage_registry_carries_what_each_stage_is():
    ao, st, rnd = stages.get_stage("ao"), stages.get_stage("st"), stages.get_stage("random")
    assert ao.needs_attributes and ao.adapts_to_target and ao.uses_budget
    assert st.adapts_to_target and st.restyles and not st.uses_budget
    assert rnd.uses_budget and not rnd.adapts_to_target
    assert stages.fid_label(["ao", "st"]) == "aost" and stages.fid_label(["st"]) == "st"
    assert stages.fid_label([]) == stages.FULL
    assert parse_spec("sim-finegpr+ao+st").adapts_to_target
    assert naming.display_name("sim-finegpr+aost") == "sim-FineGPR+AOST"
    assert naming.table2_member("finegpr+aost") and not naming.table2_member("finegpr+ao")


def test_duplicate_stage_names_are_refused():
    with pytest.raises(ValueError, match="already registered"):
        stages.register(stages.Stage("ao", "AO again", "x:y"))
    with pytest.raises(ValueError, match="already registered"):
        stages.register(stages.Shorthand("aost", ("ao", "st"), "AOST"))


def test_specs_refuse_two_choosers_and_unknown_stages():
    with pytest.raises(SpecError, match="both choose the images"):
        parse_spec("sim-finegpr+random+ao")
    with pytest.raises(SpecError, match=r"\+random, \+ao, \+st, \+aost"):
        parse_spec("sim-finegpr+magic")


def test_the_vocabulary_modules_are_light():
    import subprocess
    import sys

    code = ("import sys, benchmark.names, benchmark.stages, benchmark.specs; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'duckdb', 'pandas', 'numpy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
