#!/usr/bin/env bash
# Install (scripts/setup.sh), lint, and run the default test suite (tests marked slow excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks examples
.venv/bin/python -m pytest -q "$@"
