"""Is the Python API as fast as it can be on a shared machine? The README's Python example and
``examples/ncp_on_my_vae.py`` timed in fresh processes alone, beside one process that keeps a
core busy (a pure-Python loop, as another job would) and beside two, each with the default
threads, with one thread (``OMP_NUM_THREADS=1``) and with all the cores
(``OMP_NUM_THREADS`` = the core count). Target: in every case the default is within 1.2x of the
faster of one thread and all the cores.

    python benchmarks/python_threads.py [--src SRC] [--label after] [--out FILE]

``--src`` is the ``src`` folder of the checkout to time (default: this one's), so that an older
commit can be timed by the same script: ``git worktree add /tmp/before COMMIT`` and
``--src /tmp/before/src --label before``. A run that passes ``--timeout`` seconds is stopped
and recorded as null. Run it on an otherwise quiet machine; it makes its own busy processes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _results import write_results

ROOT = Path(__file__).resolve().parents[1]
BUSY = "while True: pass"
TARGET = 1.2


def readme_example(folder: Path) -> Path:
    """The README's Python block, written to ``folder`` as a script."""
    block = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block is not None, "README.md has no Python block"
    script = folder / "readme_example.py"
    script.write_text(block.group(1))
    return script


def settings(cores: int) -> dict[str, str | None]:
    """Column name -> OMP_NUM_THREADS (None: unset, the default)."""
    return {"default": None, "one thread": "1", f"all {cores} cores": str(cores)}


def timed_run(script: Path, src: Path, omp: str | None, timeout: float) -> float | None:
    """Wall seconds of ``python script`` in a fresh process and a fresh working folder, with
    ``src`` first on the path; None if it passed ``timeout``. Raises if it fails."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = str(src)
    if omp is not None:
        env["OMP_NUM_THREADS"] = omp
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        try:
            subprocess.run(
                [sys.executable, str(script)],
                cwd=work,
                env=env,
                check=True,
                timeout=timeout,
                stdout=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return None
        return time.perf_counter() - start


def checked_source(src: Path) -> str:
    """The ncpvae that ``src`` on the path imports (it must be that one)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = "import ncpvae; print(ncpvae.__file__)"
    found = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(src.resolve()):
        raise SystemExit(f"PYTHONPATH={src} imports ncpvae from {found}, not from {src}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src")
    parser.add_argument("--label", default="after")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--out", default=None, help="default: results/python_threads_LABEL.json")
    args = parser.parse_args()
    checked_source(args.src)
    cores = os.cpu_count() or 1
    columns = settings(cores)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        scripts = {
            "README Python example": readme_example(Path(folder)),
            "examples/ncp_on_my_vae.py": ROOT / "examples" / "ncp_on_my_vae.py",
        }
        for busy in range(3):
            hogs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(busy)]
            try:
                time.sleep(1.0)
                for name, script in scripts.items():
                    seconds = {
                        column: timed_run(script, args.src, omp, args.timeout)
                        for column, omp in columns.items()
                    }
                    rows.append({"script": name, "busy_processes": busy, "seconds": seconds})
                    print(json.dumps(rows[-1]), flush=True)
            finally:
                for hog in hogs:
                    hog.kill()
    for row in rows:
        seconds = row["seconds"]
        finished = [s for c, s in seconds.items() if c != "default" and s is not None]
        default = seconds["default"]
        row["default_over_faster"] = (
            None if default is None or not finished else round(default / min(finished), 3)
        )
        row["meets_target"] = row["default_over_faster"] is not None and (
            row["default_over_faster"] <= TARGET
        )
    show = lambda s: f">{args.timeout:.0f}" if s is None else f"{s:.1f}"  # noqa: E731
    print(f"\n{args.label}: wall seconds ({', '.join(columns)}), default / faster")
    for row in rows:
        times = " | ".join(show(s) for s in row["seconds"].values())
        print(
            f"{row['script']:28s} busy {row['busy_processes']} | {times} | "
            f"{row['default_over_faster']}"
        )
    out = args.out or ROOT / "benchmarks" / "results" / f"python_threads_{args.label}.json"
    write_results(
        out,
        torch.device("cpu"),
        label=args.label,
        src=str(args.src),
        target=TARGET,
        timeout=args.timeout,
        rows=rows,
    )


if __name__ == "__main__":
    main()
