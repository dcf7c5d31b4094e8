"""The old path of instructor grading, kept so that ``from reglab.grading import grade`` and
``python -m reglab.grading SUBMISSIONS --lab NN`` go on working; the code is in :mod:`reglab.course.grading`.
"""

import sys

from reglab.course import grading as _grading
from reglab.course.grading import *  # noqa: F401,F403  (the same names, the same objects)
from reglab.course.grading import main

__all__ = list(_grading.__all__)

if __name__ == "__main__":
    sys.exit(main())
