"""The example scripts run as documented, on small settings, and show what they claim."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

EXAMPLES = Path(__file__).parent.parent / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ncp_on_my_own_vae_closes_the_prior_hole():
    result = load("ncp_on_my_vae").main(["--steps", "1500"])
    # the hand-written VAE's base prior leaves holes between the 25 modes; NCP fills them
    assert result["ncp_log_likelihood"] > result["vae_log_likelihood"] + 1.0
    assert abs(result["log_z"]) < 0.3 and math.isfinite(result["log_z"])
    assert 1 <= result["sir_ess"] <= 200 and 0.5 <= result["hmc_acceptance"] <= 1
