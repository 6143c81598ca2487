#!/usr/bin/env bash
# The GPU checks, as one script for a lent GPU machine: the card, the library importing, the
# smoke test of every network kind (benchmarks/gpu_smoke.py), the transfer benchmark on CUDA
# (full, then quick) and the quick preset's main job with fused transfers. Each step has its own
# time limit and writes its output under $OUT (default ./gpu-out); a step that fails does not
# stop the next; a summary table comes last.
#
# Packages the machine lacks travel as wheels in .whl/ (pydantic, ortools and their pins):
#   bash benchmarks/gpu_checks.sh [smoke] [full] [quick] [pipeline]     (default: all four)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
steps=" ${*:-smoke full quick pipeline} "
want() { [[ $steps == *" $1 "* ]]; }
export PYTHONUNBUFFERED=1

step() {  # step NAME LIMIT_S CMD...: run with a time limit, tee its output to $OUT/NAME.log
  local name=$1 limit=$2
  shift 2
  echo "=== $name (limit ${limit}s) $(date +%T)"
  local t0=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.log" 2>"$OUT/$name.err"
  local rc=$?
  echo "=== $name rc=$rc in $((SECONDS - t0)) s"
  tail -c 1500 "$OUT/$name.err" | grep -v '^\[' | tail -5
  return 0
}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,temperature.gpu --format=csv
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
python3 - <<'EOF'
import torch, numpy, pydantic, skimage
from ortools.linear_solver import pywraplp
import taskonomy.training, taskonomy.selection, taskonomy.data
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0),
      "numpy", numpy.__version__, "pydantic", pydantic.__version__, "skimage", skimage.__version__)
EOF

if want smoke; then
  step gpu_smoke 90 python3 -m benchmarks.gpu_smoke --require-cuda
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('gpu_smoke', r['status'], r.get('autocast_dtype'), \
{k: (v['ok'], v.get('seconds'), v.get('error', '')[:120]) for k, v in r['kinds'].items()})" "$OUT/gpu_smoke.log" || true
fi
if want full; then
  step transfer_full 240 python3 -m benchmarks.transfer --device cuda
fi
if want quick; then
  step transfer_quick 120 python3 -m benchmarks.transfer --quick --device cuda
fi
if want pipeline; then
  # The main job on the GPU, fused transfers (the CLI's default device is auto = cuda here).
  step pipeline_quick 120 python3 -c 'import sys; from taskonomy.cli import main; sys.argv[0] = "taskonomy"; main()' \
    run --preset quick --out /tmp/gpu-quick --mode fused --quiet --no-report
  python3 -c "import json; t = json.load(open('/tmp/gpu-quick/taxonomy.json')); print('pipeline roots', t.get('roots'))" \
    || true
fi
for f in "$OUT"/transfer_*.log; do
  [ -s "$f" ] || continue
  python3 - "$f" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(sys.argv[1], "matmul fp32/bf16 GFLOP/s", r["matmul_gflops"], r["matmul_gflops_bf16"], "setup", r["setup_seconds"])
for k, v in r["variants"].items():
    if "seconds" in v:
        print(f"  {k:22s} {v['seconds']:8.2f} s  train {v['train_seconds']:8.2f}  {v['achieved_gflops']:9.1f} GFLOP/s"
              f"  rho {v.get('spearman_mean', '-')}  roots6 {v.get('same_roots_budget_6', '-')}  gpu {v.get('peak_gpu_mib')}")
print("  speedups", {k: v for k, v in r.items() if "speedup" in k})
EOF
done
