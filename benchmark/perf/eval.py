"""`aostbench perf eval`: our evaluator vs torchreid's, timed in the same run.

Synthetic but structured re-ID features: identities are cluster centres, each
camera adds its own offset and every image its own noise, a share of the
gallery is pid-0 distractors, so CMC/mAP/mINP land in a realistic middle range
(neither 0 nor 1) and the evaluator does real work.

Sizes: default (about a minute in all on 2 cores), `--full` = Market-1501
(3,368 x 15,913, 2048-d), `--msmt` = MSMT17 (11,659 x 82,161, ours only,
with the peak extra memory).
"""
from __future__ import annotations

import contextlib
import gc
import io
import os
import threading
import time
import warnings
from dataclasses import dataclass, field

# numpy, torch and the evaluator are imported inside the functions: registering
# `perf eval` must not make every `aostbench` command pay torch's import (issue 19).


@dataclass(frozen=True)
class Size:
    """One benchmark size: split sizes, identities, cameras, feature width."""

    label: str
    num_query: int
    num_gallery: int
    num_ids: int
    num_cams: int
    dims: int
    distractor_share: float = 0.15


DEFAULT = Size("default (Market ids, 1/4 of its queries)", 842, 15913, 751, 6, 2048)
MARKET = Size("Market-1501 (--full)", 3368, 15913, 751, 6, 2048)
MSMT = Size("MSMT17 (--msmt)", 11659, 82161, 3060, 15, 2048, distractor_share=0.0)


@dataclass
class Split:
    """A synthetic query/gallery split with features and ids."""

    qf: torch.Tensor
    gf: torch.Tensor
    q_pids: np.ndarray
    g_pids: np.ndarray
    q_camids: np.ndarray
    g_camids: np.ndarray


def make_split(size: Size, seed: int = 0, noise: float = 2.5, cam_shift: float = 0.7) -> Split:
    """Clustered features: centre(pid) + offset(camera) + noise, deterministic from `seed`.

    Query pids are drawn from 1..num_ids; the gallery holds every query id
    (plus ids no query has) and `distractor_share` of pid-0 images.
    """
    import numpy as np
    import torch

    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    centres = torch.randn(size.num_ids + 1, size.dims, generator=gen)
    cam_offsets = cam_shift * torch.randn(size.num_cams, size.dims, generator=gen)

    n_distract = int(size.distractor_share * size.num_gallery)
    n_real = size.num_gallery - n_distract
    every_id = np.arange(1, size.num_ids + 1)
    more = rng.integers(1, size.num_ids + 1, n_real - size.num_ids)
    g_pids = np.concatenate([every_id, more, np.zeros(n_distract, np.int64)])
    g_camids = rng.integers(0, size.num_cams, size.num_gallery)
    q_pids = rng.integers(1, size.num_ids + 1, size.num_query)
    q_camids = rng.integers(0, size.num_cams, size.num_query)

    def feats(pids: np.ndarray, cams: np.ndarray) -> torch.Tensor:
        out = torch.empty(len(pids), size.dims)
        step = 4096  # bounded temporaries at MSMT size
        for s in range(0, len(pids), step):
            p = torch.from_numpy(pids[s : s + step])
            c = torch.from_numpy(cams[s : s + step])
            noise_part = noise * torch.randn(len(p), size.dims, generator=gen)
            out[s : s + step] = centres[p] + cam_offsets[c] + noise_part
        return out

    # distractors (pid 0) get a random centre each instead of a shared one
    gf = feats(g_pids, g_camids)
    if n_distract:
        gf[n_real:] = torch.randn(n_distract, size.dims, generator=gen) * (1 + noise)
    qf = feats(q_pids, q_camids)
    as_i64 = lambda a: a.astype(np.int64)  # noqa: E731
    return Split(qf, gf, as_i64(q_pids), as_i64(g_pids), as_i64(q_camids), as_i64(g_camids))


# ------------------------------------------------------------------ measuring


def _timed(fn, repeats: int = 1):
    """(result of the last call, best seconds over `repeats` calls).

    Best-of-N, as timeit does: other work on a shared machine only ever adds time.
    """
    times, out = [], None
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, min(times)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakExtraRSS:
    """Peak resident memory above the level at entry, for the block inside `with`.

    Linux: resets the kernel's high-water mark (/proc/self/clear_refs) and reads
    VmHWM at exit; elsewhere it samples psutil every few ms.
    """

    def __enter__(self) -> "PeakExtraRSS":
        gc.collect()
        self.extra_bytes = 0
        self._sampler = None
        try:
            self.baseline = _rss_bytes()
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            self._start_sampler()
        return self

    def _start_sampler(self) -> None:
        import psutil  # only where /proc is missing

        proc = psutil.Process()
        self.baseline = proc.memory_info().rss
        self._peak = self.baseline
        self._stop = threading.Event()

        def sample() -> None:
            while not self._stop.wait(0.005):
                self._peak = max(self._peak, proc.memory_info().rss)

        self._sampler = threading.Thread(target=sample, daemon=True)
        self._sampler.start()

    def __exit__(self, *exc) -> None:
        if self._sampler is not None:
            self._stop.set()
            self._sampler.join()
            peak = self._peak
        else:
            with open("/proc/self/status") as f:
                hwm_kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
            peak = hwm_kb * 1024
        self.extra_bytes = max(0, peak - self.baseline)


