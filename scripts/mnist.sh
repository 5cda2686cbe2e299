#!/usr/bin/env bash
# The MNIST likelihood results (README, "Results: MNIST"): a VAE on dynamically binarized MNIST,
# then NCP on it, then the test NLL of both with 1000 importance samples.
#   bash scripts/mnist.sh DATA_DIR [OUT] [MODEL]     (DATA_DIR holds the four MNIST IDX files)
# MODEL: mlp (default; the Lawson et al. MLP VAE, whole test set) or hvae (the NVAE-style
# hierarchical VAE with one classifier per latent group, first 1000 test digits).
set -euo pipefail
DATA="${1:?usage: bash scripts/mnist.sh DATA_DIR [OUT] [mlp|hvae]}"
MODEL="${3:-mlp}"
case "$MODEL" in
    mlp) VAE=mnist_mlp_vae PRIOR=mnist_prior EVALUATE=mnist_evaluate PROPOSALS=5000 ;;
    hvae) VAE=mnist_hvae PRIOR=hvae_prior EVALUATE=mnist_hvae_evaluate PROPOSALS=500 ;;
    *) echo "scripts/mnist.sh: unknown MODEL $MODEL; use mlp or hvae" >&2; exit 2 ;;
esac
OUT="${2:-runs/mnist_$MODEL}"
cd "$(dirname "$0")/.."
bash scripts/setup.sh
NCPVAE=.venv/bin/ncpvae
$NCPVAE train-vae --config "configs/$VAE.json" --data.path "$DATA" --out "$OUT/vae"
$NCPVAE train-prior --config "configs/$PRIOR.json" --vae "$OUT/vae" --out "$OUT/prior"
$NCPVAE evaluate --config "configs/$EVALUATE.json" --prior "$OUT/prior" --out "$OUT/evaluate"
for sampler in base sir; do
    $NCPVAE sample --prior "$OUT/prior" --sampler "$sampler" --num_samples 100 \
        --sir.num_proposals "$PROPOSALS" --out "$OUT/samples_$sampler"
done
