#!/usr/bin/env bash
# Idempotent set-up on a fresh machine of this kind: data, the Rust kernel, the notebook tools.
# Everything installed lands in system package locations, ~/.cargo, or the git-ignored .cache/
# and .venv/ of this checkout. Nothing is fetched from anywhere but the package registries.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
log() { printf '[setup] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. Embedded default data: Fashion-MNIST from Debian's package.
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  log "installing dataset-fashion-mnist (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist
fi

# 1a. mold: evcxr links every cell's library with mold when it is on PATH (else lld, else the
#     system linker); each cell links the prelude's dependencies, so the linker is on the
#     critical path of every cell.
if ! command -v mold >/dev/null; then
  log "installing mold (apt-get), the kernel's linker"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mold
fi

# 1b. The other embedded defaults (caption pairs, sentences, word vectors, encoder weights).
if [ -f scripts/fetch-data.sh ]; then
  bash scripts/fetch-data.sh
fi

# 2. The Rust kernel: evcxr_jupyter 0.22.0 needs rust-src.
if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
  log "rustup component add rust-src"
  rustup component add rust-src
fi
# evcxr_jupyter has no --version; cargo's install record says which version is installed.
if ! command -v evcxr_jupyter >/dev/null \
   || ! grep -q '"evcxr_jupyter 0.22.0 ' "${CARGO_HOME:-$HOME/.cargo}/.crates2.json" 2>/dev/null; then
  log "cargo install evcxr_jupyter 0.22.0 (about 7 minutes on 2 cores)"
  cargo install evcxr_jupyter --version 0.22.0 --locked
fi

# 2b. Every crate the lock pins, for every platform: the kernel builds offline (`:offline 1` in
#     its config) from the project's Cargo.lock, and evcxr's dependency check reads metadata of
#     all of them, including target-specific ones a build here never downloads.
log "cargo fetch --locked"
cargo fetch --locked

# 3. Notebook tools in a project virtual environment, pinned.
if [ ! -x .venv/bin/python ] || ! cmp -s scripts/requirements.lock .venv/.installed-lock; then
  log "creating .venv with pinned JupyterLab, nbclient, nbconvert, pytest"
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r scripts/requirements.lock
  cp scripts/requirements.lock .venv/.installed-lock
fi

# 4. The kernelspec "Rust (dd-prelude)", pointing at this checkout: in the project's venv (the
#    one tests/nbrun.py puts first on JUPYTER_PATH, so another checkout's set-up cannot redirect
#    this one's notebooks) and for this user (JupyterLab started from anywhere; the last
#    checkout set up wins there).
for kdir in "$root/.venv/share/jupyter/kernels/dd-rust" "$(.venv/bin/jupyter --data-dir)/kernels/dd-rust"; do
  rm -rf "$kdir"
  mkdir -p "$(dirname "$kdir")"
  cp -r kernelspec/dd-rust "$kdir"
  sed -i "s|@DD_PROJECT@|$root|" "$kdir/kernel.json"
  log "kernel 'Rust (dd-prelude)' installed in $kdir"
done

# 5. Warm the kernel: one headless cell (`:dep` + `use dd_prelude::*;` + a value) builds the
#    prelude into the kernel's first free build slot, so the first notebook a user opens after
#    this command skips the cold compile (about 15 minutes on 2 cores the first time, about 30 s
#    once warm). DD_SKIP_WARM=1 skips it.
if [ "${DD_SKIP_WARM:-0}" != 1 ]; then
  log "warming the kernel (one headless cell)"
  .venv/bin/python tests/nbrun.py tests/fixtures/prelude_lock.ipynb --html "${DD_CACHE:-$root/.cache}/warm" --scale smoke
fi
