"""NCP beside pythae's own post-hoc samplers, on one pythae VAE trained on binarized MNIST.

1. Trains pythae's default MLP VAE (784-512-latent, Bernoulli decoder) once with pythae's
   ``TrainingPipeline``. pythae binarizes nothing itself: the training set is ncpvae's
   ``BinarizedDataset``, which draws every pixel afresh at each read (dynamic binarization).
   The weights are kept in ``--work`` and reused by later runs with the same settings.
2. Fits pythae's ``NormalSampler``, ``GaussianMixtureSampler`` and ``MAFSampler`` and ncpvae's
   ``NCPSampler`` (SIR) on one binarization of the training set. For each: fit seconds, seconds
   per 1000 samples, FID of ``--fid-samples`` decoder means against as many training images
   (TF-FID Inception: ``bash scripts/fid_weights.sh`` first), and the importance-weighted test
   NLL under the sampler's density (all densities from the same importance samples).
3. Times ncpvae's importance-weighted log-likelihood against pythae's ``VAE.get_nll`` (called
   under ``torch.no_grad``) on the same model, digits and number of importance samples, with
   the floor of the decoder passes both counted (FLOPs at the measured matrix-multiply rate)
   and measured (the decoder alone on as many latents), and checks that the two estimates
   agree within their Monte-Carlo error.

    python benchmarks/pythae_side_by_side.py --data ../shared/data/mnist   # 45 min to 2 h, 2 cores
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _results import write_results
from _timing import matmul_flops_per_second
from pythae.models import VAE, VAEConfig
from pythae.pipelines import TrainingPipeline
from pythae.samplers import (
    GaussianMixtureSampler,
    GaussianMixtureSamplerConfig,
    MAFSampler,
    MAFSamplerConfig,
    NormalSampler,
)
from pythae.trainers import BaseTrainerConfig
from torch import Tensor, nn
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from ncpvae.config import TrainConfig
from ncpvae.data.mnist import read_mnist
from ncpvae.evaluation.fid import FID, reference_cache_name
from ncpvae.evaluation.likelihood import (
    CPU_ELEMENTS_PER_PASS,
    MAX_ELEMENTS_PER_PASS,
    log_likelihood,
    log_likelihoods,
)
from ncpvae.evaluation.plotting import image_grid, panel_figure
from ncpvae.integrations.pythae import (
    BinarizedDataset,
    NCPSampler,
    NCPSamplerConfig,
    PythaeModel,
)
from ncpvae.tensor_files import load_weights, save_weights


def train_pythae_vae(train: Tensor, args: argparse.Namespace, work: Path) -> tuple[VAE, dict]:
    """pythae's VAE trained by pythae's pipeline, or the one a previous run kept in ``work``."""
    settings = {
        "data": str(Path(args.data).resolve()),
        "latent_dim": args.latent_dim,
        "epochs": args.epochs,
        "seed": args.seed,  # the initial weights and pythae's trainer seed
    }
    weights, record = work / "pythae_vae.safetensors", work / "pythae_vae.json"
    config = VAEConfig(input_dim=(1, 28, 28), latent_dim=args.latent_dim, reconstruction_loss="bce")
    vae = VAE(config)
    if (
        weights.is_file()
        and record.is_file()
        and json.loads(record.read_text())["settings"] == settings
    ):
        load_weights(vae, weights)
        return vae.eval(), json.loads(record.read_text())
    torch.manual_seed(args.seed)
    vae = VAE(config)
    training = BaseTrainerConfig(
        output_dir=str(work / "pythae_training"),
        num_epochs=args.epochs,
        learning_rate=1e-3,
        per_device_train_batch_size=100,
        no_cuda=args.device == "cpu",
        seed=args.seed,
    )
    start = time.perf_counter()
    TrainingPipeline(model=vae, training_config=training)(train_data=BinarizedDataset(train))
    info = {"settings": settings, "train_seconds": time.perf_counter() - start}
    save_weights(vae, weights)
    record.write_text(json.dumps(info, indent=2) + "\n")
    return vae.eval(), info


class MAFDensity:
    """log p(z) of pythae's fitted MAF: standard normal at the flow's output plus log |det J|."""

    def __init__(self, sampler: MAFSampler) -> None:
        self.flow, self.base = sampler.maf_model.eval(), sampler.prior

    def log_prob(self, z: Tensor) -> Tensor:
        out = self.flow(z)
        return self.base.log_prob(out.out) + out.log_abs_det_jac


def gmm_density(sampler: GaussianMixtureSampler, device: torch.device) -> MixtureSameFamily:
    """pythae's fitted scikit-learn mixture (full covariances) as a torch distribution."""
    gmm = sampler.gmm

    def tensor(a) -> Tensor:
        return torch.as_tensor(a, dtype=torch.float32, device=device)

    components = MultivariateNormal(tensor(gmm.means_), covariance_matrix=tensor(gmm.covariances_))
    return MixtureSameFamily(Categorical(probs=tensor(gmm.weights_)), components)


