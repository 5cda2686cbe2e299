"""Run folders: what a training stage leaves on disk, and the one way to read it back.

    train-vae   -> config.json, model.safetensors, history.json, checkpoint.pt
    train-prior -> config.json, prior.safetensors (classifiers + log Z), history.json, checkpoint.pt

``config.json`` is written last, after the weights, so it marks a finished run: an interrupted
run never leaves a folder whose config and weights disagree. A prior's folder names the VAE
folder it was fitted on, relative to itself, so that the pair can be moved, copied or renamed
together; moved apart, the VAE's new place is passed (``--vae``, ``vae=``); the SHA-256 of its
weights is checked either way. :func:`save_vae`/:func:`load_vae` and :func:`save_prior`/
:func:`load_prior` are the functions the CLI uses too:

    ncpvae.save_vae(model, "runs/vae")
    ncpvae.save_prior(prior, "runs/prior", vae="runs/vae")
    prior = ncpvae.load_prior("runs/prior")    # with its frozen VAE as prior.model
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from ncpvae.config import (
    PriorRunConfig,
    VAERunConfig,
    from_dict,
    save_config,
    saved_data_section,
    to_dict,
)
from ncpvae.data import TensorData
from ncpvae.errors import CheckpointError, ConfigError, DataError
from ncpvae.files import read_json
from ncpvae.models import LatentVariableModel, ModelConfig, build_model
from ncpvae.prior import Prior, build_prior
from ncpvae.tensor_files import (
    file_sha256,
    load_weights,
    make_run_dir,
    save_weights,
    weights_metadata,
)
from ncpvae.training import Checkpointing, distributed, freeze

__all__ = [
    "CONFIG",
    "VAE_WEIGHTS",
    "PRIOR_WEIGHTS",
    "resolve_device",
    "load_run",
    "vae_run_of",
    "vae_folder_of",
    "save_vae",
    "load_vae",
    "save_prior",
    "load_prior",
    "fit_model_to_data",
    "claim_run_dir",
    "checkpointing_for",
]

CONFIG = "config.json"
VAE_WEIGHTS = "model.safetensors"
PRIOR_WEIGHTS = "prior.safetensors"
CHECKPOINT = "checkpoint.pt"
VAE_IDENTITY = "vae_sha256"  # prior.safetensors' record of the VAE weights it was fitted on
VAE_PLACE = "vae_folder"  # and of the VAE's run folder, relative to the prior's
RUN_KINDS = {"vae": VAERunConfig, "prior": PriorRunConfig}
VERB_OF_KIND = {"vae": "train-vae", "prior": "train-prior"}


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda when present, else cpu; otherwise the named device."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda was asked for but no GPU is visible; use --device auto")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"no {device}: {torch.cuda.device_count()} GPU(s) are visible")
    return device


def _read_config(folder: Path, expect: str | None = None) -> dict[str, Any]:
    verb = VERB_OF_KIND.get(expect or "", "train-vae or train-prior")
    missing = (
        f"{str(folder)!r} is not a {verb} run folder (no {CONFIG}); run ncpvae {verb} to make one"
    )
    return read_json(folder / CONFIG, missing)


def _kind(data: dict[str, Any]) -> str:
    """``vae`` or ``prior``: the kind of run a config.json's contents describe."""
    return "prior" if "classifier" in data else "vae"


def load_run(folder: str | Path, expect: str | None = None) -> Any:
    """The run config of a finished run folder (:class:`VAERunConfig` or
    :class:`PriorRunConfig`); with ``expect``, refuses a folder of another kind in one line."""
    folder = Path(folder)
    data = _read_config(folder, expect)
    kind = _kind(data)
    if expect is not None and kind != expect:
        raise CheckpointError(
            f"{str(folder)!r} is a {VERB_OF_KIND[kind]} run; this needs a {VERB_OF_KIND[expect]} "
            "run folder"
        )
    if "data" in data:  # read by its source's section, also as written before it had one
        data = {**data, "data": saved_data_section(data["data"], str(folder / CONFIG))}
    return from_dict(RUN_KINDS[kind], data)


