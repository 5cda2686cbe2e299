#!/usr/bin/env bash
# The density-chasm remedies on one VAE (docs/results.md, "The density chasm"): stage 2 four
# times on the same frozen VAE, with the same prior config and steps: the paper's single
# classifier, a fitted base (a full-covariance Gaussian, or a 10-component mixture), telescoping
# (3 waymarks) and both (the Gaussian base and 3 waymarks);
# then, for a VAE with a Gaussian q(z|x) and data that are not binarized afresh, log Z by N(0, I)
# or base draws and by the defensive mixture, and the held-out latents' mean log-density
# (benchmarks/log_z_convergence.py --mixture).
#   bash scripts/chasm_variants.sh VAE PRIOR_CONFIG OUT [VARIANT ...]
# VAE: a train-vae run folder; PRIOR_CONFIG: e.g. configs/image_prior.json; OUT: a folder that
# gets prior_<variant>/ and log_z_<variant>.json. VARIANT: single, fitted, gmm, waymarks, both
# (all by default). A finished stage is skipped. Evaluate each prior with ncpvae evaluate.
# Optional: EXTRA="--train.steps 5000" adds train-prior flags to every variant (say so next to
# the figures); MIXTURE=0 skips the log Z estimators (binarized data, or a q(z|x) that is not
# a diagonal Gaussian); SAMPLES=200000 draws fewer than 10^6 for those estimators.
set -euo pipefail
VAE="${1:?usage: bash scripts/chasm_variants.sh VAE PRIOR_CONFIG OUT [VARIANT ...]}"
CONFIG="${2:?usage: bash scripts/chasm_variants.sh VAE PRIOR_CONFIG OUT [VARIANT ...]}"
OUT="${3:?usage: bash scripts/chasm_variants.sh VAE PRIOR_CONFIG OUT [VARIANT ...]}"
shift 3
VARIANTS=("$@")
[ ${#VARIANTS[@]} -gt 0 ] || VARIANTS=(single fitted gmm waymarks both)
cd "$(dirname "$0")/.."
bash scripts/setup.sh
NCPVAE=.venv/bin/ncpvae
MIXTURE=${MIXTURE:-1}
SAMPLES=${SAMPLES:-1000000}
EXTRA=(${EXTRA:-})
mkdir -p "$OUT"
for variant in "${VARIANTS[@]}"; do
    case "$variant" in
        single) FLAGS=() ;;
        fitted) FLAGS=(--classifier.fitted_base 1) ;;
        gmm) FLAGS=(--classifier.fitted_base 10) ;;
        waymarks) FLAGS=(--classifier.waymarks 3) ;;
        both) FLAGS=(--classifier.fitted_base 1 --classifier.waymarks 3) ;;
        *) echo "scripts/chasm_variants.sh: unknown VARIANT $variant" >&2; exit 2 ;;
    esac
    PRIOR="$OUT/prior_$variant"
    [ -f "$PRIOR/config.json" ] || $NCPVAE train-prior --config "$CONFIG" --vae "$VAE" \
        "${FLAGS[@]}" "${EXTRA[@]}" --out "$PRIOR" $([ -f "$PRIOR/checkpoint.pt" ] && echo --resume)
    if [ "$MIXTURE" = 1 ] && [ ! -f "$OUT/log_z_$variant.json" ]; then
        .venv/bin/python benchmarks/log_z_convergence.py --prior "$PRIOR" --samples "$SAMPLES" \
            --repeats 1 --mixture --no-scan --out "$OUT/log_z_$variant.json"
    fi
done
