"""The ``reglab`` command line: ``reglab register``, ``reglab apply`` and ``reglab grade``.

=================  ==========================================================================================
file               holds
=================  ==========================================================================================
``register.py``    ``reglab register FIXED MOVING --out DIR``: check, read, register stage by stage, write
``apply.py``       ``reglab apply TRANSFORM IMAGE --reference FIXED --out FILE [--labels]``
``inputs.py``      reading files and the checks that catch a mistake before a run (4D, truncated files,
                   overlap, extents, masks on other grids, ``--device``)
``resample.py``    a saved ITK transform applied to intensities or labels (both commands use it)
``outputs.py``     outputs whole or absent: a staging folder beside ``--out``, read back, moved at the end
``errors.py``      :class:`CommandError` (bad input: exit code 2) and :class:`WriteError` (exit code 1)
=================  ==========================================================================================

Every subcommand is a function ``add_NAME_parser(subparsers)`` that adds its parser and sets ``handler``
(a function of the parsed arguments that returns an exit code); :data:`COMMANDS` lists them.

Examples::

    reglab register                                   # the demo: an embedded brain pair, results in ./reglab_output
    reglab register fixed.nii.gz moving.nii.gz --out result --moving-labels mseg.nii.gz --fixed-labels fseg.nii.gz
    reglab apply result/transform.h5 moving_t2.nii.gz --reference fixed.nii.gz --out t2_on_fixed.nii.gz
    reglab register --help

Lab 05 ("Classical registration") shows the same steps in Python (:mod:`reglab.registration`).
"""

import argparse
import sys

from reglab.cli.apply import add_apply_parser
from reglab.cli.errors import CommandError, WriteError
from reglab.cli.register import OUTPUTS, add_register_parser
from reglab.console import tolerate_any_terminal
from reglab.course.grading import add_grade_parser

COMMANDS = {"register": add_register_parser, "apply": add_apply_parser, "grade": add_grade_parser}
"""Subcommand name → the function that adds its parser."""

INTERRUPTED = 130
"""The exit code after Ctrl-C (128 + SIGINT), as shells report it."""


def build_parser():
    """The ``reglab`` parser with every subcommand of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(prog="reglab", description="reglab: medical image registration, taught.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS.values():
        add(subparsers)
    return parser


def main(argv=None):
    """Entry point of the ``reglab`` console script; returns the exit code.

    0 success, 1 the outputs could not be written, 2 bad input (one line on stderr, no traceback),
    130 interrupted (Ctrl-C): for ``register`` and ``apply`` nothing was written then.
    """
    tolerate_any_terminal()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except CommandError as error:
        print(f"reglab {args.command}: error: {error}", file=sys.stderr)
        return 2
    except WriteError as error:
        print(f"reglab {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        nothing = "; nothing was written" if getattr(args, "atomic", False) else ""
        print(f"reglab {args.command}: interrupted{nothing}", file=sys.stderr)
        return INTERRUPTED


__all__ = ["COMMANDS", "INTERRUPTED", "OUTPUTS", "CommandError", "WriteError", "build_parser", "main"]
