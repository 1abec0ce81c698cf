"""Kernel timing report: how long the "Rust (dd-prelude)" kernel makes a user wait.

Starts the kernel headlessly (the real Jupyter protocol, through tests/nbrun.py) `--runs` times
in a row and times, in each run: the kernel start, `:dep dd-prelude` (dependency resolution and
the first build of the prelude into the kernel's slot), `use dd_prelude::*;` (rust-analyzer and
the first compile and link of a cell crate that reaches the prelude), a cell that prints a value,
a cell that calls `device()`, loading Fashion-MNIST, and a cell that calls `fit` for one epoch on
512 images (its own training seconds, from the fit's history, are printed and subtracted: the
rest is the kernel's overhead), then a print cell again. The first run after a crate change is the
cold one; later runs show the warm kernel. evcxr_jupyter reports no phases inside a cell, so a
phase here is a cell that does one thing.

    .venv/bin/python scripts/kernel_timing.py [--runs 2] [--linker mold|lld|system]

Prints one Markdown table (seconds) with the machine's CPU and the linker evcxr used.
"""
import argparse
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from nbrun import execute  # noqa: E402

PHASES = [
    ("dep", ":dep dd-prelude = { path = \"CRATE\" }"),
    ("use", "use dd_prelude::*;"),
    ("first value", "40 + 2"),
    ("device()", "println!(\"{:?}\", device());"),
    ("load data", "let fm = FashionMnist::load_default()?;\n"
                  "let small = fm.train.subset(&fm.train.stratified(512, 0));\n"
                  "println!(\"{}\", small.len());"),
    ("fit 1 epoch, 512 images", "let dev = device();\n"
                                "let net = ConvNetConfig::for_set(&small).with_width(32).init(&dev);\n"
                                "let trained: Trained<ConvNet> = fit(net, &small, "
                                "&FitConfig::new().with_epochs(1).with_progress(false), &dev)?;\n"
                                "let train_s: f64 = trained.history.records().iter().map(|r| r.seconds).sum();\n"
                                "println!(\"TRAINING_SECONDS {train_s}\");"),
    ("print", "println!(\"{}\", trained.history.records().len());"),
]


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} logical CPUs)"
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


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
    args = ap.parse_args()
    default_linker = "mold" if shutil.which("mold") else ("lld" if shutil.which("lld") else "system")
    linker = args.linker or default_linker
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kernel_timing.ipynb"
        nbformat.write(notebook(args.linker), path)
        for r in range(args.runs):
            started = time.time()
            run = execute(path, "smoke", quiet=True)
            total = time.time() - started
            if not run.ok:
                print("\n".join(run.problems), file=sys.stderr)
                return 1
            seconds = [s for _, s in run.cell_seconds]
            if args.linker:
                seconds = seconds[1:]
            text = "".join(o.get("text", "") for o in run.outputs() if o.get("name") == "stdout")
            m = re.search(r"TRAINING_SECONDS ([0-9.eE+-]+)", text)
            training = float(m.group(1)) if m else float("nan")
            rows.append((r, run.kernel_start_seconds, seconds, training, total))
    print(f"kernel timing, {time.strftime('%Y-%m-%d')}, {cpu_model()}, linker {linker}")
    names = ["kernel start"] + [n for n, _ in PHASES] + ["fit overhead (cell - training)",
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
                v = secs[5] - training
            elif name.startswith("kernel start to"):
                v = start + sum(secs[:3])
            else:
                v = total
            vals.append(f"{v:.1f}")
        print(f"| {name} | " + " | ".join(vals) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
