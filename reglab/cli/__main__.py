"""``python -m reglab.cli``: the same as the ``reglab`` console script."""

import sys

from reglab.cli import main

sys.exit(main())
