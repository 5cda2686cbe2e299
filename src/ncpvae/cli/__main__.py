"""``python -m ncpvae.cli``: the ``ncpvae`` command."""

import sys

from ncpvae.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
