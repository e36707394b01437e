#!/usr/bin/env bash
# GPU check: the smoke suite twice on CUDA with --deterministic (the two sets of records must
# be bit-identical), once on the CPU, `verify` of one CUDA run, and the CPU-vs-CUDA training
# throughput; a compact summary at the end.  About 2-3 minutes on one GPU machine.
#
#   bash scripts/gpu_check.sh [OUT_DIR]        # results, logs and summary go to OUT_DIR
#
# With GPU_CHECK_PAPER_SECONDS=N (N > 0) it then runs the paper-scale gmm2d cell (source-only,
# scratch, finetune and tgdp at n_target = 100, seed 0) on CUDA within N more seconds and prints
# `scripts/suite_profile.py`'s stage table for it; compare with the same command on the CPU
# (`--device cpu`), see docs/measured.md.
# With GPU_CHECK_STACKED_SECONDS=N (N > 0) it also times K = 1 and 64 quick MLPs trained and sampled
# stacked against one after another on CUDA within N more seconds (`scripts/stacked_train.py`, issue 24).
#
# Needs `python` (or $PYTHON) with torch built for CUDA and the packages of requirements/run.lock;
# runs this checkout from source (PYTHONPATH=.) and only falls back to `pip install --no-deps -e .`
# if that does not import.  Every step has a time limit (GPU_CHECK_SECONDS in total, default 225),
# so the script always ends with its summary.  Exit status: 0 when both CUDA executions finished
# every run with identical metrics, 1 otherwise, 2 when the environment is not usable.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-python}
OUT=${1:-$(mktemp -d "${TMPDIR:-/tmp}/tldm-gpu-check.XXXXXX")}
JOBS=${GPU_CHECK_JOBS:-4}
CORES=$(nproc 2>/dev/null || echo 4)
DEADLINE=$((SECONDS + ${GPU_CHECK_SECONDS:-225}))
mkdir -p "$OUT" || exit 2
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TQDM_DISABLE=1
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
say() { printf '[%3ds] %s\n' "$SECONDS" "$*" | tee -a "$SUMMARY"; }
limit() { local want=$1 left=$((DEADLINE - SECONDS)); [ "$left" -lt "$want" ] && want=$left; [ "$want" -lt 5 ] && want=5; echo "$want"; }

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu_check: '$PY' has no torch with a visible CUDA device (set PYTHON=/path/to/python)"; exit 2
fi
if ! "$PY" -c 'import benchmark.cli, benchmark.runner' 2>/dev/null; then
    say "the checkout does not import with PYTHONPATH=.; trying pip install --no-deps -e ."
    "$PY" -m pip install --no-deps -q -e . >"$OUT/pip.log" 2>&1
    if ! "$PY" -c 'import benchmark.cli, benchmark.runner' 2>"$OUT/import.log"; then
        echo "gpu_check: cannot import benchmark: $(tail -1 "$OUT/import.log") (packages: requirements/run.lock)"; exit 2
    fi
fi
say "$("$PY" -c 'import torch; print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")'), $CORES cores; output in $OUT"

run_suite() {  # NAME DEVICE THREADS SECONDS
    local t0=$SECONDS rc
    timeout "$(limit "$4")" "$PY" -m benchmark run --suite smoke --device "$2" --deterministic --launcher joblib \
        --jobs "$JOBS" --threads "$3" --results "$OUT/$1" --quiet --no-report >"$OUT/$1.log" 2>&1
    rc=$?
    say "$1: exit $rc after $((SECONDS - t0)) s: $(grep -m1 ' runs: ' "$OUT/$1.log" || tail -1 "$OUT/$1.log")"
}
CPU_THREADS=$((CORES / JOBS)); [ "$CPU_THREADS" -lt 1 ] && CPU_THREADS=1
run_suite cuda1 cuda 2 75
run_suite cuda2 cuda 2 75
run_suite cpu cpu "$CPU_THREADS" 45

"$PY" scripts/compare_runs.py "$OUT/cuda1" "$OUT/cuda2" --cpu "$OUT/cpu" 2>&1 | tee -a "$SUMMARY"
status=${PIPESTATUS[0]}

rid=$("$PY" - "$OUT/cuda1" <<'EOF'
import json, sys
from pathlib import Path
recs = [json.loads(p.read_text()) for p in sorted(Path(sys.argv[1]).glob("runs/*/record.json"))]
done = [r for r in recs if r.get("status") == "done"]
pick = [r for r in done if r["spec"]["method"] == "lora" and r["spec"]["task"] == "gmm2d"] or done
print(pick[0]["run_id"] if pick else "")
EOF
)
if [ -n "$rid" ]; then
    timeout "$(limit 30)" "$PY" -m benchmark verify "$rid" --results "$OUT/cuda1" --quiet >"$OUT/verify.log" 2>&1
    say "verify $rid (cuda, tolerance rule): exit $? — $(tail -1 "$OUT/verify.log")"
fi

timeout "$(limit 45)" "$PY" scripts/device_throughput.py --steps 100 --threads "$CORES" 2>&1 | tee -a "$SUMMARY"
PAPER_SECONDS=${GPU_CHECK_PAPER_SECONDS:-0}
if [ "$PAPER_SECONDS" -gt 0 ]; then
    t0=$SECONDS
    timeout "$PAPER_SECONDS" "$PY" -m benchmark run --suite paper --tasks gmm2d --methods source-only scratch finetune tgdp \
        --n-target 100 --seeds 0 --device cuda --results "$OUT/paper" --quiet --no-report >"$OUT/paper.log" 2>&1
    say "paper-scale gmm2d cell on cuda: exit $? after $((SECONDS - t0)) s: $(grep -m1 ' runs: ' "$OUT/paper.log" || tail -1 "$OUT/paper.log")"
    "$PY" scripts/suite_profile.py "$OUT/paper" --markdown 2>&1 | tee -a "$SUMMARY"
fi
STACKED_SECONDS=${GPU_CHECK_STACKED_SECONDS:-0}
if [ "$STACKED_SECONDS" -gt 0 ]; then
    timeout "$STACKED_SECONDS" "$PY" scripts/stacked_train.py --device cuda --ks 1 64 --batches 1024 100 \
        --steps 50 --repeats 3 --sampling-ks 64 2>&1 | tee -a "$SUMMARY"
fi
say "done; summary in $SUMMARY"
exit "$status"
