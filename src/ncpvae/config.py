"""Run configurations: dataclasses saved as JSON next to the weights, with flag overrides.

Every leaf field of a run config becomes a command-line flag named by its dotted path
(``--train.steps 5000``, ``--model.hidden_dim 128``); ``--config FILE`` loads a JSON file first
and flags override it. Reading is strict: an unknown key or a value of the wrong type is a
:class:`~ncpvae.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ncpvae.checkpoint import write_json
from ncpvae.errors import ConfigError, require
from ncpvae.evaluation.fid import DEFAULT_INCEPTION_PATH
from ncpvae.models.config import ModelConfig
from ncpvae.training import TrainConfig

__all__ = [
    "DataConfig",
    "ClassifierConfig",
    "VAERunConfig",
    "PriorRunConfig",
    "SamplerSettings",
    "SampleConfig",
    "EvaluateConfig",
    "DemoConfig",
    "MergeConfig",
    "leaf_fields",
    "to_dict",
    "from_dict",
    "load_config",
    "save_config",
    "apply_overrides",
]

C = TypeVar("C")


@dataclass
class DataConfig:
    """Where the data come from. ``name``:

    * ``gaussians25``: built in, ``num_train`` + ``num_test`` points generated from ``seed``;
    * ``file``: a .npy array or .pt tensor (N, ...) at ``path``, the last ``num_test`` rows for
      testing (uint8 values are taken as pixels and scaled to [0, 1]);
    * ``mnist``: the IDX files in the folder ``path``, split 50k/10k/10k (train/validation/test);
    * ``cifar10``: the ``cifar-10-batches-py`` folder at ``path``;
    * ``folder``: JPEG/PNG images in the folder (or .tar) ``path``, centre-cropped to ``crop``
      (0: the largest square) and resized to ``image_size``; the last ``num_test`` for testing.

    Readers keep the first ``num_train`` training and ``num_test`` test examples. ``binarize``:
    dynamic binarization, a fresh x ~ Bernoulli(pixel) every time an image is used.
    """

    name: str = "gaussians25"
    path: str = ""
    num_train: int = 100_000
    num_test: int = 5_000
    binarize: bool = False
    image_size: int = 64
    crop: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.num_train >= 1, "data.num_train must be at least 1")
        require(self.num_test >= 1, "data.num_test must be at least 1")
        require(self.image_size >= 1, "data.image_size must be at least 1")
        require(self.crop >= 0, "data.crop must be >= 0 (0: the largest centred square)")


@dataclass
class ClassifierConfig:
    """The residual classifier f(z) = log r(z) (the paper's: Swish, batch norm and
    squeeze-and-excitation in every block)."""

    hidden_dim: int = 256
    num_blocks: int = 3
    batch_norm: bool = True
    squeeze_excitation: bool = True

    def __post_init__(self) -> None:
        require(self.hidden_dim >= 1, "classifier.hidden_dim must be at least 1")
        require(self.num_blocks >= 0, "classifier.num_blocks must be >= 0")


@dataclass
class VAERunConfig:
    """``ncpvae train-vae``: stage 1."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    kl_warmup_fraction: float = 0.5  # KL weight rises linearly 0 -> 1 over this share of steps
    checkpoint_every: int = 1000  # steps between checkpoints (0: only at the end)
    device: str = "auto"

    def __post_init__(self) -> None:
        require(0 <= self.kl_warmup_fraction <= 1, "kl_warmup_fraction must be in [0, 1]")
        require(self.checkpoint_every >= 0, "checkpoint_every must be >= 0 (0: only at the end)")


@dataclass
class PriorRunConfig:
    """``ncpvae train-prior``: stage 2 on the frozen VAE in the run folder ``vae``. For a
    hierarchical VAE, ``groups`` selects the latent groups whose classifiers this run trains (to
    spread them over workers; ``ncpvae merge-priors`` joins the runs)."""

    vae: str = "runs/vae"
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr_final=1e-7))
    log_normalizer_samples: int = 1_000_000
    groups: list[int] = field(default_factory=list)  # hierarchical: groups to train ([]: all)
    checkpoint_every: int = 1000  # steps between checkpoints (0: only at the end)
    device: str = "auto"

    def __post_init__(self) -> None:
        require(self.checkpoint_every >= 0, "checkpoint_every must be >= 0 (0: only at the end)")
        require(self.log_normalizer_samples >= 1, "log_normalizer_samples must be at least 1")
        require(all(k >= 0 for k in self.groups), "groups must be group indices >= 0")


