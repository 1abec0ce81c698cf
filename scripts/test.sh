#!/usr/bin/env bash
# The test command: set-up, the crate's tests, the CUDA build check, then every notebook
# through the real Jupyter protocol at DD_SCALE=smoke.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
cargo test --workspace --locked
cargo build -p dd-prelude --features cuda --locked
DD_SCALE=smoke .venv/bin/python -m pytest tests -v -p no:cacheprovider
