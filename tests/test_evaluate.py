"""The re-ID evaluator: equal to torchreid's Python evaluator, mINP, chunking, bad input."""
from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmark.perf.eval import PeakExtraRSS, Size, make_split, run_eval_bench
from benchmark.reid.distance import FeatureError, compute_distance_matrix, iter_distance_blocks
from benchmark.reid.evaluate import (
    EvaluationError,
    ReidMetrics,
    evaluate,
    evaluate_features,
    evaluate_rank,
)

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def torchreid_metrics():
    """torchreid's metrics module (imported lazily: it is slow to import and absent on some hosts)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("torchreid.reid.metrics")


def torchreid_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank):
    with contextlib.redirect_stdout(io.StringIO()):  # "Note: number of gallery samples is quite small"
        return torchreid_metrics().evaluate_rank(
            distmat, q_pids, g_pids, q_camids, g_camids, max_rank=max_rank, use_cython=False
        )


def reference(distmat, q_pids, g_pids, q_camids, g_camids, max_rank):
    """Naive per-query evaluation written for these tests: padded CMC, AP, INP."""
    cmcs, aps, inps = [], [], []
    for i in range(len(q_pids)):
        order = np.argsort(distmat[i])  # numpy's default sort: the tie order torchreid sees too
        keep = ~((g_pids[order] == q_pids[i]) & (g_camids[order] == q_camids[i]))
        hits = g_pids[order][keep] == q_pids[i]
        if not hits.any():
            continue
        positions = np.flatnonzero(hits)
        cmcs.append([1.0 if k >= positions[0] else 0.0 for k in range(max_rank)])
        aps.append(np.mean([(j + 1) / (p + 1) for j, p in enumerate(positions)]))
        inps.append(len(positions) / (positions[-1] + 1))
    return np.mean(cmcs, axis=0), float(np.mean(aps)), float(np.mean(inps)), len(cmcs)


def kept_lengths(q_pids, g_pids, q_camids, g_camids):
    """Per query: (gallery size after same-pid-same-camera removal, has a match)."""
    same = q_pids[:, None] == g_pids[None, :]
    junk = same & (q_camids[:, None] == g_camids[None, :])
    return len(g_pids) - junk.sum(1), (same & ~junk).any(1)


@st.composite
def problems(draw, max_q=12, max_g=80):
    """Random evaluation inputs: junk-like pids (-1, 0), few cameras, ties, tiny galleries."""
    num_q = draw(st.integers(1, max_q))
    num_g = draw(st.integers(1, max_g))
    n_pids = draw(st.integers(1, 6))
    n_cams = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    kind = draw(st.sampled_from(["float32", "float64", "int-ties", "float32-ties", "float16"]))
    rng = np.random.default_rng(seed)
    q_pids = rng.integers(-1, n_pids - 1, num_q, endpoint=True)
    g_pids = rng.integers(-1, n_pids - 1, num_g, endpoint=True)
    q_camids = rng.integers(0, n_cams, num_q)
    g_camids = rng.integers(0, n_cams, num_g)
    if kind == "int-ties":
        distmat = rng.integers(0, 4, (num_q, num_g))
    elif kind == "float32-ties":
        distmat = rng.integers(0, 5, (num_q, num_g)).astype(np.float32) / 4 - 0.5
    else:
        distmat = rng.standard_normal((num_q, num_g)).astype(kind)
    return distmat, q_pids, g_pids, q_camids, g_camids


# ---------------------------------------------------------------- equal to torchreid


@SETTINGS
@given(problems())
def test_equals_torchreid_on_random_inputs(problem):
    distmat, q_pids, g_pids, q_camids, g_camids = problem
    lengths, valid = kept_lengths(q_pids, g_pids, q_camids, g_camids)
    if not valid.any():
        with pytest.raises(AssertionError):
            torchreid_rank(distmat, q_pids, g_pids, q_camids, g_camids, 50)
        with pytest.raises(EvaluationError, match="no match in the gallery"):
            evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids)
        return
    # torchreid crashes when a filtered gallery is shorter than max_rank: stay within them
    max_rank = int(min(50, lengths[valid].min()))
    want_cmc, want_map = torchreid_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank)
    cmc, mAP = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=max_rank)
    assert cmc.dtype == np.float32 and cmc.shape == want_cmc.shape
    np.testing.assert_allclose(cmc, want_cmc, atol=1e-6, rtol=0)
    assert mAP == pytest.approx(float(want_map), abs=1e-6)


@SETTINGS
@given(problems(max_q=8, max_g=40))
def test_padding_mINP_and_counts_match_a_naive_evaluation(problem):
    distmat, q_pids, g_pids, q_camids, g_camids = problem
    _, valid = kept_lengths(q_pids, g_pids, q_camids, g_camids)
    if not valid.any():
        return
    max_rank = 50  # usually longer than the filtered galleries here: CMC is padded
    m = evaluate(distmat, q_pids, g_pids, q_camids, g_camids, ranks=(1, 5), max_rank=max_rank)
    cmc, mAP, mINP, n_valid = reference(distmat, q_pids, g_pids, q_camids, g_camids, max_rank)
    assert m.cmc.shape == (max_rank,)
    np.testing.assert_allclose(m.cmc, cmc, atol=1e-6, rtol=0)
    assert m.mAP == pytest.approx(mAP, abs=1e-12)
    assert m.mINP == pytest.approx(mINP, abs=1e-12)
    assert (m.num_valid_queries, m.num_skipped_queries) == (n_valid, len(q_pids) - n_valid)
    assert m.r1 == pytest.approx(cmc[0]) and m.r5 == pytest.approx(cmc[4])


@pytest.mark.parametrize("n_pids", [8, 600])  # many positives per query (sorting), few (counting)
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_equals_torchreid_on_large_galleries(n_pids, dtype):
    rng = np.random.default_rng(n_pids)
    num_q, num_g = 30, 3000
    q_pids, g_pids = rng.integers(0, n_pids, num_q), rng.integers(0, n_pids, num_g)
    q_camids, g_camids = rng.integers(0, 3, num_q), rng.integers(0, 3, num_g)
    distmat = (rng.standard_normal((num_q, num_g)) * (2 if dtype == np.int64 else 1)).astype(dtype)
    want_cmc, want_map = torchreid_rank(distmat, q_pids, g_pids, q_camids, g_camids, 50)
    for given in (distmat, torch.from_numpy(distmat)):
        cmc, mAP = evaluate_rank(given, q_pids, g_pids, q_camids, g_camids)
        np.testing.assert_allclose(cmc, want_cmc, atol=1e-6, rtol=0)
        assert mAP == pytest.approx(float(want_map), abs=1e-6)


def test_equals_torchreid_on_clustered_features_and_chunking_changes_nothing():
    split = make_split(Size("tiny", 60, 700, 40, 4, 32, distractor_share=0.2), seed=3, noise=1.2)
    ids = (split.q_pids, split.g_pids, split.q_camids, split.g_camids)
    tr = torchreid_metrics()
    tr_dist = tr.compute_distance_matrix(split.qf, split.gf).numpy()
    want_cmc, want_map = torchreid_rank(tr_dist, *ids, 50)
    full = evaluate(tr_dist, *ids)
    assert 0.05 < full.mAP < 0.95 and 0.0 < full.mINP < full.mAP  # a non-trivial problem
    np.testing.assert_allclose(full.cmc, want_cmc, atol=1e-6, rtol=0)
    assert full.mAP == pytest.approx(float(want_map), abs=1e-6)
    for chunk in (1, 7, 1000):
        part = evaluate_features(split.qf, split.gf, *ids, chunk=chunk)
        np.testing.assert_allclose(part.cmc, full.cmc, atol=1e-6, rtol=0)
        assert part.mAP == pytest.approx(full.mAP, abs=1e-6)
        assert part.mINP == pytest.approx(full.mINP, abs=1e-6)
    via_pair = evaluate((split.qf, split.gf), *ids)
    assert via_pair.as_dict() == evaluate_features(split.qf, split.gf, *ids).as_dict()


def test_same_camera_images_of_the_query_pid_are_removed_and_pid_0_is_an_ordinary_id():
    # gallery 0: same pid, same camera (removed); 1: a negative; 2: same pid, other camera
    distmat = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], np.float32)
    q_pids, g_pids = np.array([0, 7]), np.array([0, 5, 0])
    q_camids, g_camids = np.array([1, 1]), np.array([1, 2, 2])
    m = evaluate(distmat, q_pids, g_pids, q_camids, g_camids, ranks=(1,), max_rank=3)
    # query 0 (pid 0, like torchreid: no special rule) finds its match at rank 2; query 1 has none
    assert (m.num_valid_queries, m.num_skipped_queries) == (1, 1)
    assert m.cmc.tolist() == [0.0, 1.0, 1.0] and m.mAP == pytest.approx(0.5) and m.mINP == pytest.approx(0.5)
    want_cmc, want_map = torchreid_rank(distmat, q_pids, g_pids, q_camids, g_camids, 2)
    cmc, mAP = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=2)
    assert cmc.tolist() == want_cmc.tolist() and mAP == pytest.approx(float(want_map))


def test_a_filtered_gallery_shorter_than_max_rank_is_valid_where_torchreid_crashes():
    distmat = np.array([[0.5, 0.1, 0.9, 0.2]], np.float32)
    q_pids, g_pids = np.array([1]), np.array([1, 1, 2, 3])
    q_camids, g_camids = np.array([0]), np.array([1, 0, 0, 0])  # gallery 1 is removed: 3 left
    with pytest.raises(ValueError, match="inhomogeneous"):  # a second query keeps all 4 images
        torchreid_rank(np.vstack([distmat, distmat]), np.array([1, 3]), g_pids, np.array([0, 1]), g_camids, 4)
    cmc, mAP = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50)
    assert cmc.tolist() == [0.0, 1.0, 1.0, 1.0]  # torchreid's length: min(max_rank, gallery size)
    assert mAP == pytest.approx(0.5)
    m = evaluate(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=10)
    assert m.cmc.tolist() == [0.0] + [1.0] * 9 and m.r10 == 1.0


# ---------------------------------------------------------------- distances


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_distances_equal_torchreid_and_do_not_depend_on_chunking(metric):
    gen = torch.Generator().manual_seed(0)
    qf, gf = torch.randn(37, 24, generator=gen), torch.randn(91, 24, generator=gen)
    want = torchreid_metrics().compute_distance_matrix(qf, gf, metric=metric)
    got = compute_distance_matrix(qf, gf, metric=metric)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(compute_distance_matrix(qf, gf, metric=metric, chunk=5), got, rtol=1e-6, atol=1e-6)
    blocks = list(iter_distance_blocks(qf, gf, metric=metric, chunk=10))
    assert [s for s, _ in blocks] == [0, 10, 20, 30] and blocks[-1][1].shape == (7, 91)
    torch.testing.assert_close(torch.cat([b for _, b in blocks]), got, rtol=1e-6, atol=1e-6)


def test_normalize_makes_euclidean_rank_like_cosine():
    gen = torch.Generator().manual_seed(1)
    qf, gf = torch.randn(5, 8, generator=gen), torch.randn(9, 8, generator=gen)
    eu = compute_distance_matrix(qf, gf, normalize=True)
    cos = compute_distance_matrix(qf, gf, metric="cosine")
    torch.testing.assert_close(eu, 2 * cos, rtol=0, atol=1e-5)  # |a-b|^2 = 2 - 2cos for unit vectors
    assert torch.equal(eu.argsort(1), cos.argsort(1))


# ---------------------------------------------------------------- bad input


def _ids(nq=3, ng=4):
    return np.arange(nq), np.arange(ng), np.zeros(nq, np.int64), np.ones(ng, np.int64)


def test_no_valid_query_names_the_split():
    d = np.zeros((3, 4), np.float32)
    q_pids, g_pids, q_c, g_c = np.array([1, 2, 3]), np.array([4, 5, 6, 1]), np.zeros(3, int), np.zeros(4, int)
    with pytest.raises(EvaluationError, match=r"market1501: the query set has no match in the gallery.*3 queries"):
        evaluate(d, q_pids, g_pids, q_c, g_c, name="market1501")
    with pytest.raises(EvaluationError, match="no match in the gallery"):
        evaluate_rank(d, q_pids, g_pids, q_c, g_c)


@pytest.mark.parametrize(
    "shape, message",
    [((0, 4), "query split is empty"), ((3, 0), "gallery split is empty"), ((3,), "must be 2-D")],
)
def test_empty_or_misshapen_distmat(shape, message):
    nq = shape[0]
    ng = shape[1] if len(shape) > 1 else 4
    with pytest.raises(EvaluationError, match=message):
        evaluate(np.zeros(shape, np.float32), *_ids(nq, ng), name="sim-market1501")


def test_mismatched_lengths_name_the_array():
    q_pids, g_pids, q_c, g_c = _ids()
    d = np.zeros((3, 4), np.float32)
    with pytest.raises(EvaluationError, match="g_pids has 3 entries but there are 4 gallery"):
        evaluate(d, q_pids, g_pids[:3], q_c, g_c)
    with pytest.raises(EvaluationError, match="q_camids has 2 entries but there are 3 query"):
        evaluate_rank(d, q_pids, g_pids, q_c[:2], g_c)
    with pytest.raises(EvaluationError, match="q_pids must be integers"):
        evaluate(d, q_pids.astype(float), g_pids, q_c, g_c)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_distances_are_refused(bad):
    d = np.random.default_rng(0).random((3, 4)).astype(np.float32)
    d[2, 1] = bad
    with pytest.raises(EvaluationError, match=r"distmat contains 1 NaN/inf.*query 2, gallery 1"):
        evaluate(d, *_ids())


@pytest.mark.parametrize("side", ["query", "gallery"])
def test_nan_features_are_refused_naming_the_split(side):
    qf, gf = torch.randn(3, 5), torch.randn(4, 5)
    (qf if side == "query" else gf)[1, 2] = float("nan")
    message = rf"cuhk03: {side} features contain NaN/inf in 1 of \d rows \(first bad row: 1\)"
    with pytest.raises(EvaluationError, match=message):
        evaluate_features(qf, gf, *_ids(), name="cuhk03")
    with pytest.raises(FeatureError, match=f"{side} features contain NaN"):
        compute_distance_matrix(qf, gf)


def test_feature_shape_metric_and_rank_errors():
    ids = _ids()
    with pytest.raises(EvaluationError, match="query features have 5 dims but gallery features have 6"):
        evaluate_features(torch.randn(3, 5), torch.randn(4, 6), *ids)
    with pytest.raises(EvaluationError, match="the gallery split is empty"):
        evaluate_features(torch.randn(3, 5), torch.randn(0, 5), *ids)
    with pytest.raises(EvaluationError, match="unknown distance metric 'manhattan'"):
        evaluate_features(torch.randn(3, 5), torch.randn(4, 5), *ids, metric="manhattan")
    with pytest.raises(EvaluationError, match="gallery features are too large: their row sums overflow"):
        evaluate_features(torch.randn(3, 5), torch.full((4, 5), 3e38), *ids)
    with pytest.raises(EvaluationError, match=r"ranks \[20\] are outside 1..max_rank \(10\)"):
        evaluate(np.zeros((3, 4)), *ids, ranks=(1, 20), max_rank=10)


def test_metrics_object_reports_what_was_asked():
    m = evaluate(np.array([[0.2, 0.1]]), np.array([1]), np.array([1, 2]), np.array([0]), np.array([1, 1]),
                 ranks=(1, 2), max_rank=2)
    assert isinstance(m, ReidMetrics)
    d = m.as_dict()
    assert d["r1"] == 0.0 and d["r2"] == 1.0 and d["mAP"] == 0.5 and d["mINP"] == 0.5
    assert d["num_valid_queries"] == 1 and d["cmc"] == [0.0, 1.0]
    with pytest.raises(EvaluationError, match="rank 5 is outside"):
        m.r5


# ---------------------------------------------------------------- the benchmark and devices


def test_bench_on_a_tiny_size_agrees_with_torchreid():
    torchreid_metrics()
    bench = run_eval_bench(Size("tiny", 40, 300, 30, 3, 16), seed=1, repeats=1)
    assert bench.same_numbers is True
    assert bench.distance_max_abs_diff < 1e-4 and bench.features_vs_torchreid_diff <= 1e-6
    assert bench.torchreid_rank_s > 0 and bench.ours_rank_s > 0
    assert 0.0 < bench.metrics["mAP"] < 1.0


def test_peak_extra_rss_sees_an_allocation():
    with PeakExtraRSS() as peak:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        block.sum()
    del block
    assert peak.extra_bytes >= 48 * 2**20


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_features_give_the_cpu_numbers():
    split = make_split(Size("tiny", 50, 400, 30, 3, 64), seed=2, noise=1.5)
    ids = (split.q_pids, split.g_pids, split.q_camids, split.g_camids)
    cpu = evaluate_features(split.qf, split.gf, *ids)
    gpu = evaluate_features(split.qf.cuda(), split.gf.cuda(), *ids, chunk=16)
    np.testing.assert_allclose(gpu.cmc, cpu.cmc, atol=1e-6)
    assert gpu.mAP == pytest.approx(cpu.mAP, abs=1e-5)
    d = compute_distance_matrix(split.qf.cuda(), split.gf.cuda(), metric="cosine")
    assert d.is_cuda
    torch.testing.assert_close(d.cpu(), compute_distance_matrix(split.qf, split.gf, metric="cosine"), rtol=0, atol=1e-4)
