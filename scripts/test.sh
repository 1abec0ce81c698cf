#!/usr/bin/env bash
# The test command: set-up, the crate's tests, the CUDA build check, then every notebook
# through the real Jupyter protocol at DD_SCALE=smoke.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
cargo test --workspace --locked
# Burn 0.22.1's CUDA backend depends on cubecl-llvm, whose build scripts (cubecl-llvm and
# tracel-llvm-bundler) download a prebuilt LLVM 23.1 from GitHub: impossible without internet.
# Both skip that native step under DOCS_RS, so the whole CUDA path still type-checks here.
DOCS_RS=1 cargo check -p dd-prelude --features cuda --locked
DD_SCALE=smoke .venv/bin/python -m pytest tests -v -p no:cacheprovider