def vae_folder_of(prior_folder: str | Path, vae: str | Path | None = None) -> Path:
    """The run folder of the VAE that the prior in ``prior_folder`` was fitted on: ``vae`` if
    given (the two were moved apart), else the first that holds a VAE run of: the place
    ``prior.safetensors`` records relative to the prior's folder (so the pair can be moved or
    copied together), the absolute path its ``config.json`` records, and the folder of that
    name beside the prior's (a prior written before the relative place was recorded, moved with
    its VAE). A VAE found nowhere is a one-line error that names ``--vae``."""
    folder = Path(prior_folder)
    if vae is not None and str(vae):
        return Path(vae)
    recorded = Path(load_run(folder, expect="prior").vae)
    relative = weights_metadata(folder / PRIOR_WEIGHTS).get(VAE_PLACE)
    places = [folder / relative] if relative else []
    places += [folder / recorded, folder.parent / recorded.name]
    for place in places:
        if (place / CONFIG).is_file():
            return Path(os.path.normpath(place))
    raise CheckpointError(
        f"the VAE of the prior in {str(folder)!r} is not at {os.path.normpath(places[0])!r} "
        "(nor where its config.json names it); pass its train-vae run folder with --vae (vae= "
        "in Python)"
    )


def vae_run_of(prior_folder: str | Path, vae: str | Path | None = None) -> VAERunConfig:
    """The run config of the VAE that the train-prior run in ``prior_folder`` was fitted on (its
    data config tells where the data are); ``vae`` as in :func:`vae_folder_of`."""
    return load_run(vae_folder_of(prior_folder, vae), expect="vae")


def save_vae(model: LatentVariableModel, folder: str | Path, config: Any = None) -> Path:
    """Write ``model`` (built by :func:`~ncpvae.models.build_model`) to ``folder``: its weights,
    then ``config.json`` (``config``: the run config, default one holding the model's config)."""
    folder = make_run_dir(folder)
    config = config or VAERunConfig(model=model.config)
    save_weights(model, folder / VAE_WEIGHTS)
    save_config(config, folder / CONFIG)
    return folder


def load_vae(folder: str | Path, device: str | torch.device = "cpu") -> LatentVariableModel:
    """The frozen VAE of a ``train-vae`` run folder (its run config: :func:`load_run`)."""
    cfg = load_run(folder, expect="vae")
    model = build_model(cfg.model)
    load_weights(model, Path(folder) / VAE_WEIGHTS)
    return freeze(model.to(resolve_device(device)))


def save_prior(
    prior: Prior, folder: str | Path, *, vae: str | Path, config: PriorRunConfig | None = None
) -> Path:
    """Write ``prior`` (built by :func:`~ncpvae.prior.build_prior` on the VAE saved in the run
    folder ``vae``) to ``folder``: its classifiers, trained groups and log Z, then
    ``config.json``, which names the VAE folder (as an absolute path); the weights' metadata
    record the VAE's weights (SHA-256) and its folder relative to ``folder`` (``../vae``)."""
    if config is None and prior.classifier_config is None:
        raise ConfigError("save_prior needs a prior built by build_prior (or pass its config)")
    config = config or PriorRunConfig(vae="", classifier=prior.classifier_config)
    if getattr(prior, "latent_noise", 0.0) != config.classifier.latent_noise:
        raise ConfigError(
            f"the prior's latent_noise {prior.latent_noise} is not its config's "
            f"{config.classifier.latent_noise}: pass the config it was trained with"
        )
    vae_weights = Path(vae) / VAE_WEIGHTS
    if not vae_weights.is_file():
        raise CheckpointError(f"{str(vae)!r} holds no VAE weights: save the VAE first")
    folder = make_run_dir(folder)
    config = dataclasses.replace(config, vae=str(Path(vae).resolve()))
    relative = Path(os.path.relpath(config.vae, folder.resolve())).as_posix()
    identity = {VAE_IDENTITY: file_sha256(vae_weights), VAE_PLACE: relative}
    save_weights(prior, folder / PRIOR_WEIGHTS, identity)
    save_config(config, folder / CONFIG)
    return folder


def load_prior(
    folder: str | Path, device: str | torch.device = "cpu", vae: str | Path | None = None
) -> Prior:
    """The fitted prior of a ``train-prior`` run folder (or :func:`save_prior`), with the frozen
    VAE it was fitted on as ``prior.model``: the VAE folder its config records, or ``vae``
    where the two were moved apart (:func:`vae_folder_of`)."""
    cfg = load_run(folder, expect="prior")
    vae_folder = vae_folder_of(folder, vae)
    model = load_vae(vae_folder, device)
    fitted_on = weights_metadata(Path(folder) / PRIOR_WEIGHTS).get(VAE_IDENTITY)
    if fitted_on is not None and fitted_on != file_sha256(vae_folder / VAE_WEIGHTS):
        raise CheckpointError(
            f"the prior in {str(folder)!r} was fitted on other VAE weights than those now in "
            f"{str(vae_folder)!r} (another VAE, or the VAE was trained again since); pass the "
            "VAE it was fitted on with --vae, or run train-prior on this one again"
        )
    prior = build_prior(model, cfg.classifier)
    load_weights(prior, Path(folder) / PRIOR_WEIGHTS, model.device)
    return prior.eval().requires_grad_(False)


