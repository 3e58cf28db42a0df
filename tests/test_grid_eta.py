"""The grid's ETA: work per cell, training progress read from run.log, and the estimate from both."""
from __future__ import annotations

import pytest

from benchmark.executors.eta import GridEta, cell_work, training_fraction
from benchmark.grid import Cell


def _cell(spec: str, **kw) -> Cell:
    return Cell("r", spec, ("sim-market1501",), 0, "cpu", **kw)


def test_cell_work_is_images_times_epochs_and_a_budget_caps_selection():
    from benchmark.profiles import load_profile

    epochs = load_profile("cpu").epochs
    assert cell_work(_cell("sim-finegpr"), 3600) == 3600 * epochs
    budget = load_profile("cpu").ao_budget
    assert cell_work(_cell("sim-finegpr+ao"), 3600) == min(3600, budget) * epochs
    assert cell_work(_cell("sim-finegpr+random", budget=500), 3600) == 500 * epochs
    assert cell_work(Cell("r", "sim-finegpr", ("x",), 0, "cpu", overrides=(("epochs", "3"),)), 100) == 300
    assert cell_work(_cell("sim-finegpr"), None) is None


def test_training_fraction_reads_the_last_epoch_line(tmp_path):
    log = tmp_path / "run.log"
    assert training_fraction(log) == 0.0  # not there yet
    log.write_text("2026-12-07 14:55:14 training osnet_x0_25 on 2000 images, 100 ids\n")
    assert training_fraction(log) == 0.0
    log.write_text(log.read_text() + "".join(
        f"2026-12-07 14:55:25 re-ID epoch {k}/20: loss 4.9, acc 0.8%, lr 0.0035, 9.0 s\n" for k in range(1, 6)))
    assert training_fraction(log) == pytest.approx(5 / 20)


def test_no_eta_before_anything_has_trained_then_one_from_the_rate():
    eta = GridEta(2, {"a": 100.0, "b": 100.0, "c": 200.0})
    assert eta.estimate({"a": (10.0, 0.0), "b": (10.0, 0.0)}) is None
    assert "ETA once" in eta.line({"a": (10.0, 0.0), "b": (10.0, 0.0)}, force=True)
    # 50 of a's 100 passes in 10 s: 5 passes/s/slot; left 50 + 100 (b) + 200 (c) over 2 slots
    left = eta.estimate({"a": (10.0, 0.5), "b": (0.0, 0.0)})
    assert left == pytest.approx((50 + 100 + 200) / 5 / 2)
    eta.finish("a", 20.0)
    eta.finish("b", 20.0)
    # one cell left: it runs on one slot however many there are
    assert eta.estimate({"c": (0.0, 0.0)}) == pytest.approx(200 / 5)
    line = eta.line({"c": (0.0, 0.0)}, force=True)
    assert "2/3 cells done, 1 running, 0 queued" in line and "ETA 00:40" in line


def test_a_failed_cell_does_not_count_as_work_done():
    eta = GridEta(1, {"a": 100.0, "b": 100.0})
    eta.finish("a", None)  # failed at once: no rate from it
    assert eta.estimate({"b": (5.0, 0.0)}) is None


def test_lines_are_spaced_out():
    eta = GridEta(1, {"a": 1.0})
    assert eta.line({}, force=True) is not None
    assert eta.line({}) is None  # within REPORT_EVERY_S of the last one
