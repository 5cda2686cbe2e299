#!/usr/bin/env bash
# NCP's other samplers on a finished image run (the OUT of scripts/image_fid.sh, whose prior is
# trained): FID by HMC and by the automatic sampler (SIR, and HMC for each sample whose SIR draw
# collapsed; docs/method.md section 2.3) beside the base prior and SIR, on one FID protocol, in
# two processes of one thread each (for two cores):
#   A: OUT/evaluate_hmc (HMC, both sampling seeds), then OUT/evaluate_auto_1005 (auto, seed 1005)
#   B: OUT/evaluate (base prior and SIR, both seeds, and the diagnostics) unless finished, then
#      OUT/evaluate_auto_5 (auto, seed 5)
# The runs of A and auto measure the likelihood and log Z on a token scale (B measures them).
# Then `python scripts/image_results.py RUNS EXPERIMENT` joins the FID rows of every evaluate*.
# The FID reference statistics are cached by an earlier evaluation (scripts/image_fid.sh);
# without them both processes compute them.
#   bash scripts/image_samplers.sh EXPERIMENT OUT
# Optional (say so next to the figures): FID_SAMPLES=N samples per FID (default 1000, the rows'
# protocol; OUT/evaluate, if finished, must have the same); EXTRA="--hmc.num_warmup 25 ..."
# adds evaluate flags to every run (shorter HMC chains, fewer reference images);
# DIAGNOSTICS="--num_test 100 ..." fewer samples for B's likelihood, log Z and SIR figures.
set -euo pipefail
EXPERIMENT="${1:?usage: bash scripts/image_samplers.sh EXPERIMENT OUT}"
OUT="${2:?usage: bash scripts/image_samplers.sh EXPERIMENT OUT}"
source "$(dirname "$0")/image_experiments.sh"
cd "$(dirname "$0")/.."
NCPVAE=.venv/bin/ncpvae
export OMP_NUM_THREADS=1
FID_SAMPLES="${FID_SAMPLES:-1000}"
[ -f "$OUT/prior/config.json" ] || { echo "scripts/image_samplers.sh: $OUT/prior is not a finished prior; run scripts/image_fid.sh first" >&2; exit 2; }
if [ -f "$OUT/evaluate/report.json" ]; then
    .venv/bin/python - "$OUT/evaluate/report.json" "$FID_SAMPLES" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1])).get("sample_quality", [])
if any(r["fid_samples"] != int(sys.argv[2]) for r in rows):
    sys.exit(f"scripts/image_samplers.sh: {sys.argv[1]} has another FID protocol than "
             f"FID_SAMPLES={sys.argv[2]}; set FID_SAMPLES to its fid_samples")
PY
fi
finished() { [ -f "$1/config.json" ]; }
EVAL=($NCPVAE evaluate --config "configs/$EVALUATE.json" --prior "$OUT/prior"
      --fid_samples "$FID_SAMPLES" ${EXTRA:-})
TOKEN=(--num_test 20 --importance_samples 2 --log_normalizer_samples 1000 --sir_samples 20
       --group_normalizer_contexts 2 --group_normalizer_samples 2)
(
    finished "$OUT/evaluate_hmc" || "${EVAL[@]}" "${TOKEN[@]}" --samplers hmc --fid_seeds 2 \
        --out "$OUT/evaluate_hmc"
    # --seed 1000: FID's first sampling seed is seed + 5, the second stream of seed 0
    # (ncpvae.evaluation.sample_quality.fid_sampling_seed)
    finished "$OUT/evaluate_auto_1005" || "${EVAL[@]}" "${TOKEN[@]}" --samplers auto \
        --fid_seeds 1 --seed 1000 --out "$OUT/evaluate_auto_1005"
) &
A=$!
(
    finished "$OUT/evaluate" || "${EVAL[@]}" ${DIAGNOSTICS:-} \
        --samplers base,sir --fid_seeds 2 --out "$OUT/evaluate"
    finished "$OUT/evaluate_auto_5" || "${EVAL[@]}" "${TOKEN[@]}" --samplers auto \
        --fid_seeds 1 --out "$OUT/evaluate_auto_5"
) &
B=$!
status=0
wait "$A" || status=$?
wait "$B" || status=$?
exit "$status"
