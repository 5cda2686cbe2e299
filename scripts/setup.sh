#!/usr/bin/env bash
# Create .venv (if missing) and install ncpvae with pinned torch. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# torch is pinned to 2.13.0: on these machines that resolves to a local CPU wheel.
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
# the TF-FID Inception weights for `evaluate --fid_samples` (skipped when already there)
bash scripts/fid_weights.sh || echo "warning: FID weights not fetched (FID is optional); run bash scripts/fid_weights.sh later" >&2
