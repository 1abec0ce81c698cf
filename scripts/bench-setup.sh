#!/usr/bin/env bash
# The benchmarks' PyTorch reference: a git-ignored .venv-bench with CPU PyTorch, NumPy and
# safetensors from PyPI. Not part of the test command (PyPI's torch 2.15.0 wheel pulls its
# CUDA wheels, ~3 GB, even to run on the CPU). Idempotent: a second run only checks imports.
#   bash scripts/bench-setup.sh
#   cargo run --release -p dd-prelude --example bench_train
#   cargo run --release -p dd-prelude --example bench_distill
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=.venv-bench
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import torch, numpy, safetensors.torch" 2>/dev/null; then
  echo "[bench-setup] $venv ready: torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "torch==2.15.0" "numpy==2.4.6" "safetensors==0.8.0"
"$venv/bin/python" -c "import torch; print('[bench-setup] torch', torch.__version__, 'threads', torch.get_num_threads())"
