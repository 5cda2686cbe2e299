#!/usr/bin/env bash
# CelebA-64 subset samples (README, "Results: CelebA-64 subset"): a convolutional VAE and an
# RAE with a 10-component Gaussian-mixture prior, each sampled from its base prior and from NCP
# (SIR), side by side in one figure.
#   bash scripts/celeba.sh IMAGES [OUT]     (IMAGES: a folder or .tar of the aligned CelebA JPEGs)
set -euo pipefail
DATA="${1:?usage: bash scripts/celeba.sh IMAGES [OUT]}"
OUT="${2:-runs/celeba}"
cd "$(dirname "$0")/.."
bash scripts/setup.sh
NCPVAE=.venv/bin/ncpvae
for model in conv_vae rae_gmm; do
    $NCPVAE train-vae --config "configs/celeba64_$model.json" --data.path "$DATA" \
        --out "$OUT/$model/vae"
    $NCPVAE train-prior --config configs/image_prior.json --vae "$OUT/$model/vae" \
        --out "$OUT/$model/prior"
    for sampler in base sir; do
        $NCPVAE sample --prior "$OUT/$model/prior" --sampler "$sampler" --num_samples 100 \
            --sir_proposals 500 --seed 1 --out "$OUT/$model/samples_$sampler"
    done
done
.venv/bin/python scripts/panel_figure.py "$OUT/celeba64_samples.png" \
    "conv VAE, N(0, I) prior=$OUT/conv_vae/samples_base/samples.png" \
    "conv VAE + NCP (SIR, M=500)=$OUT/conv_vae/samples_sir/samples.png" \
    "RAE, GMM prior=$OUT/rae_gmm/samples_base/samples.png" \
    "RAE + NCP on the GMM (SIR, M=500)=$OUT/rae_gmm/samples_sir/samples.png"
