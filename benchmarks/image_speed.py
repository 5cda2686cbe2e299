"""Training speed of the image models and the time of the MNIST likelihood evaluation.

* steps per second of stage 1 for the Lawson et al. MLP VAE (batch 128) and the convolutional
  VAEs of the ready configs (MNIST 28x28, CelebA 64x64), on random data of the right shape, and
  with ``--models hierarchical`` for the hierarchical configs (with the hours their configured
  number of steps takes at that rate);
* the importance-weighted NLL of 10,000 MNIST-shaped binary images with 1000 importance samples
  under the Lawson MLP (10^7 decoder passes), under the base prior alone and under both priors
  at once (the NCP classifier of configs/mnist_prior.json added), next to the arithmetic floor
  of the decoder matmuls at the measured float32 matmul rate of this machine.

    python benchmarks/image_speed.py [--device auto] [--num-test 10000] \
        [--models flat|hierarchical] [--out benchmarks/results/image_speed.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from _results import write_results

from ncpvae import NCPPrior, TensorData, log_likelihoods
from ncpvae.config import VAERunConfig, load_config
from ncpvae.models import build_model
from ncpvae.nets import ResidualMLPClassifier
from ncpvae.runs import resolve_device
from ncpvae.training import TrainConfig, train_vae

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# (config, data shape, divisor of --steps: slower models are timed over fewer steps)
TRAINING = {
    "flat": [
        ("mnist_mlp_vae.json", [1, 28, 28], 1),
        ("mnist_conv_vae.json", [1, 28, 28], 4),
        ("celeba64_conv_vae.json", [3, 64, 64], 10),
    ],
    "hierarchical": [
        ("mnist_hvae.json", [1, 28, 28], 4),
        ("cifar10_hvae.json", [3, 32, 32], 4),
        ("celeba64_hvae.json", [3, 64, 64], 4),
    ],
}


def model_from(config: str, data_shape: list[int], device: torch.device):
    cfg = load_config(VAERunConfig, CONFIGS / config)
    cfg.model.data_shape = data_shape
    return build_model(cfg.model).to(device), cfg


def steps_per_second(config: str, data_shape: list[int], device, steps: int) -> dict:
    model, cfg = model_from(config, data_shape, device)
    data = TensorData.images(
        torch.randint(0, 256, (2048, *data_shape), dtype=torch.uint8), binarize=cfg.data.binarize
    )
    train_cfg = TrainConfig(steps=steps, batch_size=cfg.train.batch_size, lr=cfg.train.lr)
    train_vae(model, data, TrainConfig(steps=5, batch_size=cfg.train.batch_size), progress=False)
    seconds = train_vae(model, data, train_cfg, progress=False).seconds
    return {
        "model": config,
        "batch_size": cfg.train.batch_size,
        "steps": steps,
        "steps_per_second": steps / seconds,
    }


def matmul_gflops(device: torch.device, n: int = 2048) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    start = time.perf_counter()
    for _ in range(5):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 5 * 2 * n**3 / (time.perf_counter() - start) / 1e9


def nll_time(device: torch.device, num_test: int, num_samples: int) -> list[dict]:
    model, _ = model_from("mnist_mlp_vae.json", [1, 28, 28], device)
    model.eval()
    pixels = torch.randint(0, 256, (num_test, 1, 28, 28), dtype=torch.uint8)
    data = TensorData.images(pixels, binarize=True)
    prior_cfg = json.loads((CONFIGS / "mnist_prior.json").read_text())["classifier"]
    classifier = ResidualMLPClassifier(50, prior_cfg["hidden_dim"], prior_cfg["num_blocks"])
    prior = NCPPrior(model.base_prior(), classifier.to(device), model)
    prior.log_normalizer.fill_(0.0)
    decoder_flops = 2 * sum(
        m.in_features * m.out_features for m in model.decoder.modules() if hasattr(m, "in_features")
    )
    floor = num_test * num_samples * decoder_flops / (matmul_gflops(device) * 1e9)
    rows = []
    for name, priors in (
        ("base prior", {"vae": model.base_prior()}),
        ("base + NCP", {"vae": model.base_prior(), "ncp": prior}),
    ):
        start = time.perf_counter()
        log_likelihoods(model, data, priors, num_samples=num_samples, progress=True)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "priors": name,
                "num_test": num_test,
                "importance_samples": num_samples,
                "seconds": seconds,
                "decoder_floor_seconds": floor,
                "times_floor": seconds / floor,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--num-test", type=int, default=10_000)
    parser.add_argument("--importance-samples", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument(
        "--models",
        choices=sorted(TRAINING),
        default="flat",
        help="flat: the flat models and the NLL timing; hierarchical: the hvae configs only",
    )
    parser.add_argument("--out", default="benchmarks/results/image_speed.json")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    training = [
        steps_per_second(config, shape, device, max(1, args.steps // divisor))
        for config, shape, divisor in TRAINING[args.models]
    ]
    print(f"{'model':<26} {'batch':>6} {'steps/s':>9} {'config steps':>13} {'hours':>6}")
    for r in training:
        cfg = load_config(VAERunConfig, CONFIGS / r["model"])
        r["config_steps"] = cfg.train.steps
        r["config_hours"] = cfg.train.steps / r["steps_per_second"] / 3600
        print(
            f"{r['model']:<26} {r['batch_size']:>6} {r['steps_per_second']:>9.1f} "
            f"{r['config_steps']:>13} {r['config_hours']:>6.2f}"
        )
    if args.models == "hierarchical":
        nll = []
    else:
        nll = nll_time(device, args.num_test, args.importance_samples)
    header = ("NLL, Lawson MLP", "images", "K", "seconds", "floor s", "x floor")
    if nll:
        print("\n{:<16} {:>7} {:>5} {:>8} {:>8} {:>8}".format(*header))
    for r in nll:
        print(
            f"{r['priors']:<16} {r['num_test']:>7} {r['importance_samples']:>5} "
            f"{r['seconds']:>8.1f} {r['decoder_floor_seconds']:>8.1f} {r['times_floor']:>8.2f}"
        )
    write_results(args.out, device, training=training, nll=nll)


if __name__ == "__main__":
    main()
