"""`perf train` measures what it says: three feeds of one model, and the store's decode (no timing asserted)."""
from __future__ import annotations

from benchmark.perf.train import measure_train
from benchmark.profiles import get_profile
from benchmark.reid.data import write_toy_records


def test_measure_train_reports_all_three_feeds_and_the_decode(tmp_path):
    recs = write_toy_records(tmp_path / "imgs", num_ids=4, images_per_id=6, size=(64, 32))
    lines = []
    r = measure_train(recs, get_profile("smoke"), "cpu", batches=2, rounds=2, batch_size=8, work=tmp_path / "w",
                      log=lines.append)
    assert set(r["img_per_s"]) == {"pipeline", "jpeg", "memory"}
    assert all(len(v) == 2 and min(v) > 0 for v in r["rounds_img_per_s"].values())
    assert r["pipeline_vs_memory"] == r["img_per_s"]["pipeline"] / r["img_per_s"]["memory"]
    assert r["decode"]["status"] == "built" and r["decode"]["reopen_status"] == "hit"
    assert r["batch"] == 8 and r["device"] == "cpu" and len(lines) == 2
