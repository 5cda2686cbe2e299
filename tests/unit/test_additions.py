"""Unit tests of the additions: noise sharding of a batch-shaped base, the automatic sampler,
the 25-Gaussians knobs, threads (and the demo's choice of them), checkpoints by time, merge of a
flat prior."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable

import pytest
import torch
from helpers import QuadraticLogRatio, gaussian_moments_error
from torch.distributions import Normal

import ncpvae
from ncpvae.data import GRID_25, DataConfig, load_data
from ncpvae.errors import ConfigError
from ncpvae.threads import free_cores, set_threads
from ncpvae.training.checkpoints import Checkpointing
from ncpvae.training.sharding import sharded


def test_a_batch_shaped_base_is_sharded_by_its_sample_rows():
    """Normal(zeros(D), ones(D)) has batch shape (D,): sample((n,)) must shard the n rows, not
    the D coordinates."""
    base = Normal(torch.zeros(3), torch.ones(3))
    torch.manual_seed(0)
    expected = base.sample((8,))
    parts = []
    for rank in range(2):
        torch.manual_seed(0)
        parts.append(sharded(base, rank, 2).sample((4,)))
    torch.testing.assert_close(torch.cat(parts), expected, rtol=0, atol=0)


def _far_target():
    f = QuadraticLogRatio(torch.eye(2) * 30.0, torch.tensor([60.0, -45.0]))
    return ncpvae.NCPPrior(ncpvae.standard_normal((2,)), f), f


def test_the_automatic_sampler_replaces_collapsed_sir_draws_by_hmc():
    prior, f = _far_target()  # N(1.9, -1.5) with std 0.18: SIR with 50 proposals collapses
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sir = prior.sample(400, ncpvae.SIRSampler(num_proposals=50), generator=_g(0))
    auto = ncpvae.AutoSampler(
        ncpvae.SIRSampler(num_proposals=50, min_ess=0),
        ncpvae.HMCSampler(num_steps=50, num_warmup=100),
    )
    out = prior.sample(400, auto, generator=_g(0))
    assert float(sir.ess.mean()) < 5  # the case auto is for
    sir_error = gaussian_moments_error(sir.latents, f.target())[0]
    auto_error = gaussian_moments_error(out.latents, f.target())[0]
    assert auto_error < 0.05 < 0.2 < sir_error
    assert out.hmc.shape == (400,) and bool(out.hmc.all())  # every draw collapsed: all by HMC
    # where SIR is healthy it keeps SIR's draw
    easy = ncpvae.NCPPrior(ncpvae.standard_normal((2,)), QuadraticLogRatioZero())
    kept = easy.sample(50, auto, generator=_g(1))
    assert not bool(kept.hmc.any()) and kept.acceptance_rate is None


class QuadraticLogRatioZero(torch.nn.Module):
    """f = 0: the NCP prior is the base prior, SIR's ESS is M."""

    def forward(self, z):
        return torch.zeros(len(z))


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_gaussians25_knobs_change_the_data_and_the_defaults_are_the_paper_s():
    default = DataConfig(num_train=20_000, num_test=10)
    train = load_data(default).train
    nearest = torch.cdist(train.values, GRID_25).min(1).values
    assert abs(float(nearest.pow(2).mean() / 2) ** 0.5 - 0.05) < 0.002  # std 0.05 per axis
    knobs = DataConfig(num_train=20_000, num_test=10, mode_std=0.2, grid_size=3, grid_spacing=4.0)
    wide = load_data(knobs).train
    assert wide.values.abs().max() > 4.0 and wide.values.abs().max() < 6.0
    centres = torch.tensor([[a, b] for a in (-4.0, 0.0, 4.0) for b in (-4.0, 0.0, 4.0)])
    spread = torch.cdist(wide.values, centres).min(1).values.pow(2).mean() / 2
    assert abs(float(spread) ** 0.5 - 0.2) < 0.01
    with pytest.raises(ConfigError, match="data.mode_std must be above 0"):
        DataConfig(mode_std=0.0)


