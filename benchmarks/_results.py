"""Benchmark results as JSON files, each stamped with the machine and torch that produced it."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import torch


def write_results(path: str | Path, device: torch.device, **results: Any) -> None:
    """Write ``results`` to ``path`` as indented JSON, after ``machine`` and ``torch``."""
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, {device}"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine, "torch": torch.__version__, **results}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"written to {path}")
