#!/usr/bin/env bash
# Starts evcxr_jupyter for the "Rust (dd-prelude)" kernel.
#
# - Compiled registry crates are cached across kernels (evcxr's `:cache`, set in config/init.evcxr).
# - Each running kernel holds one persistent build directory ("slot") under an exclusive flock,
#   so two kernels never build in the same directory, and the next kernel reuses what the last
#   one compiled (dd-prelude itself, which `:cache` does not keep).
# - The slot's Cargo.lock is seeded from the project's, so notebooks use the versions `cargo test`
#   was run with; evcxr's first (dependency-less) build prunes it, and config/prelude.rs copies
#   the project's back before any cell runs; builds are offline (config/init.evcxr), from what
#   scripts/setup.sh fetched (`cargo fetch --locked`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=${DD_PROJECT:?DD_PROJECT must name the dd-prelude checkout; run scripts/setup.sh}
cache=${DD_CACHE:-$root/.cache}
export PATH="$HOME/.cargo/bin:$PATH"

mkdir -p "$cache/evcxr/.cargo"
# Dependencies (the prelude included) built as in release, not at evcxr's opt-level 2 with
# debug assertions: see cargo-config.toml.
cmp -s "$here/cargo-config.toml" "$cache/evcxr/.cargo/config.toml" \
  || cp "$here/cargo-config.toml" "$cache/evcxr/.cargo/config.toml"
slot=""
for i in $(seq 0 15); do
  exec 9>"$cache/evcxr/slot-$i.lock"
  if flock -n 9; then
    slot="$cache/evcxr/slot-$i"
    break
  fi
  exec 9>&-
done
if [ -n "$slot" ]; then
  mkdir -p "$slot"
  if [ ! -f "$slot/Cargo.lock" ] || [ "$root/Cargo.lock" -nt "$slot/Cargo.lock" ]; then
    cp "$root/Cargo.lock" "$slot/Cargo.lock"
  fi
  export EVCXR_TMPDIR="$slot"
fi
# rust-analyzer (types of `let`s) reads the slot's crate graph through ra_cargo.py, cut down to
# the packages the build compiles: it finds cargo in $CARGO_HOME/bin first. evcxr's own builds
# keep the real CARGO_HOME (`:build_env` in the generated init.evcxr).
real_home=${CARGO_HOME:-$HOME/.cargo}
ra_home="$cache/evcxr/ra-cargo-home"
python="$root/.venv/bin/python"
[ -x "$python" ] || python=python3
mkdir -p "$ra_home/bin" "$cache/evcxr/config"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$python" "$here/ra_cargo.py" > "$ra_home/bin/cargo.$$"
chmod +x "$ra_home/bin/cargo.$$"
mv -f "$ra_home/bin/cargo.$$" "$ra_home/bin/cargo"
cp "$here/config/prelude.rs" "$cache/evcxr/config/prelude.rs.$$"
mv -f "$cache/evcxr/config/prelude.rs.$$" "$cache/evcxr/config/prelude.rs"
{ cat "$here/config/init.evcxr"; echo ":build_env CARGO_HOME=$real_home"; } > "$cache/evcxr/config/init.evcxr.$$"
mv -f "$cache/evcxr/config/init.evcxr.$$" "$cache/evcxr/config/init.evcxr"
export DD_REAL_CARGO_HOME="$real_home" CARGO_HOME="$ra_home"
# evcxr's allocator (mimalloc) asks for transparent huge pages; rust-analyzer's first resolution
# of the dependency graph then spent a third of its time in the kernel zeroing them.
export MIMALLOC_ALLOW_THP=0
export EVCXR_CONFIG_DIR="$cache/evcxr/config"
# fd 9 (the slot's lock) stays open in evcxr_jupyter for the kernel's whole life.
exec evcxr_jupyter --control_file "$1"