def test_threads_follow_the_request_and_the_environment(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert set_threads("auto") == 2
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert 1 <= set_threads("auto") == free_cores()
        monkeypatch.setattr(os, "cpu_count", lambda: 8)
        monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
        assert set_threads("auto") == 8
        monkeypatch.setattr(os, "getloadavg", lambda: (5.2, 0.0, 0.0))
        assert set_threads("auto") == 3  # the cores left by a load of 5.2
        with pytest.raises(ValueError, match="at least 1"):
            set_threads(0)
    finally:
        torch.set_num_threads(before)


def _sleeps(seconds_at: Callable[[int], float]) -> Callable[[], None]:
    """Work that takes ``seconds_at(threads)`` and records the thread counts it ran at."""

    def work() -> None:
        work.counts.append(torch.get_num_threads())
        time.sleep(seconds_at(torch.get_num_threads()))

    work.counts = []
    return work


def test_auto_threads_keep_whichever_of_one_and_all_the_cores_runs_the_work_faster(
    monkeypatch,
):
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    try:
        splits_well = _sleeps(lambda n: 0.02 / n)
        assert set_threads("auto", probe=lambda: splits_well) == 4 == torch.get_num_threads()
        assert sorted(set(splits_well.counts)) == [1, 4]
        waits_on_threads = _sleeps(lambda n: 0.004 * n)
        assert set_threads("auto", probe=lambda: waits_on_threads) == 1
        assert torch.get_num_threads() == 1
        # the probe is built only where it is timed: not for what the user fixed, nor on one core
        built = []
        probe = lambda: built.append(1) or _sleeps(lambda n: 0.0)  # noqa: E731
        assert set_threads(3, probe=probe) == 3
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert set_threads("auto", probe=probe) == 2
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.setattr(os, "cpu_count", lambda: 1)
        assert set_threads("auto", probe=probe) == 1 and built == []
        # the timing, not the lagging load average, decides where there is work to time
        monkeypatch.setattr(os, "cpu_count", lambda: 4)
        monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 0.0, 0.0))
        assert set_threads("auto", probe=lambda: splits_well) == 4
        # nothing to time (a GPU run): the free cores
        assert set_threads("auto", probe=lambda: None) == 1
        # work that fails leaves the thread count as it was
        torch.set_num_threads(2)
        with pytest.raises(RuntimeError, match="out of memory"):
            set_threads("auto", probe=lambda: _fails)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def _fails() -> None:
    raise RuntimeError("out of memory")


def test_the_demos_thread_probe_is_a_vae_step_that_leaves_no_trace():
    from ncpvae.cli.demo import thread_probe
    from ncpvae.config import DemoConfig

    cfg = DemoConfig()
    cfg.vae.device = "cpu"
    cfg.vae.train.batch_size = 64
    state = torch.random.get_rng_state()
    step = thread_probe(cfg)
    step()
    step()
    assert torch.equal(torch.random.get_rng_state(), state)


def test_the_demo_verb_times_threads_only_under_auto(monkeypatch, tmp_path):
    from ncpvae.cli import demo
    from ncpvae.cli.main import main

    built = []
    monkeypatch.setattr(demo, "thread_probe", lambda cfg: built.append(cfg) or None)
    monkeypatch.setattr(demo, "run", lambda cfg, out, progress=True, overwrite=False: {})
    monkeypatch.setattr(demo, "describe", lambda result, out: "")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    before = torch.get_num_threads()
    try:
        assert main(["demo", "--threads", "1", "--out", str(tmp_path / "a")]) == 0
        assert built == []
        assert main(["demo", "--vae.train.batch_size", "64", "--out", str(tmp_path / "b")]) == 0
        assert [cfg.vae.train.batch_size for cfg in built] == [64]  # built from the final config
    finally:
        torch.set_num_threads(before)


def test_checkpoints_are_due_by_steps_by_time_and_at_the_end(tmp_path):
    by_time = Checkpointing(tmp_path / "c.pt", every=0, every_seconds=60)
    assert not by_time.due(5, 100, seconds_since_last=59.0)
    assert by_time.due(5, 100, seconds_since_last=61.0) and by_time.due(100, 100)
    by_steps = Checkpointing(tmp_path / "c.pt", every=10)
    assert by_steps.due(20, 100) and not by_steps.due(21, 100, seconds_since_last=1e9)


def test_a_flat_prior_has_no_groups_to_merge():
    prior, _ = _far_target()
    with pytest.raises(ValueError, match="flat prior has one latent group"):
        ncpvae.merge_priors([prior, prior])


def test_finer_mmd_bandwidths_see_a_hole_between_islands():
    """q(z): 25 tight islands; a prior spread over the square between them has a hole the
    median-heuristic kernel (as wide as the cloud) barely sees, and the finer ones do; fresh
    samples of q itself stay near 0 at every scale."""
    from ncpvae.data import gaussians25
    from ncpvae.evaluation import prior_hole

    g = torch.Generator().manual_seed(0)
    q = gaussians25(1000, g) / 2
    spread = torch.randn(1000, 2, generator=g) * 1.4
    hole = prior_hole(
        ncpvae.NCPPrior(ncpvae.standard_normal((2,)), QuadraticLogRatioZero()),
        q,
        {"base": spread, "ncp": gaussians25(1000, g) / 2},
    )
    assert hole["mmd_bandwidth_scales"] == [1.0, 0.25, 0.0625]
    base, ncp = hole["mmd2_posterior_base_scales"], hole["mmd2_posterior_ncp_scales"]
    assert base[0] == hole["mmd2_posterior_base"]  # scale 1 is the median heuristic
    assert base[-1] > 4 * base[0] and base[-1] > 20 * abs(ncp[-1])
