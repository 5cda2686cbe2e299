"""The README's Python examples run as written, and its CLI table names real flags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = (Path(__file__).parent.parent / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_readme_python_example_runs(index: int):
    if "pythae" in PYTHON_BLOCKS[index]:
        pytest.importorskip("pythae", reason="pythae is not installed (pip install ncpvae[pythae])")
    exec(compile(PYTHON_BLOCKS[index], f"README.md block {index}", "exec"), {})


def test_readme_cli_examples_use_real_flags():
    from ncpvae.cli import build_parser

    parser = build_parser()
    shell = "\n".join(re.findall(r"```bash\n(.*?)```", README, flags=re.S))
    commands = re.findall(r"^ncpvae (\S+)(.*?)(?:#.*)?$", shell, flags=re.M)
    assert len(commands) >= 5
    for verb, rest in commands:
        parser.parse_args([verb, *rest.split()])  # exits (fails the test) on an unknown flag


def test_readme_config_files_are_quoted_as_they_are():
    import json

    quoted = re.findall(r"`(configs/[\w.]+\.json)`:\n\n```json\n(.*?)```", README, flags=re.S)
    assert quoted
    root = Path(__file__).parent.parent
    for path, text in quoted:
        assert json.loads(text) == json.loads((root / path).read_text()), path
