"""What an evaluation measures, and with how many samples: the settings of
:func:`ncpvae.evaluation.evaluate` and of ``ncpvae evaluate``."""

from __future__ import annotations

from typing import ClassVar

from ncpvae.config.sampling import HMCConfig, LangevinConfig, SIRConfig, sampler_section
from ncpvae.errors import ConfigError
from ncpvae.settings import Int, config_section, setting

__all__ = ["EvaluationSettings", "DEFAULT_INCEPTION_PATH"]

DEFAULT_INCEPTION_PATH = "~/.cache/ncpvae/inception_fid.pt"
"""Where ``scripts/fid_weights.sh`` puts the TF-FID Inception network."""


@config_section
class EvaluationSettings:
    """What :func:`evaluate` measures, and with how many samples, and how each sampler runs."""

    section: ClassVar[str] = ""
    sir: SIRConfig = sampler_section(SIRConfig)
    langevin: LangevinConfig = sampler_section(LangevinConfig)
    hmc: HMCConfig = sampler_section(HMCConfig)
    num_test: Int = setting(0, "Test examples to evaluate on (0: the whole test set).", min=0)
    importance_samples: Int = setting(
        1000, "Importance samples per test example in the log-likelihood estimate.", min=1
    )
    log_normalizer_samples: Int = setting(
        1_000_000, "Base-prior draws behind the estimate of log Z.", min=1
    )
    sir_samples: Int = setting(2_000, "SIR samples behind the ESS and MMD^2 figures.", min=1)
    group_normalizer_samples: Int = setting(
        100, "Hierarchical VAE: draws behind each Z_k(z_<k) in the log-likelihood.", min=1
    )
    group_normalizer_contexts: Int = setting(
        256, "Hierarchical VAE: test contexts averaged in the per-group log Z.", min=1
    )
    fid_samples: Int = setting(
        0, "Generated and reference images per FID score (0: no FID; else at least 2).", min=0
    )
    fid_reference_samples: Int = setting(
        0,
        "Training images behind FID's reference statistics (0: as many as fid_samples; the "
        "statistics are cached).",
        min=0,
    )
    fid_seeds: Int = setting(
        1, "Sampling seeds per sampler and temperature, to show FID's spread over seeds.", min=1
    )
    samplers: list[str] = setting(
        help="Samplers scored by FID (base, sir, langevin, hmc).",
        default_factory=lambda: ["base", "sir"],
    )
    temperatures: list[float] = setting(
        help="Temperatures (each above 0) at which every FID sampler draws.",
        default_factory=lambda: [1.0],
    )
    fid_weights: str = setting(
        DEFAULT_INCEPTION_PATH, "The TF-FID Inception network as a TorchScript file."
    )
    fid_cache: str = setting(
        "~/.cache/ncpvae/fid", "Folder caching the reference statistics of each data set."
    )
    fid_batch_size: Int = setting(50, "Images per batch through the Inception network.", min=1)
    seed: Int = setting(0, "Seed of the random draws.")
    shard: Int = setting(
        0,
        "This run's part of the test-set likelihood, 0 <= shard < num_shards (the sampling "
        "figures are taken from shard 0's run when the parts are merged).",
        min=0,
    )
    num_shards: Int = setting(
        1,
        "Split the test-set likelihood over this many runs (same settings, shard = 0, 1, ...), "
        "then join their reports with ncpvae merge-evaluations.",
        min=1,
    )

    @property
    def samples_figures(self) -> bool:
        """Whether this run computes the sampling figures (SIR's ESS, MMD^2, FID) and the
        classifiers' fit: unsharded runs and shard 0, from which a merge takes them."""
        return self.shard == 0

    def __post_init__(self) -> None:
        if self.fid_samples == 1:
            raise ConfigError("fid_samples must be 0 or at least 2, got 1")
        if any(t <= 0 for t in self.temperatures):
            raise ConfigError("temperatures must be positive")
        if self.shard >= self.num_shards:
            raise ConfigError(
                f"shard {self.shard} does not exist for num_shards {self.num_shards}: "
                "use 0 <= shard < num_shards"
            )
        if self.fid_samples and not (self.samplers and self.temperatures):
            raise ConfigError("FID needs at least one of samplers and one of temperatures")
