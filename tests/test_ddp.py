"""Two CPU processes (torchrun, gloo) give the same features and evaluation as one; DDP training runs."""
from __future__ import annotations

import json
import math
import os
import textwrap
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from benchmark.profiles import SMOKE
from benchmark.reid.data import split_query_gallery, write_toy_records
from benchmark.reid.distributed import launch_torchrun
from benchmark.reid.evaluate import evaluate_features
from benchmark.reid.features import extract_record_features
from benchmark.reid.models import build_reid_model

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
PROFILE = SMOKE.with_(height=32, width=16, batch_size=16, epochs=1, lr_steps=())

WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import torch
    torch.set_num_threads(1)
    from benchmark.datasets.records import Record
    from benchmark.profiles import SMOKE
    from benchmark.reid import distributed as D
    from benchmark.reid.data import eval_dataset
    from benchmark.reid.features import default_forward, extract_features, extract_record_features
    from benchmark.reid.models import build_reid_model
    from benchmark.reid.train import train

    data = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    profile = SMOKE.with_(**data["profile"])
    q, g, tr = ([Record(**r) for r in data[k]] for k in ("query", "gallery", "train"))
    info = D.init_from_env("cpu")
    torch.manual_seed(0)
    model, _ = build_reid_model(profile, 8)
    qf = extract_record_features(model, q, profile, batch_size=3, split="query")
    gf = extract_record_features(model, g, profile, batch_size=3, flip=True, split="gallery")
    seen = []  # images this process forwarded: its shard only
    counting = lambda m, x: seen.append(len(x)) or default_forward(m, x)
    extract_features(model, eval_dataset(q, profile.height, profile.width), forward=counting)
    res = train(tr, profile, out / "train", progress=False, device="cpu")
    if D.is_main():
        torch.save({"qf": qf, "gf": gf, "world": info.world_size, "backend": info.backend, "rank0_items": sum(seen)}, out / "ddp.pt")
        (out / "result.json").write_text(json.dumps(res.to_dict()))
    D.cleanup()
    """
)


def _metrics(qf, gf, q, g):
    m = evaluate_features(qf, gf, [r.pid for r in q], [r.pid for r in g], [r.camid for r in q], [r.camid for r in g])
    return m.cmc[:10].tolist(), m.mAP, m.mINP


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    train_recs = write_toy_records(tmp_path / "train", num_ids=8, images_per_id=5, seed=0)
    q, g = split_query_gallery(write_toy_records(tmp_path / "test", num_ids=8, images_per_id=5, seed=1))
    q, g = q[:-1], g[:-1]  # 15 and 23 items: uneven shards over 2 processes
    payload = {
        "profile": {k: v for k, v in PROFILE.to_dict().items() if k in ("height", "width", "batch_size", "epochs")}
        | {"lr_steps": []},
        **{k: [asdict(r) for r in recs] for k, recs in (("query", q), ("gallery", g), ("train", train_recs))},
    }
    (tmp_path / "data.json").write_text(json.dumps(payload))
    (tmp_path / "worker.py").write_text(WORKER)
    env = {"OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = launch_torchrun(
        2, str(tmp_path / "worker.py"), [tmp_path / "data.json", tmp_path / "out"],
        env=env, cwd=tmp_path, check=False, capture_output=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ddp = torch.load(tmp_path / "out" / "ddp.pt", weights_only=True)
    assert ddp["world"] == 2 and ddp["backend"] == "gloo" and ddp["rank0_items"] == 8  # 8 + 7 of 15

    torch.manual_seed(0)
    model, _ = build_reid_model(PROFILE, 8)
    qf = extract_record_features(model, q, PROFILE, batch_size=3, split="query")
    gf = extract_record_features(model, g, PROFILE, batch_size=3, flip=True, split="gallery")
    assert ddp["qf"].shape == qf.shape and ddp["gf"].shape == gf.shape
    assert torch.allclose(ddp["qf"], qf, atol=1e-5) and torch.allclose(ddp["gf"], gf, atol=1e-5)
    assert _metrics(ddp["qf"], ddp["gf"], q, g) == _metrics(qf, gf, q, g)

    res = json.loads((tmp_path / "out" / "result.json").read_text())
    per_process = math.ceil(len(train_recs) / 2) // (PROFILE.batch_size // 2) * (PROFILE.batch_size // 2)
    assert res["world_size"] == 2 and res["batch_size"] == PROFILE.batch_size
    assert res["images_seen"] == 2 * per_process and math.isfinite(res["final_loss"])
    assert (tmp_path / "out" / "train" / "model.pth").is_file()
    assert not list((tmp_path / "out" / "train").glob("*.tmp"))
