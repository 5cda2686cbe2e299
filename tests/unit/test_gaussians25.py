"""The 25-Gaussians data: the paper's defaults (modes of standard deviation 0.05 on a 5 x 5 grid)
and the knobs that change them."""

from __future__ import annotations

import pytest
import torch

from ncpvae.data import GRID_25, Gaussians25Config, load_data
from ncpvae.errors import ConfigError


def test_gaussians25_knobs_change_the_data_and_the_defaults_are_the_paper_s():
    default = Gaussians25Config(num_train=20_000, num_test=10)
    train = load_data(default).train
    nearest = torch.cdist(train.values, GRID_25).min(1).values
    assert abs(float(nearest.pow(2).mean() / 2) ** 0.5 - 0.05) < 0.002  # std 0.05 per axis
    knobs = Gaussians25Config(
        num_train=20_000, num_test=10, mode_std=0.2, grid_size=3, grid_spacing=4.0
    )
    wide = load_data(knobs).train
    assert wide.values.abs().max() > 4.0 and wide.values.abs().max() < 6.0
    centres = torch.tensor([[a, b] for a in (-4.0, 0.0, 4.0) for b in (-4.0, 0.0, 4.0)])
    spread = torch.cdist(wide.values, centres).min(1).values.pow(2).mean() / 2
    assert abs(float(spread) ** 0.5 - 0.2) < 0.01
    with pytest.raises(ConfigError, match="data.mode_std must be above 0"):
        Gaussians25Config(mode_std=0.0)
