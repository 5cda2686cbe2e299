#!/usr/bin/env bash
# Every verb on CUDA on tiny configs (with the density-chasm remedies: a fitted mixture base and
# telescoping, flat and hierarchical), then two timings: hierarchical group-wise SIR at M = 5000
# (seconds per image) and FID features (seconds per image), in one go, in under 8 minutes.
#   bash scripts/gpu_check.sh [OUT]        (DEVICE=cpu for a dry run of the same steps here)
# For a GPU machine with PyTorch installed but no network: it runs from the source tree
# (PYTHONPATH=src) with that machine's python3 and makes its own tiny data. What it printed is
# what docs/benchmarks.md quotes; it also writes OUT/gpu_check.json.
set -euo pipefail
OUT="${1:-runs/gpu_check}"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
DEVICE="${DEVICE:-cuda}"
"$PY" -c "import torch; print(torch.__version__, torch.cuda.get_device_name() if '$DEVICE' == 'cuda' else 'cpu')"
mkdir -p "$OUT"
NCPVAE=("$PY" -m ncpvae.cli)
COMMON=(--device "$DEVICE" --quiet --overwrite)
start=$(date +%s)

# tiny data: 2,000 random 28x28 "digits" (uint8) in the .npy format of --data.name file
"$PY" - "$OUT/digits.npy" <<'EOF'
import sys
import numpy as np
rng = np.random.default_rng(0)
blobs = rng.random((2000, 1, 28, 28)) < np.linspace(0.1, 0.6, 2000)[:, None, None, None]
np.save(sys.argv[1], (blobs * 255).astype(np.uint8))
EOF
DATA=(--data.name file --data.path "$OUT/digits.npy" --data.num_test 200 --data.num_validation 200)

echo "== flat conv VAE: train-vae, train-prior, sample (base, sir, hmc, auto), evaluate"
"${NCPVAE[@]}" train-vae --config mnist_conv_vae "${DATA[@]}" --train.steps 200 \
    --out "$OUT/flat/vae" "${COMMON[@]}"
"${NCPVAE[@]}" train-prior --config mnist_prior --vae "$OUT/flat/vae" --train.steps 200 \
    --train.validate_every 100 --out "$OUT/flat/prior" "${COMMON[@]}"
for sampler in base sir hmc auto; do
    "${NCPVAE[@]}" sample --prior "$OUT/flat/prior" --sampler "$sampler" --num_samples 64 \
        --hmc.num_steps 20 --hmc.num_warmup 20 --out "$OUT/flat/samples_$sampler" "${COMMON[@]}"
done
"${NCPVAE[@]}" evaluate --prior "$OUT/flat/prior" --num_test 100 --importance_samples 100 \
    --out "$OUT/flat/evaluate" "${COMMON[@]}"

echo "== the density-chasm remedies: a fitted mixture base and telescoping (flat), sampled and"
echo "   evaluated; telescoping in a hierarchical prior comes below"
"${NCPVAE[@]}" train-prior --config mnist_prior --vae "$OUT/flat/vae" --train.steps 200 \
    --classifier.fitted_base 4 --classifier.waymarks 2 --out "$OUT/flat/prior_chasm" "${COMMON[@]}"
for sampler in sir hmc; do
    "${NCPVAE[@]}" sample --prior "$OUT/flat/prior_chasm" --sampler "$sampler" --num_samples 64 \
        --hmc.num_steps 20 --hmc.num_warmup 20 --out "$OUT/flat/samples_chasm_$sampler" "${COMMON[@]}"
done
"${NCPVAE[@]}" evaluate --prior "$OUT/flat/prior_chasm" --num_test 100 --importance_samples 100 \
    --out "$OUT/flat/evaluate_chasm" "${COMMON[@]}"

echo "== hierarchical VAE: train-vae, train-prior on two group sets, merge-priors, evaluate in"
echo "   two shards, merge-evaluations"
"${NCPVAE[@]}" train-vae --config mnist_hvae "${DATA[@]}" --model.likelihood bernoulli \
    --train.steps 200 --out "$OUT/hvae/vae" "${COMMON[@]}"
