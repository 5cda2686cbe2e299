#!/usr/bin/env bash
# The MNIST likelihood result (README, "Results: MNIST"): the Lawson et al. MLP VAE on dynamically
# binarized MNIST, then NCP on it, then the test NLL of both with 1000 importance samples.
#   bash scripts/mnist.sh DATA_DIR [OUT]     (DATA_DIR holds the four MNIST IDX files)
set -euo pipefail
DATA="${1:?usage: bash scripts/mnist.sh DATA_DIR [OUT]}"
OUT="${2:-runs/mnist_mlp}"
cd "$(dirname "$0")/.."
bash scripts/setup.sh
NCPVAE=.venv/bin/ncpvae
$NCPVAE train-vae --config configs/mnist_mlp_vae.json --data.path "$DATA" --out "$OUT/vae"
$NCPVAE train-prior --config configs/mnist_prior.json --vae "$OUT/vae" --out "$OUT/prior"
$NCPVAE evaluate --config configs/mnist_evaluate.json --prior "$OUT/prior" --out "$OUT/evaluate"
for sampler in base sir; do
    $NCPVAE sample --prior "$OUT/prior" --sampler "$sampler" --num_samples 100 \
        --sir_proposals 5000 --out "$OUT/samples_$sampler"
done
