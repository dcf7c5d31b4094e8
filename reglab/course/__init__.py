"""The course on top of the library: the labs, their checkers, grading (for instructors and students' notebooks).

* :mod:`reglab.course.build` - solution notebooks → student notebooks: strip solutions, build/check labs/, execute
  (instructors: ``python -m reglab.course build|check|execute``); :data:`REPOSITORY`, the course's GitHub home
  that every Colab badge and setup cell points at, named there and nowhere else
* :mod:`reglab.course.markers` - what build strips: the solution regions (``### BEGIN SOLUTION``) and nbval's markers
* :mod:`reglab.course.checks` - the exercise checkers, one module per lab (students' notebooks:
  ``from reglab.course.checks import lab01``)
* :mod:`reglab.course.grading` - grading a folder of submitted notebooks (instructors: ``reglab grade``)

Nothing in the library imports this package; :mod:`reglab.cli` does (``reglab grade``). ``checks`` and
``grading`` are imported on first use.
"""

from reglab.course.build import (BRANCH, KERNELSPEC, REPOSITORY, SETUP_CELL, build, colab_badge, colab_url,
                                 course_frame, execute, set_repository, setup_cell, student_notebook)
from reglab.course.markers import BEGIN, END, STUB, solution_regions, strip_solutions

__all__ = ["BEGIN", "BRANCH", "END", "KERNELSPEC", "REPOSITORY", "SETUP_CELL", "STUB", "build", "colab_badge",
           "colab_url", "course_frame", "execute", "set_repository", "setup_cell", "solution_regions",
           "strip_solutions", "student_notebook"]
