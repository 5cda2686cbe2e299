"""The paper's SIR trade-off: more proposals M cost more time and give better samples.

For each trained prior (a ``train-prior`` run folder) and each M, draws ``--num`` samples with
SIR (and, as the M = 1 end, from the base prior), and reports seconds per sample (latents and
decoding), the mean ESS, and FID of the decoder means against ``--num`` training images
(TF-FID Inception: ``bash scripts/fid_weights.sh`` first). Writes a table, a JSON file and a
plot.

    python benchmarks/sir_tradeoff.py --priors runs/mnist_mlp/prior,runs/mnist_hvae/prior \\
        --proposals 50,500,5000 --num 1000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _results import write_results

from ncpvae.data import load_data
from ncpvae.evaluation.fid import FID
from ncpvae.evaluation.plotting import plt
from ncpvae.evaluation.sample_quality import fid_reference
from ncpvae.runs import load_prior, resolve_device, vae_run_of
from ncpvae.samplers import BasePriorSampler, SIRSampler, decode


def measure(prior, model, sampler, num: int, fid: FID, seed: int) -> dict:
    generator = torch.Generator(model.device).manual_seed(seed)
    decode(model, prior.sample(8, sampler, generator=generator).latents, generator)  # warm-up
    start = time.perf_counter()
    result = prior.sample(num, sampler, generator=generator)
    _, images = decode(model, result.latents, generator)
    seconds = time.perf_counter() - start
    row = {"seconds_per_sample": seconds / num, "fid": fid(images), "fid_samples": num}
    if result.ess is not None:
        row["ess"] = float(result.ess.reshape(num, -1).mean(0).min())
    return row


def plot(rows: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for name in dict.fromkeys(r["prior"] for r in rows):
        mine = [r for r in rows if r["prior"] == name]
        ax.plot([r["seconds_per_sample"] for r in mine], [r["fid"] for r in mine], "o-", label=name)
        for r in mine:
            ax.annotate(f"M={r['M']}", (r["seconds_per_sample"], r["fid"]), fontsize=7)
    ax.set(xscale="log", xlabel="seconds per sample", ylabel=f"FID ({rows[0]['fid_samples']})")
    ax.set_title("SIR: cost against sample quality (M = 1: base prior)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--priors", required=True, help="comma-separated train-prior folders")
    parser.add_argument("--proposals", default="50,500,5000")
    parser.add_argument("--num", type=int, default=1000, help="samples (and reference images)")
    parser.add_argument("--fid-cache", default="~/.cache/ncpvae/fid")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/sir_tradeoff.json")
    args = parser.parse_args()
    device = resolve_device(args.device)
    rows = []
    for path in args.priors.split(","):
        prior = load_prior(path, device)
        model = prior.model
        vae_cfg = vae_run_of(path)
        train = load_data(vae_cfg.data).train
        fid = FID(device=device)
        name = f"{Path(path).parent.name}/{Path(path).name}"
        reference = fid_reference(fid, train, args.num, args.fid_cache)
        print(f"{name}: FID reference {reference} training images")
        samplers = [(1, BasePriorSampler())]
        samplers += [
            (int(m), SIRSampler(num_proposals=int(m), min_ess=0)) for m in args.proposals.split(",")
        ]
        for m, sampler in samplers:
            r = {
                "prior": name,
                "M": m,
                "reference_images": reference,
                **measure(prior, model, sampler, args.num, fid, args.seed),
            }
            rows.append(r)
            print(
                f"{name:<24} M={m:>5}  {r['seconds_per_sample'] * 1e3:8.2f} ms/sample  "
                f"FID {r['fid']:7.2f}  ESS {r.get('ess', float('nan')):8.1f}",
                flush=True,
            )
    fid_note = f"TF-FID Inception, {args.num} samples vs {args.num} training images"
    write_results(args.out, device, fid=fid_note, rows=rows)
    plot(rows, Path(args.out).with_suffix(".png"))
    print(f"plot written to {Path(args.out).with_suffix('.png')}")


if __name__ == "__main__":
    main()