"${NCPVAE[@]}" train-prior --config hvae_prior --vae "$OUT/hvae/vae" --train.steps 200 \
    --groups 0,1 --classifier.waymarks 1 --out "$OUT/hvae/prior_a" "${COMMON[@]}"
"${NCPVAE[@]}" train-prior --config hvae_prior --vae "$OUT/hvae/vae" --train.steps 200 \
    --groups 2,3 --classifier.waymarks 1 --out "$OUT/hvae/prior_b" "${COMMON[@]}"
"${NCPVAE[@]}" merge-priors --priors "$OUT/hvae/prior_a,$OUT/hvae/prior_b" \
    --out "$OUT/hvae/prior" "${COMMON[@]}"
for shard in 0 1; do  # the test set's likelihood in two shards, then one report
    "${NCPVAE[@]}" evaluate --prior "$OUT/hvae/prior" --num_test 80 --importance_samples 50 \
        --group_normalizer_samples 20 --shard "$shard" --num_shards 2 \
        --out "$OUT/hvae/evaluate_$shard" "${COMMON[@]}"
done
"${NCPVAE[@]}" merge-evaluations --evaluations "$OUT/hvae/evaluate_0,$OUT/hvae/evaluate_1" \
    --out "$OUT/hvae/evaluate" "${COMMON[@]}"

echo "== demo (25 Gaussians), shortened"
"${NCPVAE[@]}" demo --vae.train.steps 200 --prior.train.steps 200 --out "$OUT/demo" "${COMMON[@]}"

echo "== timings"
"$PY" - "$OUT" "$DEVICE" <<'EOF'
import json
import sys
import time
from pathlib import Path

import torch

from ncpvae.runs import load_prior
from ncpvae.samplers import SIRSampler

out, device = Path(sys.argv[1]), torch.device(sys.argv[2])
cuda = device.type == "cuda"
sync = torch.cuda.synchronize if cuda else (lambda: None)
name = torch.cuda.get_device_name() if cuda else "cpu"
result = {"device": name, "torch": torch.__version__}

prior = load_prior(out / "hvae" / "prior", device)
sampler = SIRSampler(num_proposals=5000)
generator = torch.Generator(device).manual_seed(0)
prior.sample(8, sampler, generator=generator)  # warm-up
sync()
start, n = time.perf_counter(), 64 if cuda else 4
prior.sample(n, sampler, generator=generator)
sync()
result["hierarchical_sir_m5000_seconds_per_image"] = (time.perf_counter() - start) / n

from ncpvae.evaluation.fid import DEFAULT_INCEPTION_PATH  # noqa: E402

weights = Path(DEFAULT_INCEPTION_PATH).expanduser()
if weights.is_file():
    from ncpvae.evaluation.fid import InceptionFeatures

    network = InceptionFeatures(str(weights)).to(device)
    kind = "TF-FID Inception (the real weights)"
    features = lambda x: network(x)  # noqa: E731
else:  # no network here to fetch the weights: the same architecture, untrained, for timing
    import torchvision

    model = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    model = model.eval().to(device)
    kind = "torchvision inception_v3, random weights (timing only: the same architecture)"
    features = lambda x: model(torch.nn.functional.interpolate(x, size=299))  # noqa: E731
images = torch.rand(500 if cuda else 20, 3, 64, 64, device=device)
with torch.no_grad():
    features(images[:10])
    sync()
    start = time.perf_counter()
    for batch in images.split(250):
        features(batch)
    sync()
result["fid_features_seconds_per_image"] = (time.perf_counter() - start) / len(images)
result["fid_network"] = kind
print(json.dumps(result, indent=2))
(out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n")
EOF
echo "gpu_check: every verb ran on $DEVICE; took $(( $(date +%s) - start )) s"
