"""The two ways a command ends early: a mistake in the user's input, or a file system that refuses to write."""


class CommandError(Exception):
    """A problem with the user's input (files, options), reported as one line without a traceback; exit code 2."""


class WriteError(Exception):
    """The outputs could not be written (no space, read-only, …); nothing was left behind; exit code 1."""
