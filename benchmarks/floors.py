"""Evaluation costs beside their floors: for each workload, the FLOPs of the matrix products and
convolutions it must run (counted by torch's ``FlopCounterMode`` on the real computation) at
the rate this machine reaches on such operations, next to its measured wall time.

Workloads (untrained networks of the committed configs: the cost does not depend on weights):

* ``mlp_nll``, ``mlp_nll_ncp``: importance-weighted log-likelihood of binary 28x28 images,
  K = 1000, the Lawson MLP VAE (``configs/mnist_mlp_vae.json``), under the base prior and under
  both priors (the classifier of ``configs/mnist_prior.json``), per image;
* ``hvae_nll``: the same for the hierarchical VAE (``configs/mnist_hvae.json``, the classifiers
  of ``configs/hvae_prior.json``, ``configs/mnist_hvae_evaluate.json``: K = 1000, 50 draws per
  Z_k(z_<k)), both priors, per image;
* ``hvae_sir``: group-wise SIR of that prior with M = 500 (and ``--sir-proposals``) proposals
  per group, per sample;
* ``pythae_nll``, ``pythae_get_nll``: the same likelihood (K = 1000, base prior) of pythae's
  default MLP VAE for MNIST (784-512-16, Bernoulli decoder), by ncpvae on the wrapped model and by
  pythae's own ``VAE.get_nll`` (batches of 100 importance samples per digit), both beside the
  floor of the work the estimator must do (ncpvae's counted FLOPs; skipped without pythae);
* ``fid``: Inception pool features per 64x64 RGB image (TF-FID weights; skipped if absent).

The rates are the best of 5 runs of a 2048x2048 float32 matrix product and of a 3x3
convolution (64 to 64 channels, 32x32, batch 64); a workload's floor is its matmul FLOPs at the
first rate plus its convolution FLOPs at the second. Elementwise work (activations, the
likelihood's logarithms, sampling) is not in the floor: it is what the ratio shows. Where the
time goes is measured too: a profile of one run splits it into the matrix-product and
convolution kernels (``kernel_over_floor``: their own time over the floor, 1 if they ran at the
reference rates) and everything else (``other_over_floor``); the two add up to ``over_floor``
(within the profile's own noise).

With ``--compile`` the two likelihoods are also timed with torch.compile (``mlp_nll_compiled``,
``hvae_nll_compiled``; needs a C++ compiler): does fusing the elementwise work close the gap?

    python benchmarks/floors.py [--workloads mlp_nll,hvae_nll,hvae_sir,pythae_nll,fid]
        [--compile] [--out ...]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from _results import write_results
from _timing import best_seconds, matmul_flops_per_second
from torch.utils.flop_counter import FlopCounterMode

from ncpvae.config import EvaluateConfig, PriorRunConfig, VAERunConfig, load_config
from ncpvae.data import TensorData
from ncpvae.evaluation import log_likelihoods
from ncpvae.evaluation.fid import DEFAULT_INCEPTION_PATH, InceptionFeatures
from ncpvae.models import build_model
from ncpvae.prior import build_prior
from ncpvae.runs import resolve_device
from ncpvae.samplers import SIRSampler

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CONV_OPS = ("convolution", "conv")
# ATen ops whose own time is a matrix product or a convolution kernel
KERNEL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul", "conv")


@dataclass(frozen=True)
class Workload:
    """``work`` does ``units`` of ``unit`` (images, samples) per call; its floor counts the
    FLOPs of ``floor_of``'s work (another workload's name) where that is set, else its own."""

    work: Callable[[], object]
    units: int
    unit: str
    floor_of: str | None = None


def counted_flops(work: Callable[[], object]) -> tuple[float, float]:
    """(matmul FLOPs, convolution FLOPs) of one run of ``work``."""
    with FlopCounterMode(display=False) as counter:
        work()
    conv = matmul = 0.0
    for op, flops in counter.get_flop_counts().get("Global", {}).items():
        if any(name in str(op) for name in CONV_OPS):
            conv += flops
        else:
            matmul += flops
    return matmul, conv


def kernel_fraction(work: Callable[[], object]) -> float:
    """The fraction of one run of ``work``'s CPU time spent inside matrix-product and
    convolution kernels (ATen self time, from the profiler)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        work()
    kernels = total = 0.0
    for event in profile.key_averages():
        total += event.self_cpu_time_total
        if any(name in event.key for name in KERNEL_OPS):
            kernels += event.self_cpu_time_total
    return kernels / total


