"""The ``reglab`` command line (moved into a package; split in the next commits)."""

from reglab.cli.register import COMMANDS, OUTPUTS, CommandError, build_parser, main

__all__ = ["COMMANDS", "OUTPUTS", "CommandError", "build_parser", "main"]
