"""``python -m reglab.course.grading SUBMISSIONS --lab NN``: see :mod:`reglab.course.grading.cli`."""

import sys

from reglab.course.grading.cli import main

sys.exit(main())
