"""The cargo that the kernel's rust-analyzer runs: the real one, with `cargo metadata` of the
kernel's build slot cut down to the packages the slot really builds.

evcxr infers the type of every `let` in a cell with an embedded rust-analyzer, which loads the
slot's crate graph from `cargo metadata` and, on the first cell, resolves the names of every crate
in it. `cargo metadata` lists the whole dependency graph, every optional dependency that any
feature could turn on included: for `dd-prelude` that is 622 packages (burn's CUDA, ROCm, wgpu,
Metal and LibTorch backends, turso, ...), of which the build compiles 251. Here the graph is
restricted to what `cargo tree -e normal,build` shows for the host (the feature resolver's answer,
what cargo compiles), with each package's features as the build enables them, so rust-analyzer
also sees the `cfg(feature = ...)` the build sees.

rust-analyzer looks for cargo in `$CARGO_HOME/bin` first; `launch.sh` points the kernel's
`CARGO_HOME` at a directory whose `bin/cargo` runs this script, and gives evcxr's own builds the
real `CARGO_HOME` (`:build_env` in the generated init.evcxr). Every other command, and any failure
here, falls through to the real cargo and its unfiltered output; `DD_RA_FULL_GRAPH=1` in the
kernel's environment turns the filter off.
"""
import json
import os
import shutil
import subprocess
import sys


def real_cargo() -> tuple[str, dict]:
    """The cargo rust-analyzer would have run (the real `$CARGO_HOME/bin/cargo`, else the first
    on PATH that is not this shim) and the environment with the real CARGO_HOME."""
    home = os.environ["DD_REAL_CARGO_HOME"]
    env = dict(os.environ, CARGO_HOME=home)
    cargo = os.path.join(home, "bin", "cargo")
    if not os.access(cargo, os.X_OK):
        shim = os.path.dirname(os.path.abspath(sys.argv[0]))
        path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                               if p and os.path.abspath(p) != shim)
        cargo = shutil.which("cargo", path=path) or "cargo"
    return cargo, env


def option(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def built_packages(cargo: str, env: dict, args: list[str]) -> dict[tuple[str, str], set[str]]:
    """(name, version) -> features, of every package `cargo tree` shows for the normal and build
    edges of the manifest's target."""
    cmd = [cargo, "tree", "--manifest-path", option(args, "--manifest-path"),
           "-e", "normal,build", "--prefix", "none", "--format", "{p}\t{f}"]
    target = option(args, "--filter-platform")
    if target:
        cmd += ["--target", target]
    # The same unstable flags (rust-analyzer's lockfile copy) as the metadata call.
    cmd += [a for a in args if a.startswith("-Z")]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    built: dict[tuple[str, str], set[str]] = {}
    for line in out.splitlines():
        line = line.removesuffix(" (*)")
        if not line.strip():
            continue
        pkg, _, feats = line.partition("\t")
        name, version = pkg.split()[:2]
        built.setdefault((name, version.removeprefix("v")), set()).update(
            f for f in feats.split(",") if f)
    return built


def prune(meta: dict, built: dict[tuple[str, str], set[str]]) -> dict:
    key = {p["id"]: (p["name"], p["version"]) for p in meta["packages"]}
    keep = {pid for pid, k in key.items() if k in built}
    root = (meta.get("resolve") or {}).get("root")
    if root is not None and root not in keep:
        raise ValueError("cargo tree did not list the root package")
    meta["packages"] = [p for p in meta["packages"] if p["id"] in keep]
    nodes = []
    for node in meta["resolve"]["nodes"]:
        if node["id"] not in keep:
            continue
        node["deps"] = [d for d in node["deps"] if d["pkg"] in keep]
        node["dependencies"] = [d for d in node["dependencies"] if d in keep]
        node["features"] = sorted(built[key[node["id"]]])
        nodes.append(node)
    meta["resolve"]["nodes"] = nodes
    return meta


def main() -> int:
    cargo, env = real_cargo()
    args = sys.argv[1:]
    slot = os.environ.get("EVCXR_TMPDIR", "")
    manifest = option(args, "--manifest-path") or ""
    wanted = (not os.environ.get("DD_RA_FULL_GRAPH") and args[:1] == ["metadata"] and "--no-deps" not in args and slot
              and os.path.abspath(manifest).startswith(os.path.abspath(slot) + os.sep))
    if not wanted:
        os.execve(cargo, [cargo] + args, env)
    full = subprocess.run([cargo] + args, env=env, capture_output=True)
    sys.stderr.buffer.write(full.stderr)
    if full.returncode != 0:
        sys.stdout.buffer.write(full.stdout)
        return full.returncode
    try:
        meta = prune(json.loads(full.stdout), built_packages(cargo, env, args))
        sys.stdout.write(json.dumps(meta))
    except Exception as e:  # any surprise: rust-analyzer gets cargo's own answer
        sys.stderr.write(f"ra_cargo: serving the unfiltered metadata ({e!r})\n")
        sys.stdout.buffer.write(full.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
