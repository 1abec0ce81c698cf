#!/usr/bin/env bash
# The main job: set-up, then every notebook executed headlessly on the embedded default data,
# HTML reports in reports/. DD_SCALE picks the size (default cpu).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
.venv/bin/python tests/nbrun.py notebooks/*.ipynb --html reports --scale "${DD_SCALE:-cpu}"