def decoder_flops_per_row(decoder: nn.Module) -> int:
    """Multiply-adds x 2 of the decoder's linear layers for one latent."""
    return sum(
        2 * m.in_features * m.out_features for m in decoder.modules() if isinstance(m, nn.Linear)
    )


@torch.no_grad()
def decoder_alone_seconds(vae: VAE, rows: int, chunk: int, repeats: int = 2) -> float:
    """Best seconds for the decoder on ``rows`` standard-normal latents, ``chunk`` per pass."""
    z = torch.randn(chunk, vae.model_config.latent_dim, device=next(vae.parameters()).device)

    def passes() -> None:
        for begin in range(0, rows, chunk):
            vae.decoder(z[: min(chunk, rows - begin)])

    return min(timed(passes)[1] for _ in range(repeats))


def timed(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` and its wall time in seconds (with the GPU synchronised, so that
    queued kernels count)."""
    synchronize = torch.cuda.synchronize if torch.cuda.is_available() else lambda: None
    synchronize()
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    synchronize()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mnist", help="MNIST folder")
    parser.add_argument("--work", default="runs/pythae_side_by_side", help="trained VAE kept here")
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=50, help="VAE training epochs")
    parser.add_argument("--maf-epochs", type=int, default=100)
    parser.add_argument("--gmm-components", type=int, default=10)
    parser.add_argument("--ncp-steps", type=int, default=10_000)
    parser.add_argument("--proposals", default="500", help="SIR proposals M, one row each")
    parser.add_argument("--fid-samples", type=int, default=5000)
    parser.add_argument("--fid-cache", default="~/.cache/ncpvae/fid")
    parser.add_argument("--nll-digits", type=int, default=10_000, help="first N test digits")
    parser.add_argument("--importance-samples", type=int, default=1000)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/pythae_side_by_side.json")
    args = parser.parse_args()
    if args.importance_samples > 100 and args.importance_samples % 100:
        parser.error("--importance-samples above 100 must be a multiple of 100 (get_nll's batch)")
    if args.device == "cpu" and torch.cuda.is_available():
        parser.error(
            "pythae's samplers move the model to the GPU whenever one is visible: use "
            "--device cuda, or hide the GPU (CUDA_VISIBLE_DEVICES=)"
        )
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    mnist = read_mnist(args.data)
    train_grey = mnist["train"].float() / 255
    binarizer = torch.Generator().manual_seed(args.seed)
    train = torch.bernoulli(train_grey, generator=binarizer)
    test = torch.bernoulli(mnist["test"].float() / 255, generator=binarizer)[: args.nll_digits]

    vae, vae_info = train_pythae_vae(train_grey, args, work)
    vae = vae.to(device)
    print(f"pythae VAE: {vae_info['train_seconds']:.0f} s of training ({vae_info['settings']})")

    # --- fit each sampler on the same binarized training set
    samplers, fit_seconds = {"normal": NormalSampler(vae)}, {"normal": 0.0}
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)  # scikit-learn's mixture (k-means start, samples) uses numpy's
    gmm = GaussianMixtureSampler(
        vae, GaussianMixtureSamplerConfig(n_components=args.gmm_components)
    )
    _, fit_seconds["gmm"] = timed(gmm.fit, train.to(device))
    samplers["gmm"] = gmm
    torch.manual_seed(args.seed)
    maf = MAFSampler(vae, MAFSamplerConfig())
    with tempfile.TemporaryDirectory() as tmp:
        maf_training = BaseTrainerConfig(
            output_dir=tmp,
            num_epochs=args.maf_epochs,
            learning_rate=1e-3,
            per_device_train_batch_size=256,
            no_cuda=args.device == "cpu",
            seed=args.seed,
        )
        _, fit_seconds["maf"] = timed(maf.fit, train.to(device), training_config=maf_training)
    samplers["maf"] = maf
    ncp = NCPSampler(
        vae,
        NCPSamplerConfig(train=TrainConfig(steps=args.ncp_steps, lr_final=1e-7, seed=args.seed)),
    )
    _, fit_seconds["ncp"] = timed(ncp.fit, train.to(device), progress=True)
    for m in args.proposals.split(","):
        samplers[f"ncp_sir_m{m}"] = ncp
    print("fit seconds:", {k: round(v, 1) for k, v in fit_seconds.items()}, flush=True)

    # --- test NLL under each sampler's density, from one set of importance samples
    model = PythaeModel(vae)
    densities = {
        "normal": model.base_prior(),
        "gmm": gmm_density(gmm, device),
        "maf": MAFDensity(maf),
        "ncp": ncp.prior,
    }
    log_px = log_likelihoods(
        model,
        test.to(device),
        densities,
        num_samples=args.importance_samples,
        generator=torch.Generator(device).manual_seed(args.seed + 1),
        progress=True,
    )
    # each density's NLL, and its gain over N(0, I) on the same importance samples (paired);
    # NCP's uncertainty includes that of its log Z
    log_z_stderr = float(ncp.prior.log_normalizer_stderr)
    nll = {}
    for name, values in log_px.items():
        gain = values - log_px["normal"]
        extra = log_z_stderr if name == "ncp" else 0.0
        nll[name] = {
            "test_nll": -float(values.mean()),
            "test_nll_stderr": math.hypot(float(values.std()) / math.sqrt(len(values)), extra),
            "gain_over_normal": float(gain.mean()),
            "gain_stderr": math.hypot(float(gain.std()) / math.sqrt(len(values)), extra),
        }

    # --- samples: seconds per 1000 and FID against as many training images
    fid = FID(device=device)
    reference = train_grey[: args.fid_samples]
    cache = Path(args.fid_cache).expanduser() / reference_cache_name(reference, fid.extractor_id)
    fid.set_reference(reference, num=len(reference), cache=cache)
    rows = []
    for name, sampler in samplers.items():
        if name.startswith("ncp_sir_m"):
            sampler.sampler_config.sir.num_proposals = int(name.removeprefix("ncp_sir_m"))
        torch.manual_seed(args.seed + 2)
        np.random.seed(args.seed + 2)
        with torch.no_grad():  # pythae's samplers would otherwise decode with autograd on
            sampler.sample(num_samples=10, batch_size=500)  # warm-up
            images, seconds = timed(sampler.sample, num_samples=args.fid_samples, batch_size=500)
        density = "ncp" if name.startswith("ncp") else name
        image_grid(images[:100].clamp(0, 1).cpu(), work / f"samples_{name}.png")
        rows.append(
            {
                "sampler": name,
                "fit_seconds": fit_seconds[density],
                "seconds_per_1000_samples": 1000 * seconds / args.fid_samples,
                "fid": fid(images.clamp(0, 1)),
                "density": density,
                **nll[density],
            }
        )
        if density == "ncp":  # the mean ESS of the timed draws' M proposals
            rows[-1]["sir_ess_mean"] = float(sampler.ess.mean())
        r = rows[-1]
        print(
            f"{name:<14} fit {r['fit_seconds']:7.1f} s  {r['seconds_per_1000_samples']:7.3f} "
            f"s/1000  FID {r['fid']:6.2f}  NLL {r['test_nll']:7.2f} ± {r['test_nll_stderr']:.2f}"
            f"  gain {r['gain_over_normal']:5.2f} ± {r['gain_stderr']:.2f}",
            flush=True,
        )

    titles = {
        "normal": "pythae NormalSampler",
        "gmm": "pythae GaussianMixtureSampler",
        "maf": "pythae MAFSampler",
    }
    panels = {
        titles.get(n, f"ncpvae NCPSampler, SIR M={n[9:]}"): work / f"samples_{n}.png"
        for n in samplers
    }
    panel_figure(panels, Path(args.out).with_suffix(".png"))

    # --- IW NLL: ncpvae against pythae's get_nll, and the decoder floor. Both warm up on a few
    # digits first, then run twice, interleaved, with two seeds (the spread of our two runs
    # gives the Monte-Carlo error); pythae's loop: per digit, batches of 100 importance samples,
    # encoder and decoder each.
    k, n = args.importance_samples, len(test)
    x = test.to(device)
    log_likelihood(model, x[:20], num_samples=k)
    with torch.no_grad():
        vae.get_nll(x[:20], n_samples=k, batch_size=min(k, 100))
    runs, pythae_runs = [], []
    for seed in (args.seed + 3, args.seed + 4):
        g = torch.Generator(device).manual_seed(seed)
        runs.append(timed(log_likelihood, model, x, num_samples=k, generator=g))
        torch.manual_seed(seed)
        with torch.no_grad():
            pythae_runs.append(timed(vae.get_nll, x, n_samples=k, batch_size=min(k, 100)))
    ours = float(sum(values.mean() for values, _ in runs)) / len(runs)
    theirs = sum(float(value) for value, _ in pythae_runs) / len(pythae_runs)
    # both estimators have the same expectation. Per digit, E[(a1 - a2)^2] = 2 sigma^2 for our
    # two runs; each side's mean of two runs over n digits has variance sigma^2 / (2 n), so the
    # difference of the two sides has variance sigma^2 / n = E[(a1 - a2)^2] / (2 n)
    stderr = math.sqrt(float((runs[0][0] - runs[1][0]).pow(2).mean()) / (2 * n))
    flops = decoder_flops_per_row(vae.decoder) * n * k
    rate = matmul_flops_per_second(device)
    # the decoder alone in passes of the size ncpvae's evaluation uses on this device
    elements = MAX_ELEMENTS_PER_PASS if device.type != "cpu" else CPU_ELEMENTS_PER_PASS
    chunk = k * max(1, elements // 784 // k)
    difference = ours - theirs
    nll_timing = {
        "digits": n,
        "importance_samples": k,
        "ncpvae_seconds": sum(seconds for _, seconds in runs) / len(runs),
        "ncpvae_seconds_runs": [seconds for _, seconds in runs],
        "pythae_get_nll_seconds": sum(seconds for _, seconds in pythae_runs) / len(pythae_runs),
        "pythae_get_nll_seconds_runs": [seconds for _, seconds in pythae_runs],
        "pythae_get_nll_batch_size": min(k, 100),
        "ncpvae_log_likelihood": ours,
        "pythae_get_nll": theirs,
        "difference": difference,
        "mc_stderr_of_difference": stderr,
        "agree_within_3_stderr": abs(difference) < 3 * stderr,
        "decoder_flops": flops,
        "matmul_flops_per_second": rate,
        "floor_counted_seconds": flops / rate,
        "floor_measured_seconds": decoder_alone_seconds(vae, n * k, chunk),
        "floor_measured_rows_per_pass": chunk,
        "floor_note": "decoder passes only (linear layers counted; measured: the whole decoder)",
    }
    t = nll_timing
    t["speedup"] = t["pythae_get_nll_seconds"] / t["ncpvae_seconds"]
    for who in ("ncpvae", "pythae_get_nll"):
        t[f"{who}_over_counted_floor"] = t[f"{who}_seconds"] / t["floor_counted_seconds"]
    print(
        f"IW NLL, {n} digits x {k} samples: ncpvae {t['ncpvae_seconds']:.1f} s, pythae get_nll "
        f"{t['pythae_get_nll_seconds']:.1f} s ({t['speedup']:.2f}x); "
        f"floor {t['floor_counted_seconds']:.1f} s counted, {t['floor_measured_seconds']:.1f} s "
        f"measured; log p(x) {t['ncpvae_log_likelihood']:.3f} vs {t['pythae_get_nll']:.3f} "
        f"(difference {t['difference']:+.3f}, MC stderr {t['mc_stderr_of_difference']:.3f})"
    )
    write_results(
        args.out,
        device,
        settings=vars(args),
        vae=vae_info,
        fid=f"TF-FID Inception, {args.fid_samples} samples vs {len(reference)} training images",
        nll=f"importance-weighted, {k} samples, first {n} test digits binarized once",
        notes=[
            "pythae's GMM and MAF samplers fit on one posterior draw per training image (their "
            "fit encodes the data once); NCP's classifier sees fresh posterior draws every step",
            "the NLL of an NCP row is that of the NCP density (the same for every M); gains are "
            "over N(0, I) on the same importance samples, NCP's errors include log Z's",
            "every timed sampling and likelihood call runs under torch.no_grad (the fits train)",
        ],
        rows=rows,
        nll_timing=nll_timing,
    )


if __name__ == "__main__":
    main()