def rates(device: torch.device) -> dict[str, float]:
    """FLOP/s of a 2048^2 matmul and of a 64-channel 3x3 convolution on ``device``."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device).requires_grad_(False)
    x = torch.randn(64, 64, 32, 32, device=device)
    with torch.no_grad():
        flops = sum(counted_flops(lambda: conv(x)))
        return {
            "matmul": matmul_flops_per_second(device),
            "conv": flops / best_seconds(lambda: conv(x), 5),
        }


def _model(name: str, device: torch.device):
    cfg = load_config(VAERunConfig, CONFIGS / f"{name}.json")
    cfg.model.data_shape = [1, 28, 28]
    torch.manual_seed(0)
    return build_model(cfg.model).to(device).eval().requires_grad_(False)


def _prior(model, name: str):
    prior = build_prior(model, load_config(PriorRunConfig, CONFIGS / f"{name}.json").classifier)
    prior.trained.fill_(True)
    prior.log_normalizer.fill_(0.0)
    return prior.eval().requires_grad_(False)


def _digits(n: int) -> TensorData:
    generator = torch.Generator().manual_seed(0)
    return TensorData(torch.bernoulli(torch.full((n, 1, 28, 28), 0.13), generator=generator))


def _pythae_workloads(digits: TensorData, device: torch.device) -> dict[str, Workload]:
    """ncpvae's and pythae's IW likelihood of pythae's default MNIST VAE (untrained)."""
    try:
        from pythae.models import VAE, VAEConfig
    except ImportError:
        return {}
    from ncpvae.integrations.pythae_model import PythaeModel

    torch.manual_seed(0)
    vae = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=16)).to(device).eval()
    vae.requires_grad_(False)
    model = PythaeModel(vae)
    x = digits.values.to(device)
    return {
        "pythae_nll": Workload(
            lambda: log_likelihoods(model, digits, {"vae": model.base_prior()}, num_samples=1000),
            len(x),
            "image",
        ),
        # pythae's loop runs the encoder once per batch of samples: the floor is ncpvae's work
        "pythae_get_nll": Workload(
            lambda: vae.get_nll(x, n_samples=1000, batch_size=100),
            len(x),
            "image",
            floor_of="pythae_nll",
        ),
    }


def _likelihood(
    model, digits: TensorData, priors: dict, num_samples: int, floor_of: str | None = None
) -> Workload:
    """The importance-weighted log-likelihood of ``digits`` under ``priors``, per image."""
    return Workload(
        lambda: log_likelihoods(model, digits, priors, num_samples=num_samples),
        len(digits),
        "image",
        floor_of,
    )


def _hvae(device: torch.device):
    """The hierarchical VAE, its NCP prior with the evaluate config's Z_k draws, that config."""
    model = _model("mnist_hvae", device)
    prior = _prior(model, "hvae_prior")
    settings = load_config(EvaluateConfig, CONFIGS / "mnist_hvae_evaluate.json")
    prior.normalizer_samples = settings.group_normalizer_samples
    return model, prior, settings


def compiled_workloads(
    args: argparse.Namespace, device: torch.device, chosen: set[str]
) -> dict[str, Workload]:
    """The likelihoods again with torch.compile (inductor) fusing the elementwise work: the MLP's
    decoder pass with its Bernoulli log-probability (``log_likelihood_given``), the hierarchical
    prior's classifiers; each beside the floor of its eager workload (compilation, the first
    call, is not timed)."""
    found: dict[str, Workload] = {}
    if "mlp_nll" in chosen:
        model = _model("mnist_mlp_vae", device)
        model.log_likelihood_given = torch.compile(model.log_likelihood_given, dynamic=True)
        priors = {"vae": model.base_prior()}
        found["mlp_nll_compiled"] = _likelihood(
            model, _digits(args.mlp_digits), priors, 1000, floor_of="mlp_nll"
        )
    if "hvae_nll" in chosen:
        model, prior, settings = _hvae(device)
        prior.classifiers = torch.nn.ModuleList(
            torch.compile(c, dynamic=True) for c in prior.classifiers
        )
        priors = {"vae": model.base_prior(), "ncp": prior}
        found["hvae_nll_compiled"] = _likelihood(
            model,
            _digits(args.hvae_digits),
            priors,
            settings.importance_samples,
            floor_of="hvae_nll",
        )
    return found


