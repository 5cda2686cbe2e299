"""Benchmark results as JSON files, each stamped with the machine and torch that produced it."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import torch


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux; else what platform reports)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def write_results(path: str | Path, device: torch.device, **results: Any) -> None:
    """Write ``results`` to ``path`` as indented JSON, after ``machine`` (the CPU's model, the
    threads, the device) and ``torch``."""
    machine = f"{platform.machine()} {cpu_model()}, {torch.get_num_threads()} threads, {device}"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine, "torch": torch.__version__, **results}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"written to {path}")
