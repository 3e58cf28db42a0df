#!/usr/bin/env bash
# The GPU device check of issue 19, prepared to run as one script on a machine with a CUDA GPU:
#   1. `aostbench perf gpu`: paper-profile training img/s through the real input pipeline vs from
#      memory (and the JPEG loader), SPGAN img/s, VGG-19 AO distances img/s, FID img/s;
#   2. one complete `--profile paper` run (sim-finegpr+aost -> sim-market1501) with `--set` shrinking
#      sizes only (epochs, budgets, image caps), plus the three settings no offline machine can
#      honour without weight files: pretrained=false, ao_vgg_weights=random, fid_weights=random.
# Usage (from the repository root):  PY=/path/to/python benchmark/perf/gpu_check.sh [OUT_DIR]
# Everything it writes goes under OUT_DIR (default: $OUT, else ./gpu-check-out) and a temporary
# folder for data, DB and caches. About 6-8 minutes on one H200 (most of it the paper run).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT_DIR=${1:-${OUT:-gpu-check-out}}
mkdir -p "$OUT_DIR"
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
W=$(mktemp -d /tmp/aost-gpu-check.XXXXXX)
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export AOSTBENCH_DATA=$W/data AOSTBENCH_DB=$W/results/aostbench.duckdb AOSTBENCH_CACHE=$W/cache AOSTBENCH_RUNS=$W/runs
AOST="$PY -m cli.main"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT_DIR/gpu_check.log"; }

log "python $($PY -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT_DIR/nvidia-smi.csv" 2>&1 || true

log "1/2 aostbench perf gpu"
t0=$(date +%s)
$AOST perf gpu --data-root "$AOSTBENCH_DATA" --out "$OUT_DIR/perf_gpu.json" 2>&1 | tee "$OUT_DIR/perf_gpu.log"
log "perf gpu: exit ${PIPESTATUS[0]}, $(( $(date +%s) - t0 )) s"

log "2/2 one --profile paper run, sizes shrunk"
SETS=(--set epochs=4 --set ao_budget=2000 --set ao_probe=800 --set ao_target_images=200 --set pso_iters=30
      --set style_epochs=1 --set style_max_images=400 --set fid_max_images=1000
      --set pretrained=false --set ao_vgg_weights=random --set fid_weights=random)
t0=$(date +%s)
$AOST run --train sim-finegpr+aost --test sim-market --profile paper --device cuda --seed 0 "${SETS[@]}" \
  2>&1 | tee "$OUT_DIR/paper_run.log"
rc=${PIPESTATUS[0]}
log "paper run: exit $rc, $(( $(date +%s) - t0 )) s wall"
$AOST runs list > "$OUT_DIR/runs_list.txt" 2>&1 || true
run_id=$($PY - <<'PY'
import duckdb, os
con = duckdb.connect(os.environ["AOSTBENCH_DB"], read_only=True)
print(con.execute("select id from runs order by started_at desc limit 1").fetchone()[0])
PY
)
[ -n "$run_id" ] && $AOST runs show "$run_id" > "$OUT_DIR/paper_run_show.txt" 2>&1
[ -d "$AOSTBENCH_RUNS/$run_id" ] && cp "$AOSTBENCH_RUNS/$run_id"/*.json "$OUT_DIR/" 2>/dev/null
log "done; outputs in $OUT_DIR"
rm -rf "$W"
exit $rc
