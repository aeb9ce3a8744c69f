"""The project's error types.

`EdgeError` is a user error: the CLI prints its message as one line and exits non-zero, without a
traceback. Anything else escaping a command is a bug and keeps its traceback.
"""


class EdgeError(Exception):
    """A problem the user can fix (bad path, bad option, unsupported file). One line, exit code 2."""

    exit_code = 2


class MissingDependency(EdgeError):
    """An optional heavy library is not installed; the message names how to install it."""