@dataclass
class SamplerSettings:
    """The samplers' settings, shared by ``ncpvae sample`` and ``ncpvae evaluate``."""

    sir_proposals: int = 500
    langevin_steps: int = 500
    langevin_step_size: float = 1e-3
    hmc_steps: int = 100
    hmc_warmup: int = 100  # iterations adapting the step size, before the hmc_steps
    hmc_leapfrog_steps: int = 10
    hmc_target_acceptance: float = 0.8

    def __post_init__(self) -> None:
        require(self.sir_proposals >= 1, "sir_proposals must be at least 1")
        require(self.langevin_steps >= 0, "langevin_steps must be >= 0")
        require(self.langevin_step_size > 0, "langevin_step_size must be positive")
        require(self.hmc_steps >= 1, "hmc_steps must be at least 1")
        require(self.hmc_warmup >= 0, "hmc_warmup must be >= 0")
        require(self.hmc_leapfrog_steps >= 1, "hmc_leapfrog_steps must be at least 1")
        require(0 < self.hmc_target_acceptance < 1, "hmc_target_acceptance must be in (0, 1)")


@dataclass
class SampleConfig(SamplerSettings):
    """``ncpvae sample``: draw from the prior in the run folder ``prior``.
    ``sampler``: ``base`` (the VAE's own prior), ``sir``, ``langevin`` or ``hmc``."""

    prior: str = "runs/prior"
    sampler: str = "sir"
    num_samples: int = 5_000
    temperature: float = 1.0
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.num_samples >= 1, "num_samples must be at least 1")
        require(self.temperature > 0, f"temperature must be positive, got {self.temperature}")


@dataclass
class EvaluateConfig(SamplerSettings):
    """``ncpvae evaluate``: one report (``report.json``, ``report.md``, plots) on the prior in the
    run folder ``prior``: test log-likelihood under both priors (models with a density), log Z,
    SIR ESS (per group), MMD^2 of aggregate-posterior latents to each prior's samples (per
    group), and, with ``fid_samples`` > 0, FID for each of ``samplers`` at each of
    ``temperatures`` against ``fid_samples`` training images (image data only).

    For a hierarchical VAE, every importance sample's Z_k(z_<k) is estimated from
    ``group_normalizer_samples`` draws, and the reported per-group log Z is the mean over
    ``group_normalizer_contexts`` test contexts of estimates from ``log_normalizer_samples`` /
    ``group_normalizer_contexts`` draws each."""

    prior: str = "runs/prior"
    num_test: int = 0  # 0: the whole test set
    importance_samples: int = 1000
    log_normalizer_samples: int = 1_000_000
    sir_samples: int = 2_000
    group_normalizer_samples: int = 100  # hierarchical: draws behind each Z_k(z_<k) in the NLL
    group_normalizer_contexts: int = 256  # hierarchical: test contexts of the per-group log Z
    fid_samples: int = 0  # 0: no FID; else generated and reference images per score
    samplers: list[str] = field(default_factory=lambda: ["base", "sir"])  # for FID
    temperatures: list[float] = field(default_factory=lambda: [1.0])  # for FID
    fid_weights: str = DEFAULT_INCEPTION_PATH  # the TF-FID Inception TorchScript file
    fid_cache: str = "~/.cache/ncpvae/fid"  # reference statistics, per data set
    fid_batch_size: int = 50
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.num_test >= 0, "num_test must be >= 0 (0: the whole test set)")
        for name in (
            "importance_samples",
            "log_normalizer_samples",
            "sir_samples",
            "group_normalizer_samples",
            "group_normalizer_contexts",
            "fid_batch_size",
        ):
            require(getattr(self, name) >= 1, f"{name} must be at least 1")
        require(self.fid_samples == 0 or self.fid_samples >= 2, "fid_samples must be 0 or >= 2")
        require(all(t > 0 for t in self.temperatures), "temperatures must be positive")
        require(
            self.fid_samples == 0 or (self.samplers and self.temperatures),
            "FID needs at least one of samplers and one of temperatures",
        )


@dataclass
class MergeConfig:
    """``ncpvae merge-priors``: join train-prior runs of one hierarchical VAE that trained
    disjoint ``groups`` into one prior."""

    priors: list[str] = field(default_factory=list)
    device: str = "cpu"


