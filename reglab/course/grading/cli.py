"""The command line: ``reglab grade SUBMISSIONS --lab NN`` (and ``python -m reglab.course.grading``).

::

    reglab grade submissions/ --lab 01 --out grades/ --workers 2 --timeout 60
    python -m reglab.course.grading submissions/ --lab 01          # the same, without the ``reglab`` command

:func:`add_grade_parser` follows the convention of :mod:`reglab.cli` (a subcommand sets ``handler``).
"""

import argparse
import sys
from pathlib import Path

from reglab.console import tolerate_any_terminal
from reglab.course.grading.batch import CourseFilesChanged, grade
from reglab.course.grading.execute import Limits
from reglab.course.grading.submissions import COURSE

DESCRIPTION = "Instructor grading: a folder of submitted notebooks in, a score table and feedback out."


def add_grade_parser(subparsers):
    """Add the ``grade`` subcommand to an argparse ``subparsers`` object; it sets ``handler`` to run it (the convention of :mod:`reglab.cli`).

    Example:
        >>> parser = argparse.ArgumentParser(prog="reglab")
        >>> _ = add_grade_parser(parser.add_subparsers(dest="command"))
        >>> args = parser.parse_args(["grade", "submitted/", "--lab", "1", "--workers", "2"])
        >>> args.lab, args.workers, args.timeout, args.handler.__name__
        ('01', 2, 60.0, 'run_grade')
    """
    parser = subparsers.add_parser(
        "grade", help="grade a folder of submitted notebooks of one lab",
        description="Execute each submitted notebook in a fresh kernel (a scratch copy, time and memory limits), "
                    "score it with the lab's checkers and hidden tests, write scores.csv, scores.md and "
                    "feedback/. Scores are computed in the grader from the answers; kernels are isolated as far as "
                    "the machine allows (isolation.txt says what held).")
    add_grade_arguments(parser)
    return parser


def add_grade_arguments(parser):
    """The ``grade`` options, on any argparse parser."""
    parser.add_argument("submissions", help="folder of submitted .ipynb (searched recursively), or one notebook")
    parser.add_argument("--lab", required=True, type=lambda text: f"{int(text):02d}", help="lab number, e.g. 01")
    parser.add_argument("--out", default=None, help="output folder (default: grades-labNN)")
    parser.add_argument("--workers", type=int, default=1, help="notebooks graded in parallel (default 1)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per cell and per check (default 60)")
    parser.add_argument("--notebook-timeout", type=float, default=None,
                        help="seconds for all the student's cells (default 10 × --timeout)")
    parser.add_argument("--memory", type=int, default=4096, help="memory limit of a kernel in MB (default 4096)")
    parser.add_argument("--max-output", type=float, default=10.0, help="MB of output kept per notebook (default 10)")
    parser.add_argument("--disk", type=int, default=1024, help="MB a kernel may write (default 1024)")
    parser.add_argument("--processes", type=int, default=256,
                        help="processes and threads of one kernel together (default 256)")
    parser.add_argument("--course", default=str(COURSE), help="folder holding labs/ and solutions/")
    parser.add_argument("--hidden", default=None, help="folder of hidden tests (default COURSE/instructor/hidden)")
    parser.add_argument("--partial-credit", action="store_true", help="points in proportion to the cases passed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run_grade)


def run_grade(args):
    """Run the ``grade`` subcommand from parsed arguments; returns the exit status."""
    limits = Limits(cell=args.timeout, notebook=args.notebook_timeout or 10 * args.timeout, memory=args.memory,
                    output=args.max_output, disk=args.disk, processes=args.processes)
    out = Path(args.out or f"grades-lab{args.lab}")
    try:
        reports = grade(args.submissions, lab=args.lab, out=out, workers=args.workers, limits=limits,
                        course=Path(args.course), hidden=args.hidden, partial=args.partial_credit,
                        progress=not args.quiet)
    except (ValueError, ModuleNotFoundError) as error:     # a missing [grade] extra: one line, no traceback
        print(f"reglab grade: {error}", file=sys.stderr)
        return 2
    except CourseFilesChanged as error:
        print(f"reglab grade: {error}", file=sys.stderr)
        return 3
    graded = sum(report.status == "graded" for report in reports)
    print(f"graded {graded} of {len(reports)} submissions of lab {args.lab}; wrote {out / 'scores.csv'}, "
          f"{out / 'scores.md'} and {out / 'feedback'}/")
    return 0


def main(argv=None):
    tolerate_any_terminal()
    parser = argparse.ArgumentParser(prog="python -m reglab.course.grading", description=DESCRIPTION)
    add_grade_arguments(parser)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
