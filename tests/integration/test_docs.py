"""Every code block of README.md and docs/*.md is checked.

- ```python blocks run: the blocks of one page in order, sharing one namespace, in a temporary
  working directory; each block asserts on what it computes.
- ```bash blocks: every ``ncpvae ...`` command (also ``python -m ncpvae.cli ...`` and
  ``torchrun ... -m ncpvae.cli ...``), line continuations joined, is parsed by the real CLI
  parser: the verb exists and every flag is known to it.
- ```json blocks quoted under a config's name equal that file; every ``configs/*.json``,
  example, benchmark and script a page names exists, and so does every local link.
- Blocks that are not meant to run (output, file trees, formulas) are ```text.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LANGUAGES = {"python", "bash", "json", "text"}
FENCE = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def fenced_blocks(page: Path) -> list[tuple[str, str]]:
    """(language, code) of every fenced block of ``page``, in order."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(page.read_text())]


def blocks_of(page: Path, language: str) -> list[str]:
    return [code for lang, code in fenced_blocks(page) if lang == language]


# The README's block trains both stages for real (about 40 s on one thread) and its assertions
# need that much training: it runs with the slow tests (``pytest -m slow``).
SLOW_PAGES = {ROOT / "README.md"}
PYTHON_PAGES = [
    pytest.param(p, marks=pytest.mark.slow) if p in SLOW_PAGES else p
    for p in PAGES
    if blocks_of(p, "python")
]


def test_readme_is_short_and_shows_usage_first():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 200
    first_python = text.index("```python")
    assert len(text[:first_python].splitlines()) < 40, "a usage example must be on the first screen"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_block_names_its_language(page: Path):
    for language, code in fenced_blocks(page):
        assert language in LANGUAGES, f"{_name(page)}: block with language {language!r}:\n{code}"


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_name)
def test_python_blocks_run(page: Path, tmp_path, monkeypatch):
    import torch

    blocks = blocks_of(page, "python")
    if any("pythae" in code for code in blocks):
        pytest.importorskip("pythae", reason="pythae is not installed (pip install ncpvae[pythae])")
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    namespace: dict = {"__name__": "__docs__"}
    for index, code in enumerate(blocks, start=1):
        where = f"{_name(page)}, python block {index}"
        assert re.search(r"^\s*assert\b", code, re.M), f"{where} asserts nothing"
        exec(compile(code, where, "exec"), namespace)


def shell_commands(code: str) -> list[list[str]]:
    """The commands of a bash block as argv lists: continuations joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", code)
    commands = []
    for line in joined.splitlines():
        argv = shlex.split(line, comments=True)
        if argv:
            commands.append(argv)
    return commands


def ncpvae_argv(argv: list[str]) -> list[str] | None:
    """The arguments after ``ncpvae`` (or ``-m ncpvae.cli``) in a command, None if it is not one."""
    if Path(argv[0]).name == "ncpvae":
        return argv[1:]
    for i, token in enumerate(argv[:-1]):
        if token == "-m" and argv[i + 1] == "ncpvae.cli":
            return argv[i + 2 :]
    return None


def _cli_commands() -> list[tuple[str, list[str]]]:
    found = []
    for page in PAGES:
        for code in blocks_of(page, "bash"):
            for argv in shell_commands(code):
                args = ncpvae_argv(argv)
                if args is not None:
                    found.append((_name(page), args))
    return found


CLI_COMMANDS = _cli_commands()


def test_pages_show_cli_commands():
    assert len(CLI_COMMANDS) >= 20
    assert {args[0] for _, args in CLI_COMMANDS} >= {
        "train-vae",
        "train-prior",
        "merge-priors",
        "sample",
        "evaluate",
        "demo",
    }


@pytest.mark.parametrize(
    "page,args", CLI_COMMANDS, ids=[f"{p}:{' '.join(a)[:60]}" for p, a in CLI_COMMANDS]
)
def test_cli_command_parses(page: str, args: list[str]):
    from ncpvae.cli import build_parser

    parser = build_parser()
    verbs = parser.verb_parsers  # type: ignore[attr-defined]
    assert args and args[0] in verbs, f"{page}: unknown verb in `ncpvae {' '.join(args)}`"
    try:
        namespace, unknown = parser.parse_known_args(args)
    except SystemExit as exit_:  # argparse rejected it (a flag without its value, ...)
        pytest.fail(f"{page}: `ncpvae {' '.join(args)}` does not parse (exit {exit_.code})")
    assert namespace.verb == args[0]
    assert not unknown, f"{page}: unknown flag(s) {unknown} in `ncpvae {' '.join(args)}`"
    for token in args:
        if token.startswith("configs/"):
            assert (ROOT / token).is_file(), f"{page}: {token} does not exist"


PATH_MENTION = re.compile(
    r"(?<![\w/.])((?:configs|examples|benchmarks|scripts)/[\w./-]*\.(?:json|py|sh))"
)


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_named_files_exist(page: Path):
    text = page.read_text()
    for path in set(PATH_MENTION.findall(text)):
        if Path(path).stem.isupper():  # a placeholder: configs/X.json, examples/NAME.py
            continue
        assert (ROOT / path).is_file(), f"{_name(page)} names {path}, which does not exist"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_local_links_resolve(page: Path):
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{_name(page)} links to {target}, which does not exist"


def test_quoted_config_files_are_as_they_are():
    quoted = []
    for page in PAGES:
        quoted += re.findall(
            r"`(configs/[\w.]+\.json)`:\n\n```json\n(.*?)```", page.read_text(), flags=re.S
        )
    assert quoted
    for path, text in quoted:
        assert json.loads(text) == json.loads((ROOT / path).read_text()), path


def test_the_cli_reference_page_is_generated_from_the_flags_help():
    """docs/cli-reference.md is what the parser's help text gives (regenerate it with
    ``python -m ncpvae.cli.reference > docs/cli-reference.md``), and it has a sentence for every
    flag of every verb."""
    from ncpvae.cli.reference import markdown

    page = (ROOT / "docs" / "cli-reference.md").read_text()
    assert page == markdown()
    rows = [line for line in page.splitlines() if line.startswith("| `--")]
    assert len(rows) > 100 and all(len(row.split(" | ")[1]) > 10 for row in rows)
