"""Threads: a fixed count, ``OMP_NUM_THREADS`` and the free cores for ``--threads auto``; the
busy cores counted now from the CPU accounting, less this process's own work; with a piece of
work to time, auto keeps whichever of one thread and all the cores runs it faster; the library's
calls choose the free cores for themselves and put torch's count back, unless it was chosen; the
demo's timed VAE step leaves torch's random stream as it found it, and the demo verb times
threads only under auto."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import torch

import ncpvae
from ncpvae import threads
from ncpvae.threads import auto_threads, busy_cores, free_cores, set_threads


def test_threads_follow_the_request_and_the_environment(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert set_threads("auto") == 2
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert 1 <= set_threads("auto") == free_cores()
        monkeypatch.setattr(os, "cpu_count", lambda: 8)
        monkeypatch.setattr(threads, "busy_cores", lambda: 0.0)
        assert set_threads("auto") == 8
        monkeypatch.setattr(threads, "busy_cores", lambda: 5.2)
        assert set_threads("auto") == 3  # the cores left by 5.2 busy ones
        with pytest.raises(ValueError, match="at least 1"):
            set_threads(0)
    finally:
        torch.set_num_threads(before)


def test_busy_cores_count_other_work_on_this_processs_cores_and_not_its_own(monkeypatch):
    # the arithmetic: 150 of 200 ticks busy on 2 CPUs is 1.5 cores, 0.05 s of the 0.1 s window
    # were this process's own (0.5 core), so other work keeps 1.0 core busy
    ticks = iter([(1000, 4000), (1150, 4200)])
    clock = iter([10.0, 10.05])
    monkeypatch.setattr(threads, "_allowed_cpus", lambda: {0, 1})
    monkeypatch.setattr(threads, "_cpu_ticks", lambda cpus: next(ticks))
    monkeypatch.setattr(time, "process_time", lambda: next(clock))
    monkeypatch.setattr(time, "perf_counter", iter([0.0, 0.1]).__next__)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    assert busy_cores() == pytest.approx(1.0)
    # no CPU accounting (not Linux): the 1-minute load average
    monkeypatch.setattr(threads, "_cpu_ticks", lambda cpus: None)
    monkeypatch.setattr(os, "getloadavg", lambda: (5.2, 0.0, 0.0), raising=False)
    assert busy_cores() == 5.2


def test_busy_cores_see_a_process_that_started_a_moment_ago(tmp_path):
    if threads._cpu_ticks(threads._allowed_cpus()) is None:
        pytest.skip("no /proc/stat on this system")
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # the load average would not see it for a minute
        assert busy_cores(0.3) >= 0.6
    finally:
        hog.kill()
        hog.wait()


@pytest.fixture
def fresh_process(monkeypatch):
    """``threads`` as in a fresh process where nobody chose a count: torch's default 2, no
    OMP_NUM_THREADS, no choice made yet; returns the list of free-core measurements."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    measured: list[int] = []
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "_TORCH_DEFAULT", 2)
    monkeypatch.setattr(threads, "_choice", threads._Choice())
    monkeypatch.setattr(threads, "free_cores", lambda: measured.append(1) or 1)
    yield measured
    torch.set_num_threads(before)


class _SpySampler(ncpvae.BasePriorSampler):
    """Base-prior samples, recording the thread count each batch ran at."""

    counts: list[int] = []

    def _sample_batch(self, prior, n, temperature, generator):
        self.counts.append(torch.get_num_threads())
        return super()._sample_batch(prior, n, temperature, generator)


def test_library_calls_run_at_the_free_cores_and_put_torchs_count_back(fresh_process, monkeypatch):
    monkeypatch.setattr(threads, "CHOICE_KEPT", math.inf)
    seen: dict[str, set[int]] = {}

    def record(name: str):
        return lambda *args, **kwargs: seen.setdefault(name, set()).add(torch.get_num_threads())

    train, _, test = ncpvae.load_data(ncpvae.Gaussians25Config(num_train=256, num_test=16))
    model = ncpvae.build_model(ncpvae.VAEConfig(data_shape=[2], latent_dim=2, hidden_dim=8))
    steps = ncpvae.TrainConfig(steps=4, batch_size=64)
    ncpvae.train_vae(model, train, steps, progress=False, on_log=record("train_vae"))
    prior = ncpvae.build_prior(model, ncpvae.ClassifierConfig(hidden_dim=8, num_blocks=1))
    ncpvae.train_prior(prior, train, steps, progress=False, on_log=record("train_prior"))
    prior.classifiers[0].register_forward_hook(record("classifier"))
    prior.estimate_log_normalizer(64)
    assert seen == {"train_vae": {1}, "train_prior": {1}, "classifier": {1}}
    assert torch.get_num_threads() == 2  # put back after each call
    _SpySampler.counts = []
    prior.sample(8, _SpySampler())
    _SpySampler().sample(prior, 8)
    assert _SpySampler.counts == [1, 1] and torch.get_num_threads() == 2
    seen.clear()
    ncpvae.log_likelihoods(model, test, {"ncp": prior}, num_samples=4)
    assert seen == {"classifier": {1}} and torch.get_num_threads() == 2
    assert fresh_process == [1]  # one measurement served the calls of the next seconds


def test_library_calls_leave_a_chosen_count_alone(fresh_process, monkeypatch):
    def count_inside() -> int:
        with auto_threads():
            return torch.get_num_threads()

    torch.set_num_threads(3)  # torch.set_num_threads: the user's choice
    assert count_inside() == 3 and fresh_process == []
    torch.set_num_threads(2)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert count_inside() == 2 and fresh_process == []
    monkeypatch.delenv("OMP_NUM_THREADS")
    with auto_threads():  # inside a call, the calls it makes keep its choice
        torch.set_num_threads(4)
        assert count_inside() == 4
    assert torch.get_num_threads() == 2 and fresh_process == [1]
    with pytest.raises(KeyError), auto_threads():  # put back when the call fails
        raise KeyError("x")
    assert torch.get_num_threads() == 2
    monkeypatch.setattr(time, "monotonic", lambda: 1e9)  # the choice is old: measured again
    assert count_inside() == 1 and fresh_process == [1, 1]
    set_threads(2)  # set_threads: kept by every later call
    assert count_inside() == 2 and fresh_process == [1, 1]


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
    monkeypatch.setattr(threads, "busy_cores", lambda: 0.0)
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
        # the timing, not the busy cores, decides where there is work to time
        monkeypatch.setattr(os, "cpu_count", lambda: 4)
        monkeypatch.setattr(threads, "busy_cores", lambda: 3.0)
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
