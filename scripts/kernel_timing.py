"""Kernel timing report: how long the "Rust (dd-prelude)" kernel makes a user wait.

Starts the kernel headlessly (the real Jupyter protocol, through tests/nbrun.py) `--runs` times
in a row and times, in each run: the kernel start, `:dep dd-prelude` (dependency resolution and
the first build of the prelude into the kernel's slot), `use dd_prelude::*;` (rust-analyzer and
the first compile and link of a cell crate that reaches the prelude), a cell that prints a value,
a cell that binds `device()`, loading Fashion-MNIST, and a cell that calls `fit` for one epoch on
512 images (its own training seconds, from the fit's history, are printed and subtracted: the
rest is the kernel's overhead), then a print cell, and the training cell again (the first one
also pays for rust-analyzer's first inference of the training call). The first run after a
crate change is the cold one; later runs show the warm kernel. A cell's seconds run from its
execute request to the kernel's answer (its reply, or the last output after it), as a user
sees it.

evcxr_jupyter reports no phases inside a cell. With `--trace`, strace follows the kernel's child
processes and each cell's time is split by what ran: cargo (the dependency graph, fingerprints,
`cargo metadata` at `:dep`), rustc compiling the cell crate (or the prelude), the linker (`cc`
and the linker it runs), and the rest, spent inside the kernel process itself (rust-analyzer's
type inference, writing the cell crate, loading the cell's library and running the code).

    .venv/bin/python scripts/kernel_timing.py [--runs 2] [--linker mold|lld|system] [--trace]

Prints one Markdown table (seconds) with the machine's CPU and the linker evcxr used, and with
`--trace` one table per run of each cell's phases.
"""
import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from nbrun import execute  # noqa: E402

FIT = ("let net = ConvNetConfig::for_set(&small).with_width(32).init(&dev);\n"
       "let trained: Trained<ConvNet> = fit(net, &small, "
       "&FitConfig::new().with_epochs(1).with_progress(false), &dev)?;\n"
       "let train_s: f64 = trained.history.records().iter().map(|r| r.seconds).sum();\n"
       "println!(\"TRAINING_SECONDS {train_s}\");")
PHASES = [
    ("dep", ":dep dd-prelude = { path = \"CRATE\" }"),
    ("use", "use dd_prelude::*;"),
    ("first value", "40 + 2"),
    # Binds the device as the notebooks' first cells do (`let dev = device();`). The session's
    # first `let` of a prelude type costs rust-analyzer about 5 s, whichever cell holds it, and
    # the device's own first `let` about 1 s more, which the training cell paid when it bound
    # the device itself.
    ("device()", "let dev = device();\nprintln!(\"{:?}\", dev);"),
    ("load data", "let fm = FashionMnist::load_default()?;\n"
                  "let small = fm.train.subset(&fm.train.stratified(512, 0));\n"
                  "println!(\"{}\", small.len());"),
    ("fit 1 epoch, 512 images", FIT),
    ("print", "println!(\"{}\", trained.history.records().len());"),
    # The same training cell again: the first one also pays for rust-analyzer's first inference
    # of the training call; this is what every later training cell costs.
    ("fit again", FIT),
]
FIT_CELLS = [i for i, (_, code) in enumerate(PHASES) if code is FIT]


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} logical CPUs)"
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


TRACE_LINE = re.compile(r"^(\d+) +(\d\d):(\d\d):(\d\d\.\d+) (.*)$")
EXEC = re.compile(r'execve\("([^"]+)"')
LINKERS = {"cc", "gcc", "collect2", "ld", "ld.mold", "ld.lld", "ld.bfd", "lld", "clang"}


