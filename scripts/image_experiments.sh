# Sourced by scripts/image_fid.sh and scripts/image_samplers.sh: the configs of each image
# experiment of docs/results.md. Sets PRIOR and EVALUATE (configs/<name>.json) for $EXPERIMENT.
case "$EXPERIMENT" in
    celeba64_conv_vae|celeba64_rae_gmm) PRIOR=image_prior EVALUATE=celeba64_evaluate ;;
    celeba64_hvae) PRIOR=hvae_image_prior EVALUATE=celeba64_evaluate ;;
    cifar10_hvae) PRIOR=hvae_image_prior EVALUATE=cifar10_evaluate ;;
    *) echo "scripts/${0##*/}: unknown EXPERIMENT $EXPERIMENT (celeba64_conv_vae, celeba64_rae_gmm, celeba64_hvae or cifar10_hvae)" >&2; exit 2 ;;
esac
