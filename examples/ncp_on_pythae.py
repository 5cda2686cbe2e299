"""NCP on a pythae model: NCP as one more post-hoc sampler for a VAE trained with pythae.

Trains pythae's default MLP VAE on dynamically binarized MNIST with pythae's own pipeline, then
fits ncpvae's ``NCPSampler`` on it (pythae's sampler shape: built on the model, ``fit``,
``sample``), saves and reloads the fitted sampler, writes sample grids of pythae's
``NormalSampler`` and of NCP, and compares the test log-likelihood under both priors.

    pip install -e '.[pythae]'    # or bash scripts/setup.sh, which installs pythae too
    python examples/ncp_on_pythae.py --data ../shared/data/mnist            # about 5 minutes
    python examples/ncp_on_pythae.py --data ../shared/data/mnist --epochs 2 --ncp-steps 500
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from pythae.models import VAE, VAEConfig
from pythae.pipelines import TrainingPipeline
from pythae.samplers import NormalSampler
from pythae.trainers import BaseTrainerConfig

from ncpvae import log_likelihoods
from ncpvae.config import TrainConfig
from ncpvae.data.mnist import read_mnist
from ncpvae.evaluation.plotting import image_grid
from ncpvae.integrations.pythae import (
    BinarizedDataset,
    NCPSampler,
    NCPSamplerConfig,
    PythaeModel,
)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mnist", help="folder of MNIST IDX files")
    parser.add_argument("--out", default="runs/ncp_on_pythae")
    parser.add_argument("--epochs", type=int, default=50, help="pythae VAE training epochs")
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--ncp-steps", type=int, default=10_000)
    parser.add_argument("--num-test", type=int, default=1000, help="test digits for the NLL")
    parser.add_argument("--importance-samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    torch.manual_seed(args.seed)

    # 1. pythae as usual: a VAE and its training pipeline. BinarizedDataset binarizes every
    #    image afresh each time pythae's loader reads it.
    mnist = read_mnist(args.data)
    train = mnist["train"].float() / 255
    vae = VAE(
        VAEConfig(input_dim=(1, 28, 28), latent_dim=args.latent_dim, reconstruction_loss="bce")
    )
    pipeline = TrainingPipeline(
        model=vae,
        training_config=BaseTrainerConfig(
            output_dir=str(out / "pythae"),
            num_epochs=args.epochs,
            learning_rate=1e-3,
            per_device_train_batch_size=100,
            seed=args.seed,
        ),
    )
    pipeline(train_data=BinarizedDataset(train))
    vae.eval()

    # 2. NCP as a pythae sampler: fit on (one binarization of) the training set, save, reload.
    binarizer = torch.Generator().manual_seed(args.seed)
    sampler = NCPSampler(
        vae,
        NCPSamplerConfig(train=TrainConfig(steps=args.ncp_steps, lr_final=1e-7, seed=args.seed)),
    )
    sampler.fit(torch.bernoulli(train, generator=binarizer), progress=True)
    sampler.save(out / "ncp_sampler")
    sampler = NCPSampler.load(vae, out / "ncp_sampler")  # the classifier and log Z come back

    # 3. Samples from both priors (pythae's samplers return decoder means).
    out.mkdir(parents=True, exist_ok=True)
    image_grid(NormalSampler(vae).sample(num_samples=100), out / "samples_normal.png")
    ncp_images = sampler.sample(num_samples=100, generator=torch.Generator().manual_seed(1))
    image_grid(ncp_images, out / "samples_ncp.png")

    # 4. Test log-likelihood under both priors, from the same importance samples.
    test = torch.bernoulli(mnist["test"][: args.num_test].float() / 255, generator=binarizer)
    model = PythaeModel(vae)  # on the GPU if there is one: pythae's trainer and samplers use it
    ll = log_likelihoods(
        model,
        test.to(model.device),
        {"normal": model.base_prior(), "ncp": sampler.prior},
        num_samples=args.importance_samples,
        generator=torch.Generator().manual_seed(args.seed),
    )
    result = {
        "normal_log_likelihood": float(ll["normal"].mean()),
        "ncp_log_likelihood": float(ll["ncp"].mean()),
        "ncp_gain": float((ll["ncp"] - ll["normal"]).mean()),
        "log_z": float(sampler.prior.log_normalizer),
    }
    print(
        f"test log-likelihood on {len(test)} digits: N(0, I) prior "
        f"{result['normal_log_likelihood']:.2f}, NCP {result['ncp_log_likelihood']:.2f} nats "
        f"(gain {result['ncp_gain']:.2f}, log Z {result['log_z']:.3f}); samples in {out}"
    )
    return result


if __name__ == "__main__":
    main()
