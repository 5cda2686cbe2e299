#!/usr/bin/env bash
# Install (scripts/setup.sh) and run the 25-Gaussians benchmark end to end: runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ncpvae demo "$@"
