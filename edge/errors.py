"""The project's error types and the exit codes every command uses.

`EdgeError` is a user error: the CLI prints its message as one line and exits non-zero, without a
traceback. Anything else escaping a command is a bug and keeps its traceback.
"""

import os

EXIT_OK = 0
EXIT_SOME_FAILED = 1    # ran to the end, but some of the work failed: unreadable images, a failed doctor check
EXIT_USAGE = 2          # a user error (bad flag, path, bundle, missing library): one line, nothing done
EXIT_UNUSABLE = 3       # the input cannot be used: export verification failed, NaN/Inf weights, a file source that
                        # cannot be opened (a live camera that does not open is retried, not refused)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as shells report it
EXIT_TERMINATED = 143   # SIGTERM (128 + 15) in a command that cleans up on it (edge-export)


class EdgeError(Exception):
    """A problem the user can fix (bad path, bad option, unsupported file). One line, exit code 2."""

    exit_code = EXIT_USAGE


class CannotUsePath(EdgeError, OSError):
    """A file or folder the user named cannot be read, created or written: one line, exit code 2.

    Still an OSError, so code that handles a failed write (a sink, a cleanup) keeps handling it.
    """


def path_error(action, path, exc, what=""):
    """CannotUsePath for an OSError or UnicodeDecodeError met doing `action` ("write", "read") on `path`."""
    if isinstance(exc, UnicodeDecodeError):
        reason = "not UTF-8 text: byte 0x{:02x} at offset {}; save it as UTF-8".format(exc.object[exc.start],
                                                                                      exc.start)
    elif isinstance(exc, FileExistsError) and exc.filename and not os.path.isdir(exc.filename):
        reason = "{} is a file, not a folder".format(exc.filename)  # makedirs' "File exists" says too little
    else:
        reason = getattr(exc, "strerror", None) or first_line(exc)
    error = CannotUsePath("cannot {} {}{} ({})".format(action, what + " " if what else "", path, reason))
    error.errno = getattr(exc, "errno", None)  # for callers that handle some OSErrors by number
    return error


class MissingDependency(EdgeError):
    """An optional heavy library is not installed; the message names how to install it."""


class Unusable(EdgeError):
    """The input was valid but cannot be used (a file source that cannot be opened, a model that fails
    verification or holds NaN/Inf weights)."""

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
