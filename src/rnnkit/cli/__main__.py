"""``python -m rnnkit.cli``: the ``rnnkit`` command (what ``--nproc`` runs under torchrun)."""
import sys

from rnnkit.cli import main

sys.exit(main())
