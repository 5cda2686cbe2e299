"""``python -m ncpvae.cli``: the ``ncpvae`` command."""

import sys

from ncpvae.cli.main import main

sys.exit(main())
