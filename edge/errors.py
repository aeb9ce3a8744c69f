"""The project's error types and the exit codes every command uses.

`EdgeError` is a user error: the CLI prints its message as one line and exits non-zero, without a
traceback. Anything else escaping a command is a bug and keeps its traceback.
"""

EXIT_OK = 0
EXIT_SOME_FAILED = 1    # ran to the end, but some of the work failed: unreadable images, a failed doctor check
EXIT_USAGE = 2          # a user error (bad flag, path, bundle, missing library): one line, nothing done
EXIT_UNUSABLE = 3       # the input cannot be used: export verification failed, a camera source that never works
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it


class EdgeError(Exception):
    """A problem the user can fix (bad path, bad option, unsupported file). One line, exit code 2."""

    exit_code = EXIT_USAGE


class MissingDependency(EdgeError):
    """An optional heavy library is not installed; the message names how to install it."""


class Unusable(EdgeError):
    """The input was valid but cannot be used (a source that never delivers, a model that fails verification)."""

    exit_code = EXIT_UNUSABLE


def first_line(exc, limit=200, empty=None):
    """The first line of an exception's message, for a one-line error; cut to `limit` characters.

    Library errors often span many lines (a stack of causes, a dump of the graph): the first says
    what went wrong. An empty message gives `empty`, by default the exception's type name.
    `limit=None` keeps the whole line.
    """
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else ""
    if not text:
        return type(exc).__name__ if empty is None else empty
    return text if limit is None else text[:limit]
