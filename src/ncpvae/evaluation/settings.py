"""What an evaluation measures, and with how many samples: the settings of
:func:`ncpvae.evaluation.evaluate` and of ``ncpvae evaluate``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ncpvae.errors import ConfigError
from ncpvae.evaluation.fid import DEFAULT_INCEPTION_PATH
from ncpvae.samplers import SamplerSettings
from ncpvae.settings import check_settings, setting

__all__ = ["EvaluationSettings"]


@dataclass
class EvaluationSettings(SamplerSettings):
    """What :func:`evaluate` measures, and with how many samples."""

    section: ClassVar[str] = ""
    num_test: int = setting(0, "test examples to evaluate (0: the whole test set)", min=0)
    importance_samples: int = setting(1000, "importance samples per test example", min=1)
    log_normalizer_samples: int = setting(
        1_000_000, "base-prior draws behind the log Z estimate", min=1
    )
    sir_samples: int = setting(2_000, "SIR samples behind the reported ESS and MMD^2", min=1)
    group_normalizer_samples: int = setting(
        100, "hierarchical: draws behind each per-sample Z_k(z_<k) in the likelihood", min=1
    )
    group_normalizer_contexts: int = setting(
        256, "hierarchical: test contexts at which each group's log Z_k is reported", min=1
    )
    fid_samples: int = setting(0, "generated and reference images per FID score (0: no FID)", min=0)
    samplers: list[str] = setting(
        default_factory=lambda: ["base", "sir"], help="samplers to score by FID"
    )
    temperatures: list[float] = setting(
        default_factory=lambda: [1.0], help="temperatures to score by FID"
    )
    fid_weights: str = setting(DEFAULT_INCEPTION_PATH, "the TF-FID Inception TorchScript file")
    fid_cache: str = setting("~/.cache/ncpvae/fid", "folder of cached reference statistics")
    fid_batch_size: int = setting(50, "images per Inception pass", min=1)
    seed: int = setting(0, "seed of every random draw of the evaluation")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_settings(self)
        if self.fid_samples == 1:
            raise ConfigError("fid_samples must be 0 or >= 2")
        if any(t <= 0 for t in self.temperatures):
            raise ConfigError("temperatures must be positive")
        if self.fid_samples and not (self.samplers and self.temperatures):
            raise ConfigError("FID needs at least one of samplers and one of temperatures")
