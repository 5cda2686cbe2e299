"""Threads: a fixed count, ``OMP_NUM_THREADS`` and the free cores for ``--threads auto``; with a
piece of work to time, auto keeps whichever of one thread and all the cores runs it faster; the
demo's timed VAE step leaves torch's random stream as it found it, and the demo verb times
threads only under auto."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
import torch

from ncpvae.threads import free_cores, set_threads


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
