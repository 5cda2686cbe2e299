#!/usr/bin/env bash
# Create .venv (if missing) and install ncpvae with pinned torch. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# torch is pinned to 2.13.0: on these machines that resolves to a local CPU wheel. Every other
# package is installed at the version in constraints.txt.
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt)
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" -e ".[test]"
# the TF-FID Inception weights for `evaluate --fid_samples` (skipped when already there)
bash scripts/fid_weights.sh || echo "warning: FID weights not fetched (FID is optional); run bash scripts/fid_weights.sh later" >&2
