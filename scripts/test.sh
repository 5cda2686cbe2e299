#!/usr/bin/env bash
# Install (scripts/setup.sh), lint, and run the default test suite (tests/unit and
# tests/integration; tests marked slow excluded: `.venv/bin/python -m pytest -m slow` runs them).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks examples
.venv/bin/ruff format --check src tests benchmarks examples
.venv/bin/python -m pytest -q -n auto "$@"  # one worker per core (pytest-xdist)