def workloads(args: argparse.Namespace, device: torch.device) -> dict[str, Workload]:
    """The chosen workloads by name."""
    found: dict[str, Workload] = {}
    chosen = set(args.workloads.split(","))
    if "mlp_nll" in chosen:
        model = _model("mnist_mlp_vae", device)
        prior = _prior(model, "mnist_prior")
        digits = _digits(args.mlp_digits)
        found["mlp_nll"] = _likelihood(model, digits, {"vae": model.base_prior()}, 1000)
        priors = {"vae": model.base_prior(), "ncp": prior}
        found["mlp_nll_ncp"] = _likelihood(model, digits, priors, 1000)
    if "pythae_nll" in chosen:
        found.update(_pythae_workloads(_digits(args.mlp_digits), device))
    if chosen & {"hvae_nll", "hvae_sir"}:
        model, prior, settings = _hvae(device)
        if "hvae_nll" in chosen:
            priors = {"vae": model.base_prior(), "ncp": prior}
            found["hvae_nll"] = _likelihood(
                model, _digits(args.hvae_digits), priors, settings.importance_samples
            )
        if "hvae_sir" in chosen:
            for m in sorted({500, args.sir_proposals}):
                found[f"hvae_sir_m{m}"] = Workload(
                    lambda m=m: prior.sample(args.sir_samples, SIRSampler(num_proposals=m)),
                    args.sir_samples,
                    "sample",
                )
    if args.compile:
        found.update(compiled_workloads(args, device, chosen))
    if "fid" in chosen and Path(DEFAULT_INCEPTION_PATH).expanduser().is_file():
        net = InceptionFeatures().to(device).requires_grad_(False)
        images = torch.rand(args.fid_images, 3, 64, 64, device=device)
        found["fid"] = Workload(lambda: net(images), args.fid_images, "image")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="mlp_nll,hvae_nll,hvae_sir,pythae_nll,fid")
    parser.add_argument("--mlp-digits", type=int, default=100)
    parser.add_argument("--hvae-digits", type=int, default=2)
    parser.add_argument("--sir-samples", type=int, default=20)
    parser.add_argument("--sir-proposals", type=int, default=5000)
    parser.add_argument("--fid-images", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--compile", action="store_true", help="also the likelihoods with torch.compile"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(CONFIGS.parent / "benchmarks/results/floors.json"))
    args = parser.parse_args()
    device = resolve_device(args.device)
    rate = rates(device)
    print(
        f"rates: matmul {rate['matmul'] / 1e9:.1f} GFLOP/s, conv {rate['conv'] / 1e9:.1f} GFLOP/s"
    )
    rows = []
    counted: dict[str, tuple[float, float]] = {}
    with torch.no_grad():
        for name, workload in workloads(args, device).items():
            work, units, unit = workload.work, workload.units, workload.unit
            floor_of = workload.floor_of
            counted[name] = counted[floor_of] if floor_of else counted_flops(work)
            matmul, conv = counted[name]
            seconds = best_seconds(work, args.repeats) / units
            floor = (matmul / rate["matmul"] + conv / rate["conv"]) / units
            kernels = kernel_fraction(work) if device.type == "cpu" else float("nan")
            rows.append(
                {
                    "workload": name,
                    "unit": unit,
                    "seconds_per_unit": seconds,
                    "matmul_gflop_per_unit": matmul / units / 1e9,
                    "conv_gflop_per_unit": conv / units / 1e9,
                    "floor_seconds_per_unit": floor,
                    "over_floor": seconds / floor,
                    "kernel_over_floor": kernels * seconds / floor,
                    "other_over_floor": (1 - kernels) * seconds / floor,
                }
            )
            r = rows[-1]
            print(
                f"{name:<14} {seconds * 1e3:10.2f} ms/{unit:<6} floor {floor * 1e3:9.2f} ms "
                f"({r['matmul_gflop_per_unit']:.2f} + {r['conv_gflop_per_unit']:.2f} GFLOP) "
                f"x{seconds / floor:5.2f} (kernels x{r['kernel_over_floor']:4.2f}, "
                f"other x{r['other_over_floor']:4.2f})",
                flush=True,
            )
    write_results(
        args.out,
        device,
        rates_flop_per_second=rate,
        settings={k: v for k, v in vars(args).items() if k != "out"},
        workloads=rows,
    )


if __name__ == "__main__":
    main()
