#!/usr/bin/env bash
# The paper's image experiments (docs/results.md, "Images: FID"): a VAE, its NCP prior with the
# classifier kept at its best validation loss, then the evaluation report with FID of decoder
# means (t = 1) under the base prior and NCP (SIR, HMC) over two sampling seeds, against the
# training images, and sample grids at t = 1 and t = 0.7 (SIR also at M = 5000).
#   bash scripts/image_fid.sh EXPERIMENT DATA [OUT]
# EXPERIMENT: celeba64_conv_vae, celeba64_rae_gmm, celeba64_hvae or cifar10_hvae (the configs
# configs/EXPERIMENT.json, its prior and evaluate configs below). DATA: the CelebA .tar (or
# folder), or cifar-10-python.tar.gz. A stage whose run folder is finished is skipped, so the
# script continues where it stopped (an interrupted stage resumes from its checkpoint).
# Optional, for a shortened run (say so next to its figures): VAE_STEPS=N trains stage 1 for N
# steps instead of the config's; SAMPLERS=base,sir evaluates those samplers only.
set -euo pipefail
EXPERIMENT="${1:?usage: bash scripts/image_fid.sh EXPERIMENT DATA [OUT]}"
DATA="${2:?usage: bash scripts/image_fid.sh EXPERIMENT DATA [OUT]}"
source "$(dirname "$0")/image_experiments.sh"
OUT="${3:-runs/$EXPERIMENT}"
cd "$(dirname "$0")/.."
bash scripts/setup.sh
NCPVAE=.venv/bin/ncpvae  # threads: OMP_NUM_THREADS if set, else the free cores
finished() { [ -f "$1/config.json" ]; }
resume() { [ -f "$1/checkpoint.pt" ] && echo --resume || true; }
STEPS=(${VAE_STEPS:+--train.steps "$VAE_STEPS"})
ONLY=(${SAMPLERS:+--samplers "$SAMPLERS"})
finished "$OUT/vae" || $NCPVAE train-vae --config "configs/$EXPERIMENT.json" "${STEPS[@]}" \
    --data.path "$DATA" --out "$OUT/vae" $(resume "$OUT/vae")
finished "$OUT/prior" || $NCPVAE train-prior --config "configs/$PRIOR.json" --vae "$OUT/vae" \
    --out "$OUT/prior" $(resume "$OUT/prior")
finished "$OUT/evaluate" || $NCPVAE evaluate --config "configs/$EVALUATE.json" "${ONLY[@]}" \
    --prior "$OUT/prior" --out "$OUT/evaluate"
for t in 1 0.7; do
    for sampler in base sir; do
        finished "$OUT/samples_${sampler}_t$t" || $NCPVAE sample --prior "$OUT/prior" \
            --sampler "$sampler" --num_samples 100 --sir.num_proposals 500 --temperature "$t" \
            --seed 1 --out "$OUT/samples_${sampler}_t$t"
    done
done
finished "$OUT/samples_sir_m5000" || $NCPVAE sample --prior "$OUT/prior" --sampler sir \
    --num_samples 500 --sir.num_proposals 5000 --seed 1 --out "$OUT/samples_sir_m5000"