def _demo_vae() -> VAERunConfig:
    # A long KL warm-up (90 % of the steps) leaves the aggregate posterior with clear holes
    # between the 25 modes: the case NCP is for (README, "25 Gaussians").
    return VAERunConfig(
        data=DataConfig(num_test=2_000),
        train=TrainConfig(steps=10_000, batch_size=512),
        kl_warmup_fraction=0.9,
    )


def _demo_sample() -> SampleConfig:
    # the NCP target is sharp: SIR needs the paper's M = 5000, Langevin small steps
    return SampleConfig(
        num_samples=2_000, sir_proposals=5_000, langevin_steps=1_000, langevin_step_size=1e-4
    )


@dataclass
class DemoConfig:
    """``ncpvae demo``: the 25-Gaussians benchmark end to end (DESIGN.md section 3)."""

    vae: VAERunConfig = field(default_factory=_demo_vae)
    prior: PriorRunConfig = field(
        default_factory=lambda: PriorRunConfig(
            # a plain residual MLP: batch norm and squeeze-and-excitation (the paper's image
            # classifier) are not needed for a 2-D latent
            classifier=ClassifierConfig(hidden_dim=128, batch_norm=False, squeeze_excitation=False),
            train=TrainConfig(steps=10_000, lr_final=1e-7),
        )
    )
    sample: SampleConfig = field(default_factory=_demo_sample)
    evaluate: EvaluateConfig = field(
        default_factory=lambda: EvaluateConfig(
            log_normalizer_samples=4_000_000, sir_proposals=5_000, sir_samples=1_000
        )
    )


# ------------------------------------------------------------------------------------ I/O


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def leaf_fields(cls: type, prefix: str = "") -> dict[str, type]:
    """Dotted path -> type of every non-dataclass field of config class ``cls``."""
    out: dict[str, type] = {}
    for f in dataclasses.fields(cls):
        kind = _hints(cls)[f.name]
        if dataclasses.is_dataclass(kind):
            out.update(leaf_fields(kind, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = kind
    return out


def to_dict(config: Any) -> dict[str, Any]:
    """A config as nested plain dicts (JSON-ready)."""
    return dataclasses.asdict(config)


def _coerce(value: Any, kind: Any, key: str) -> Any:
    """Check ``value`` read from JSON against the annotated ``kind`` (int, float, str, bool,
    or X | None)."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        kind = next(a for a in args if a is not type(None))
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        if not isinstance(value, list):
            raise ConfigError(f"config key {key!r} must be a list, got {value!r}")
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (int, float, str, bool) and (
        not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    ):
        raise ConfigError(f"config key {key!r} must be {kind.__name__}, got {value!r}")
    return _check_range(value, key)


def _check_range(value: Any, key: str) -> Any:
    """Every float setting is finite and every int fits in 64 bits (seeds, counts)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**62:
        raise ConfigError(f"{key} is out of range: {value}")
    return value


def from_dict(cls: type[C], data: dict[str, Any], prefix: str = "") -> C:
    """Build config class ``cls`` from a (possibly partial) dict; missing keys keep defaults."""
    if not isinstance(data, dict):
        raise ConfigError(f"config section {prefix or '<top>'!r} must be a JSON object")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix + unknown[0]!r}; known keys: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for name, value in data.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            kwargs[name] = from_dict(kind, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, kind, prefix + name)
    return cls(**kwargs)


def load_config(cls: type[C], path: str | Path) -> C:
    """Read a JSON config file strictly (see :func:`from_dict`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found; pass an existing JSON file")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {str(path)!r} is not valid JSON ({err})") from None
    return from_dict(cls, data)


def save_config(config: Any, path: str | Path) -> None:
    """Write ``config`` as JSON, atomically."""
    write_json(Path(path), to_dict(config))


def parse_value(text: str, kind: Any, key: str) -> Any:
    """Parse a command-line string into the annotated type of ``key``."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null"):
            return None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if typing.get_origin(kind) is list:  # comma-separated: --model.data_shape 1,28,28
        (item,) = typing.get_args(kind)
        parts = [p for p in text.replace(" ", "").split(",") if p]
        return [parse_value(p, item, key) for p in parts]
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        value = kind(text)
    except ValueError:
        raise ConfigError(f"--{key} expects {kind.__name__}, got {text!r}") from None
    return _check_range(value, f"--{key}")


def apply_overrides(config: C, overrides: dict[str, Any]) -> C:
    """Return ``config`` with dotted-path values replaced (values already parsed)."""
    data = to_dict(config)
    for key, value in overrides.items():
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return from_dict(type(config), data)