def claim_run_dir(folder: str | Path, overwrite: bool = False, resume: bool = False) -> Path:
    """The output folder of a verb, created; refuses one that holds a finished run (its
    ``config.json``) unless ``overwrite`` (or ``resume``, which continues a run in place)."""
    folder = make_run_dir(folder)
    if (folder / CONFIG).is_file() and not (overwrite or resume):
        raise CheckpointError(
            f"{str(folder)!r} holds a finished run; pass --overwrite to replace it, or choose "
            "another --out"
        )
    return folder


def fit_model_to_data(data: TensorData, cfg: ModelConfig) -> ModelConfig:
    """``cfg`` with ``data_shape`` taken from the data if empty; refuses data that do not fit."""
    shape = list(data.shape)
    if not cfg.data_shape:
        cfg = dataclasses.replace(cfg, data_shape=shape)
    if cfg.data_shape != shape:
        raise DataError(
            f"the data have examples of shape {shape} but model.data_shape is {cfg.data_shape}; "
            f"set --model.data_shape {','.join(map(str, shape))} (or leave it empty)"
        )
    if cfg.likelihood == "bernoulli" and not data.binarize:
        values = data.batch(slice(0, 10_000))
        if not ((values == 0) | (values == 1)).all():
            raise DataError(
                "model.likelihood bernoulli needs binary data: set --data.binarize true "
                "(dynamic binarization) or choose another likelihood"
            )
    return cfg


def checkpointing_for(cfg: VAERunConfig | PriorRunConfig, out: Path, resume: bool) -> Checkpointing:
    """The checkpoint of a training run in ``out``: refuses to start over an unfinished run's
    checkpoint (one without the ``config.json`` a finished run writes last) unless resuming.
    A checkpoint belongs to the run config, less the settings that may change on resumption."""
    path = out / CHECKPOINT
    if resume and (out / CONFIG).is_file():
        raise CheckpointError(
            f"{str(out)!r} holds a finished run, so there is nothing to resume; pass --overwrite "
            "to train it again, or choose another --out"
        )
    if resume and not path.is_file() and distributed.is_main():
        message = f"--resume: {str(out)!r} holds no checkpoint, so the run starts from step 0"
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    if path.is_file() and not (out / CONFIG).is_file() and not resume:
        raise CheckpointError(
            f"{str(out)!r} holds the checkpoint of an unfinished run; pass --resume to continue "
            "that run, or choose another --out"
        )
    if not resume and distributed.is_main():
        # a new run over a finished one: drop its marker and checkpoint first, so that a crash
        # leaves an unfinished folder, never new weights beside the old config
        for stale in (CONFIG, CHECKPOINT):
            (out / stale).unlink(missing_ok=True)
    identity = to_dict(cfg)
    # what may change between a run and its resumption: where it runs, how often it saves,
    # whether the checkpoint is kept, whether NaN steps are skipped, and stage 2's log Z
    # sample count (used after training)
    keys = ("device", "checkpoint_every", "checkpoint_minutes", "keep_checkpoint")
    for key in (*keys, "log_normalizer_samples"):
        identity.pop(key, None)
    identity["train"].pop("skip_nonfinite", None)
    if identity.get("data", {}).get("path"):
        identity["data"]["path"] = str(Path(identity["data"]["path"]).resolve())
    return Checkpointing(
        path,
        cfg.checkpoint_every,
        resume,
        60 * cfg.checkpoint_minutes,
        identity=identity,
        saved_identity=lambda saved: _saved_identity(saved, path),
    )


def _saved_identity(saved: Any, path: Path) -> Any:
    """A checkpoint's identity with its data section read as :func:`load_run` reads a run
    folder's (a checkpoint written before the data sources had their own sections holds them
    all)."""
    if isinstance(saved, dict) and isinstance(saved.get("data"), dict):
        return {**saved, "data": saved_data_section(saved["data"], str(path))}
    return saved