@dataclass
class EvalBench:
    """What one `perf eval` run measured (seconds, differences, metrics)."""

    size: Size
    seed: int
    threads: int
    ours_distance_s: float
    ours_rank_s: float
    ours_features_s: float
    metrics: dict
    features_split: dict = field(default_factory=dict)
    ours_distance_median_s: float | None = None
    torchreid_distance_median_s: float | None = None
    torchreid_distance_s: float | None = None
    torchreid_rank_s: float | None = None
    distance_max_abs_diff: float | None = None
    cmc_max_abs_diff: float | None = None
    map_abs_diff: float | None = None
    features_vs_torchreid_diff: float | None = None
    peak_extra_rss_bytes: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def same_numbers(self) -> bool | None:
        if self.cmc_max_abs_diff is None:
            return None
        return self.cmc_max_abs_diff <= 1e-6 and self.map_abs_diff <= 1e-6


def _torchreid_metrics():
    with warnings.catch_warnings():  # "Cython evaluation is unavailable": we want the Python one
        warnings.simplefilter("ignore")
        from torchreid.reid import metrics
    return metrics


def run_eval_bench(size: Size, seed: int = 0, with_torchreid: bool = True, repeats: int = 5) -> EvalBench:
    """Time our distances and ranking (and torchreid's, on the same features) at `size`.

    Distances: ours and torchreid's take turns going first, `repeats` times
    each, after one small warm-up. Ours are best-of-`repeats` (medians are kept
    too); torchreid's Python evaluator (minutes at Market size) runs once.
    "Same numbers" compares both evaluators on the very same distance matrix
    (torchreid's); the chunked features path is compared as well.
    """
    import numpy as np
    import torch

    from benchmark.reid.distance import compute_distance_matrix
    from benchmark.reid.evaluate import evaluate, evaluate_features

    split = make_split(size, seed)
    ids = (split.q_pids, split.g_pids, split.q_camids, split.g_camids)
    metrics = _torchreid_metrics() if with_torchreid else None
    compute_distance_matrix(split.qf[:8], split.gf[:256])  # warm-up: threads, BLAS

    ours_fn = lambda: compute_distance_matrix(split.qf, split.gf)  # noqa: E731
    theirs_fn = (lambda: metrics.compute_distance_matrix(split.qf, split.gf)) if metrics else None  # noqa: E731
    ours_t: list[float] = []
    theirs_t: list[float] = []
    turns = [(ours_fn, ours_t)] + ([(theirs_fn, theirs_t)] if theirs_fn else [])
    for i in range(repeats):  # take turns going first: on a shared machine order alone shifts times
        for fn, times in turns if i % 2 == 0 else turns[::-1]:
            times.append(_timed(fn)[1])  # the matrix is dropped at once
    dist = (theirs_fn or ours_fn)()
    dist_np = dist.numpy()  # torchreid's matrix when torchreid runs: both rank the same numbers
    ours, t_rank = _timed(lambda: evaluate(dist_np, *ids, max_rank=50), repeats)
    split_times: dict = {}
    feats, t_feats = _timed(
        lambda: evaluate_features(split.qf, split.gf, *ids, max_rank=50, timings=split_times), repeats
    )
    bench = EvalBench(size, seed, torch.get_num_threads(), min(ours_t), t_rank, t_feats, ours.as_dict())
    bench.features_split = split_times  # of the last repeat
    bench.ours_distance_median_s = float(np.median(ours_t))
    if metrics is None:
        return bench

    bench.torchreid_distance_s = min(theirs_t)
    bench.torchreid_distance_median_s = float(np.median(theirs_t))
    bench.distance_max_abs_diff = float((ours_fn() - dist).abs().max())
    with contextlib.redirect_stdout(io.StringIO()):  # its "Note: gallery is small" prints
        (tr_cmc, tr_map), bench.torchreid_rank_s = _timed(
            lambda: metrics.evaluate_rank(dist_np, *ids, max_rank=50, use_cython=False)
        )
    bench.cmc_max_abs_diff = float(np.abs(ours.cmc - tr_cmc).max())
    bench.map_abs_diff = abs(ours.mAP - float(tr_map))
    bench.features_vs_torchreid_diff = max(
        float(np.abs(feats.cmc - tr_cmc).max()), abs(feats.mAP - float(tr_map))
    )
    return bench


