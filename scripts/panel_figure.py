"""Lay sample grids (PNG files) side by side with titles: one figure for the README.

python scripts/panel_figure.py OUT.png "title=path/to/samples.png" ["title=..." ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

from ncpvae.evaluation.plotting import panel_figure


def main(argv: list[str]) -> None:
    if len(argv) < 2 or any("=" not in a for a in argv[1:]):
        sys.exit(__doc__)
    panels = {}
    for arg in argv[1:]:
        title, path = arg.rsplit("=", 1)
        if not Path(path).is_file():
            sys.exit(f"panel_figure: {path!r} not found")
        panels[title] = Path(path)
    panel_figure(panels, Path(argv[0]))
    print(f"written {argv[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
