"""``python -m pingu.cli``: the ``pingu`` command."""

import sys

from pingu.cli import main

sys.exit(main())
