"""The command-line reference page, generated from the parser (which takes every flag's help
text from its config field): ``python -m ncpvae.cli.reference > docs/cli-reference.md``. A test
checks that the committed page is what this writes."""

from __future__ import annotations

import sys

from ncpvae.cli.main import build_parser

__all__ = ["markdown"]

HEADER = """# Command-line reference

Every verb and flag with its help text and default, as `ncpvae VERB --help` prints them. This
page is generated from the same source (`python -m ncpvae.cli.reference > docs/cli-reference.md`;
`tests/integration/test_docs.py` checks that it is current). How the verbs fit together, configs
and errors: [cli.md](cli.md).
"""


def markdown() -> str:
    """The reference page: one table of flags per verb."""
    parser = build_parser()
    lines = [HEADER]
    for name, verb in parser.verb_parsers.items():
        lines += [f"## `ncpvae {name}`", "", f"{verb.description}.", ""]
        lines += ["| flag | what it does |", "|---|---|"]
        for action in verb._actions:
            if not action.option_strings or action.dest == "help":
                continue
            flags = ", ".join(f"`{flag}`" for flag in action.option_strings)
            text = " ".join((action.help or "").split()).replace("|", "\\|")
            lines.append(f"| {flags} | {text} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown())
