"""Run notebooks through the real Jupyter protocol with the "Rust (dd-prelude)" kernel.

evcxr reports a cell that panics, or that ends in an `Err` through `?`, as "ok": the failure only
shows on stderr, and an `Err` shows as nothing but its message (no "Error:" prefix). So a cell
fails here when its outputs hold an error *or* it wrote anything to stderr: dd-prelude writes its
progress to stdout and uses stderr only for failures. Lines matching BENIGN_STDERR are the only
exception. Execution stops at the first failing cell (later cells would only fail for want
of its variables).

Used by the main job (all notebooks, HTML reports) and by the notebook tests.

    python tests/nbrun.py notebooks/*.ipynb --html reports
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbclient.util import ensure_async, run_sync

KERNEL = "dd-rust"
# The kernelspec scripts/setup.sh installs in this checkout's venv comes first: the per-user
# copy points at whichever checkout ran its set-up last.
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    p for p in [str(Path(sys.prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH", "")] if p
)
# stderr lines known to be harmless (none so far). Everything else on stderr fails the cell.
BENIGN_STDERR = re.compile(r"^$")
# The first cell compiles the prelude and its dependencies: ~15 min cold on 2 cores, 40 min
# measured with three other builds on the same 2 cores. A cpu/full-scale training cell can
# legitimately run for an hour; smoke cells take seconds.
FIRST_CELL_TIMEOUT = int(os.environ.get("DD_NB_FIRST_CELL_TIMEOUT", "3600"))
CELL_TIMEOUT = int(os.environ.get("DD_NB_CELL_TIMEOUT", "7200"))
# evcxr_jupyter forwards the cell's stdout/stderr from a separate thread, so a line can reach
# iopub *after* the cell's idle status (an `Err` from `?` is one stderr line printed just before
# the cell ends: CI once lost it this way on a loaded machine). After each cell we keep
# listening until iopub has been quiet this long.
LATE_OUTPUT_QUIET_SECONDS = float(os.environ.get("DD_NB_LATE_OUTPUT_SECONDS", "1.5"))


@dataclass
class Run:
    """What executing one notebook gave."""

    path: Path
    nb: nbformat.NotebookNode
    problems: list[str] = field(default_factory=list)
    cell_seconds: list[tuple[int, float]] = field(default_factory=list)
    # Per cell, from the execute request to the kernel's answer: its reply and idle status, or
    # the last output that came after them, whichever is later (excludes the quiet wait).
    answer_seconds: list[tuple[int, float]] = field(default_factory=list)
    # Per cell, the wall-clock times (time.time()) of its execute request and of that answer.
    cell_windows: list[tuple[int, float, float]] = field(default_factory=list)
    kernel_start_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def outputs(self):
        for cell in self.nb.cells:
            if cell.cell_type == "code":
                yield from cell.get("outputs", [])

    def mime_outputs(self, mime: str) -> list[str]:
        return [o["data"][mime] for o in self.outputs() if mime in o.get("data", {})]


def cell_problems(index: int, cell) -> list[str]:
    """The failures one executed code cell shows."""
    found = []
    for out in cell.get("outputs", []):
        if out.output_type == "error":
            found.append(f"cell {index}: {out.get('ename', 'error')}: {out.get('evalue', '')}".strip())
        elif out.output_type == "stream" and out.get("name") == "stderr":
            lines = [l for l in out.get("text", "").splitlines() if l.strip() and not BENIGN_STDERR.match(l)]
            if lines:
                found.append(f"cell {index}: stderr shows a failure: " + " | ".join(lines[:6]))
    return found


async def _collect_late_output(client: NotebookClient, cell, index: int) -> float | None:
    last = None
    while True:
        try:
            msg = await ensure_async(client.kc.iopub_channel.get_msg(timeout=LATE_OUTPUT_QUIET_SECONDS))
        except Empty:
            return last
        if msg["msg_type"] in ("stream", "display_data", "error"):
            client.process_message(msg, cell, index)
            last = time.time()


def collect_late_output(client: NotebookClient, cell, index: int) -> float | None:
    """Adds to `cell` the output that reaches iopub after the cell's idle status.

    Between our cells the kernel runs nothing else, so any output arriving now still belongs to
    the cell just executed (evcxr tags it with the latest execute request). nbclient itself would
    drop it: it only keeps messages whose parent is the request it is waiting on.
    Returns when the last such output arrived (None when none did).
    """
    return run_sync(_collect_late_output)(client, cell, index)


def execute(path: str | Path, scale: str = "smoke", kernel: str = KERNEL, quiet: bool = False,
            on_start=None) -> Run:
    """Executes the notebook at `path` with DD_SCALE=`scale`, cell by cell.

    `on_start(client)`, when given, is called once the kernel has started, before any cell.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    os.environ["DD_SCALE"] = scale  # the kernel inherits this process's environment
    run = Run(path=path, nb=nb)
    client = NotebookClient(
        nb,
        kernel_name=kernel,
        timeout=CELL_TIMEOUT,
        startup_timeout=300,
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    t0 = time.time()
    with client.setup_kernel():
        run.kernel_start_seconds = time.time() - t0
        if on_start is not None:
            on_start(client)
        first = True
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            client.timeout = FIRST_CELL_TIMEOUT if first else CELL_TIMEOUT
            first = False
            started = time.time()
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as exc:  # only raised when allow_errors is off
                run.problems.append(f"cell {index}: {exc}")
            except Exception as exc:  # timeouts, a dead kernel
                run.problems.append(f"cell {index}: {type(exc).__name__}: {exc}")
            answered = time.time()
            late = collect_late_output(client, cell, index)
            seconds = time.time() - started
            run.cell_seconds.append((index, seconds))
            answered = max(answered, late or answered)
            run.answer_seconds.append((index, answered - started))
            run.cell_windows.append((index, started, answered))
            if not quiet:
                print(f"  {path.name} cell {index}: {seconds:.1f}s", flush=True)
            run.problems.extend(cell_problems(index, cell))
            if run.problems:
                break
    return run


def export_html(run: Run, out_dir: str | Path) -> Path:
    """Writes the executed notebook as a self-contained HTML report (images inline)."""
    from nbconvert import HTMLExporter

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(run.nb)
    target = out_dir / (run.path.stem + ".html")
    target.write_text(body, encoding="utf-8")
    nbformat.write(run.nb, out_dir / (run.path.stem + ".ipynb"))
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="+")
    ap.add_argument("--html", default="reports", help="folder for the HTML reports")
    ap.add_argument("--scale", default=os.environ.get("DD_SCALE", "cpu"))
    args = ap.parse_args(argv)
    passed = failed = 0
    for nb_path in args.notebooks:
        print(f"{nb_path} (DD_SCALE={args.scale})", flush=True)
        started = time.time()
        run = execute(nb_path, args.scale)
        report = export_html(run, args.html)
        total = time.time() - started
        if run.ok:
            passed += 1
            print(f"ok   {nb_path} in {total:.0f}s -> {report}", flush=True)
        else:
            failed += 1
            print(f"FAIL {nb_path} in {total:.0f}s -> {report}", flush=True)
            for p in run.problems:
                print(f"     {p}", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
