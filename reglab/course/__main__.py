"""``python -m reglab.course build|check|execute …``: see :mod:`reglab.course.build`."""

import sys

from reglab.course.build import main

sys.exit(main())