def run_msmt_bench(seed: int = 0) -> EvalBench:
    """Ours only at MSMT17 size: chunked evaluation from features, with its peak extra memory."""
    import torch

    from benchmark.reid.evaluate import evaluate_features

    split = make_split(MSMT, seed)
    ids = (split.q_pids, split.g_pids, split.q_camids, split.g_camids)
    split_times: dict = {}
    with PeakExtraRSS() as peak:
        t0 = time.perf_counter()
        m = evaluate_features(split.qf, split.gf, *ids, max_rank=50, timings=split_times)
        t_feats = time.perf_counter() - t0
    bench = EvalBench(
        MSMT, seed, torch.get_num_threads(), split_times["distance_s"], split_times["rank_s"], t_feats, m.as_dict()
    )
    bench.features_split = split_times
    bench.peak_extra_rss_bytes = peak.extra_bytes
    bench.notes.append("features (query + gallery) exist before the measurement and are not counted")
    return bench


# ------------------------------------------------------------------ the command


def _fmt_s(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x:.3f} s"


def _report(bench: EvalBench, console) -> None:
    from rich.table import Table

    s = bench.size
    console.print(
        f"[bold]perf eval[/] {s.label}: {s.num_query:,} queries x {s.num_gallery:,} gallery, "
        f"{s.dims}-d, {s.num_ids} ids, {s.num_cams} cameras, seed {bench.seed}, "
        f"torch threads {bench.threads}, {os.cpu_count()} CPUs"
    )
    table = Table("step", "ours", "torchreid", "torchreid / ours")
    ratio = lambda a, b: "-" if a is None or b is None or b != b or b == 0 else f"{a / b:.1f}x"  # noqa: E731
    table.add_row("distance matrix", _fmt_s(bench.ours_distance_s), _fmt_s(bench.torchreid_distance_s),
                  ratio(bench.torchreid_distance_s, bench.ours_distance_s))
    table.add_row("ranking (CMC+mAP)", _fmt_s(bench.ours_rank_s), _fmt_s(bench.torchreid_rank_s),
                  ratio(bench.torchreid_rank_s, bench.ours_rank_s))
    table.add_row("features -> metrics, chunked", _fmt_s(bench.ours_features_s), "-", "-")
    console.print(table)
    if bench.features_split:
        console.print(
            f"chunked path: distances {bench.features_split['distance_s']:.3f} s + "
            f"ranking {bench.features_split['rank_s']:.3f} s"
        )
    if bench.torchreid_rank_s is not None:
        console.print("times: ours best of the repeats, torchreid's evaluator one run")
    if bench.torchreid_distance_median_s is not None:
        console.print(
            f"distance medians: ours {bench.ours_distance_median_s:.3f} s, "
            f"torchreid {bench.torchreid_distance_median_s:.3f} s"
        )
    m = bench.metrics
    console.print(
        f"metrics: R1 {m['r1']:.4f}  R5 {m['r5']:.4f}  R10 {m['r10']:.4f}  mAP {m['mAP']:.4f}  "
        f"mINP {m['mINP']:.4f}  valid queries {m['num_valid_queries']}, skipped {m['num_skipped_queries']}"
    )
    if bench.cmc_max_abs_diff is not None:
        verdict = "[green]same numbers[/]" if bench.same_numbers else "[red]DIFFERENT numbers[/]"
        console.print(
            f"on torchreid's distance matrix: max |CMC diff| {bench.cmc_max_abs_diff:.2e}, "
            f"|mAP diff| {bench.map_abs_diff:.2e} -> {verdict} (tolerance 1e-6)"
        )
        console.print(
            f"distances: max |ours - torchreid| {bench.distance_max_abs_diff:.2e}; "
            f"metrics from our chunked features path vs torchreid: max diff {bench.features_vs_torchreid_diff:.2e}"
        )
    if bench.peak_extra_rss_bytes is not None:
        console.print(f"peak extra memory (RSS) during evaluation: {bench.peak_extra_rss_bytes / 2**30:.2f} GiB")
    for note in bench.notes:
        console.print(f"note: {note}")


def register(perf_app) -> None:
    """Mount `aostbench perf eval` on the perf sub-app."""
    import typer
    from rich.console import Console

    @perf_app.command("eval")
    def eval_cmd(
        full: bool = typer.Option(False, "--full", help="Market-1501 size: 3,368 x 15,913, 2048-d."),
        msmt: bool = typer.Option(False, "--msmt", help="MSMT17 size (11,659 x 82,161), ours only, with peak memory."),
        seed: int = typer.Option(0, "--seed", help="Seed of the synthetic features."),
    ) -> None:
        """Time our re-ID evaluator against torchreid's Python one on the same synthetic features."""
        console = Console()
        if full and msmt:
            console.print("[red]error:[/] choose one of --full and --msmt")
            raise typer.Exit(2)
        if msmt:
            bench = run_msmt_bench(seed)
        else:
            bench = run_eval_bench(MARKET if full else DEFAULT, seed)
        _report(bench, console)
        if bench.same_numbers is False:
            raise typer.Exit(1)