class Tracer:
    """strace on the kernel process: when each child program ran."""

    def __init__(self, out: Path):
        self.out = out
        self.proc = None

    def attach(self, client) -> None:
        pid = client.km.provisioner.process.pid
        self.proc = subprocess.Popen(
            ["strace", "-f", "-q", "-tt", "-e", "trace=execve", "-e", "signal=none", "-o", str(self.out),
             "-p", str(pid)],
            stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # strace attaches asynchronously

    def intervals(self) -> dict[str, list[tuple[float, float]]]:
        """Lifetimes of cargo, rustc and linker processes, in time.time() seconds."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
        today = datetime.datetime.now().astimezone()
        midnight = today.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        started: dict[str, tuple[str, float]] = {}
        spans: dict[str, list[tuple[float, float]]] = {"cargo": [], "rustc": [], "link": []}
        last = 0.0
        for line in self.out.read_text(errors="replace").splitlines():
            m = TRACE_LINE.match(line)
            if not m:
                continue
            pid, hh, mm, ss, rest = m.groups()
            t = midnight + int(hh) * 3600 + int(mm) * 60 + float(ss)
            if t + 43200 < last:  # past midnight
                t += 86400
            last = t
            e = EXEC.search(rest)
            if e and rest.endswith("= 0"):
                name = os.path.basename(e.group(1))
                kind = ("cargo" if name == "cargo" else "rustc" if name == "rustc"
                        else "link" if name in LINKERS else None)
                if kind:
                    started[pid] = (kind, t)
                else:
                    started.pop(pid, None)
            elif "+++ exited" in rest or "+++ killed" in rest:
                if pid in started:
                    kind, t0 = started.pop(pid)
                    spans[kind].append((t0, t))
        return spans


def covered(spans: list[tuple[float, float]], lo: float, hi: float) -> float:
    """Seconds of [lo, hi] covered by the union of `spans`."""
    clipped = sorted((max(a, lo), min(b, hi)) for a, b in spans if b > lo and a < hi)
    total, end = 0.0, lo
    for a, b in clipped:
        a = max(a, end)
        if b > a:
            total += b - a
            end = b
    return total


def phase_table(run, spans) -> list[str]:
    rows = ["| cell | answered | in the kernel (rust-analyzer, load, run) | cargo | rustc | link |",
            "|---|---|---|---|---|---|"]
    names = [n for n, _ in PHASES]
    windows = run.cell_windows[-len(names):]
    for name, (_, lo, hi) in zip(names, windows):
        cargo = covered(spans["cargo"], lo, hi)
        rustc = covered(spans["rustc"], lo, hi)
        link = covered(spans["link"], lo, hi)
        rows.append(f"| {name} | {hi - lo:.1f} | {hi - lo - cargo:.1f} | {max(cargo - rustc, 0):.1f} | "
                    f"{max(rustc - link, 0):.1f} | {link:.1f} |")
    return rows


def notebook(linker: str | None) -> nbformat.NotebookNode:
    crate = ROOT / "dd-prelude"
    cells = [nbformat.v4.new_code_cell(src.replace("CRATE", str(crate))) for _, src in PHASES]
    if linker:
        cells.insert(0, nbformat.v4.new_code_cell(f":linker {linker}"))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "dd-rust", "display_name": "Rust (dd-prelude)", "language": "rust"}
    return nb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--linker", choices=["mold", "lld", "system"], default=None,
                    help="evcxr's :linker (default: evcxr's own choice, mold when installed)")
    ap.add_argument("--trace", action="store_true", help="split each cell's time by process (strace)")
    args = ap.parse_args()
    if args.trace and not shutil.which("strace"):
        ap.error("--trace needs strace")
    default_linker = "mold" if shutil.which("mold") else ("lld" if shutil.which("lld") else "system")
    linker = args.linker or default_linker
    rows = []
    traces = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kernel_timing.ipynb"
        nbformat.write(notebook(args.linker), path)
        for r in range(args.runs):
            started = time.time()
            tracer = Tracer(Path(tmp) / f"trace-{r}.txt") if args.trace else None
            run = execute(path, "smoke", quiet=True, on_start=tracer.attach if tracer else None)
            total = time.time() - started
            if tracer:
                traces.append(phase_table(run, tracer.intervals()))
            if not run.ok:
                print("\n".join(run.problems), file=sys.stderr)
                return 1
            seconds = [s for _, s in run.answer_seconds]
            if args.linker:
                seconds = seconds[1:]
            text = "".join(o.get("text", "") for o in run.outputs() if o.get("name") == "stdout")
            training = [float(t) for t in re.findall(r"TRAINING_SECONDS ([0-9.eE+-]+)", text)]
            training += [float("nan")] * (2 - len(training))
            rows.append((r, run.kernel_start_seconds, seconds, training, total))
    print(f"kernel timing, {time.strftime('%Y-%m-%d')}, {cpu_model()}, linker {linker}")
    names = ["kernel start"] + [n for n, _ in PHASES] + ["fit overhead (cell - training)",
                                                         "fit again: overhead",
                                                         "kernel start to first value", "whole run"]
    print("| phase | " + " | ".join(f"run {r + 1}" for r, *_ in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for i, name in enumerate(names):
        vals = []
        for _, start, secs, training, total in rows:
            if i == 0:
                v = start
            elif i <= len(PHASES):
                v = secs[i - 1]
            elif name.startswith("fit overhead"):
                v = secs[FIT_CELLS[0]] - training[0]
            elif name.startswith("fit again"):
                v = secs[FIT_CELLS[1]] - training[1]
            elif name.startswith("kernel start to"):
                v = start + sum(secs[:3])
            else:
                v = total
            vals.append(f"{v:.1f}")
        print(f"| {name} | " + " | ".join(vals) + " |")
    for r, table in enumerate(traces):
        print(f"\nrun {r + 1}, each cell's seconds by process (strace)")
        print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
