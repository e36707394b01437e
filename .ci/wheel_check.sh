#!/usr/bin/env bash
# CI: build the wheel, install it into a fresh virtual environment (no source tree on the path),
# and check that the installed tool lists its built-ins and finishes one smoke run with its report.
#
#   bash .ci/wheel_check.sh            # PYTHON=python3 by default; WORK=a scratch folder
#
# The wheel is installed with its declared dependencies, pinned by requirements/run.lock (pip's
# wheel cache makes this cheap once the README's test environment was installed), so the check
# also proves that the wheel's metadata names what the tool needs.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
py="${PYTHON:-python3}"
work="${WORK:-$(mktemp -d /tmp/tldm-wheel-check.XXXXXX)}"
start=$(date +%s)
step() { echo "+ [$(( $(date +%s) - start )) s] $*"; }

step "build the wheel"
"$py" -m venv "$work/build-env"
"$work/build-env/bin/pip" install -q "setuptools>=68" wheel
"$work/build-env/bin/pip" wheel -q --no-deps --no-build-isolation -w "$work/dist" "$repo"
rm -rf "$repo/build" "$repo"/*.egg-info
wheel=$(ls "$work"/dist/tldm_bench-*.whl)
step "built $(basename "$wheel")"

step "install it into a fresh venv"
"$py" -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel" -c "$repo/requirements/run.lock"

cd "$work"   # nothing of the source tree on sys.path from here on
export PYTHONPATH="" OMP_NUM_THREADS=1 TQDM_DISABLE=1
vpy="$work/venv/bin/python"
step "check the installed layout"
"$vpy" - <<'PY'
import importlib.metadata as md
import importlib.util
import benchmark
from benchmark.registry import load_registries
top = sorted({f.parts[0] for f in md.files("tldm-bench") if not f.parts[0].endswith((".dist-info", ".data"))})
assert top == ["benchmark"], f"only `benchmark` may be installed at the top level, got {top}"
assert "site-packages" in benchmark.__file__, benchmark.__file__
regs = load_registries()
assert {"gmm2d", "ecg-synth", "ptbxl-icbeb"} <= set(regs.tasks.names()), regs.tasks.names()
assert {"tgdp", "lora", "finetune", "scratch"} <= set(regs.methods.names()), regs.methods.names()
origins = {e.origin for e in regs.tasks} | {e.origin for e in regs.methods}
assert all(o.startswith("benchmark.builtin.") for o in origins), origins
hf = importlib.util.find_spec("datasets")  # the Hugging Face package if installed, never ours
assert hf is None or "benchmark" not in str(hf.origin), hf
print("installed:", benchmark.__file__, "top level:", top)
PY
step "python -m benchmark list"
"$vpy" -m benchmark list
step "one smoke run and its report"
"$vpy" -m benchmark run --suite smoke --tasks gmm2d --methods tgdp --n-target 10 --seeds 0 \
  --results "$work/results" --out "$work/report" --threads 1 --quiet
test -f "$work/report/README.md"
step "wheel check passed in $(( $(date +%s) - start )) s"
