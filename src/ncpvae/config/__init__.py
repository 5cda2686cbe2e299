"""Configuration: the sections of every component (plain dataclasses, validated by pydantic when
they are built, importing no runtime code), the run config of every CLI verb composed of them,
and their JSON and flag forms (:mod:`ncpvae.config.io`).

Every leaf field of a run config becomes a command-line flag named by its dotted path
(``--train.steps 5000``, ``--model.hidden_dim 128``); ``--config FILE`` loads a JSON file first
and flags override it. Every field declares its default, help text and bounds once
(:func:`~ncpvae.settings.setting`).
"""

from ncpvae.config.classifier import ClassifierConfig
from ncpvae.config.data import (
    CIFAR10Config,
    DataConfig,
    FileDataConfig,
    Gaussians25Config,
    ImageFolderConfig,
    MNISTConfig,
    saved_data_section,
)
from ncpvae.config.evaluation import DEFAULT_INCEPTION_PATH, EvaluationSettings
from ncpvae.config.io import (
    apply_overrides,
    default_value,
    field_help,
    from_dict,
    leaf_fields,
    load_config,
    named_configs,
    parse_value,
    renamed_key_message,
    resolve_config,
    save_config,
    to_dict,
)
from ncpvae.config.model import (
    LIKELIHOOD_NAMES,
    BaseModelConfig,
    HierarchicalVAEConfig,
    ModelConfig,
    RAEConfig,
    VAEConfig,
)
from ncpvae.config.runs import (
    DemoConfig,
    EvaluateConfig,
    MergeConfig,
    MergeEvaluationsConfig,
    PriorRunConfig,
    SampleConfig,
    VAERunConfig,
)
from ncpvae.config.sampling import RENAMED_KEYS, HMCConfig, LangevinConfig, SIRConfig
from ncpvae.config.train import TrainConfig

__all__ = [
    "TrainConfig",
    "ClassifierConfig",
    "DataConfig",
    "Gaussians25Config",
    "FileDataConfig",
    "MNISTConfig",
    "CIFAR10Config",
    "ImageFolderConfig",
    "saved_data_section",
    "BaseModelConfig",
    "VAEConfig",
    "RAEConfig",
    "HierarchicalVAEConfig",
    "ModelConfig",
    "LIKELIHOOD_NAMES",
    "SIRConfig",
    "RENAMED_KEYS",
    "LangevinConfig",
    "HMCConfig",
    "EvaluationSettings",
    "DEFAULT_INCEPTION_PATH",
    "VAERunConfig",
    "PriorRunConfig",
    "SampleConfig",
    "EvaluateConfig",
    "DemoConfig",
    "MergeConfig",
    "MergeEvaluationsConfig",
    "leaf_fields",
    "default_value",
    "field_help",
    "to_dict",
    "from_dict",
    "load_config",
    "named_configs",
    "resolve_config",
    "save_config",
    "parse_value",
    "renamed_key_message",
    "apply_overrides",
]
