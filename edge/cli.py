"""The command-line convention shared by every edge-* command.

Each command has `main(argv=None) -> int`; `run_main` turns project errors into one line on
stderr with an exit code from edge.errors, and Ctrl-C into EXIT_INTERRUPTED, without tracebacks.
A command that cleans up on Ctrl-C (edge-export: its staging folder) asks `run_main(...,
sigterm=True)`: SIGTERM then raises `Terminated` (a KeyboardInterrupt, so every cleanup path for
Ctrl-C runs) and the command exits EXIT_TERMINATED (143, as a shell reports a SIGTERM) with one line.

Streams: results (tables, summaries, `--json -`) go to stdout; progress, warnings and errors go
to stderr, each line prefixed with the command's name (`progress_log`), so that
`edge-bench bundle/ --json - > result.json` captures the result alone.

`--json PATH` means the same in every command that has it: write the machine-readable result to
PATH; `--json -` writes it to stdout instead of the human-readable result.
"""

import argparse
import contextlib
import json
import signal
import sys
import threading

from edge.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, EdgeError

JSON_TO_STDOUT = "-"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread of a command run with `run_main(..., sigterm=True)`."""


def _interrupted_code(exc):
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def run_main(prog, body, argv=None, sigterm=False):
    """Call `body(argv)` and convert user errors into a one-line message and an exit code.

    sigterm: SIGTERM is handled as Ctrl-C is (cleanup runs), and exits 143 (see the module docstring).
    """
    try:
        with (sigterm_raises() if sigterm else _nothing()):
            code = body(argv)
        return EXIT_OK if code is None else int(code)
    except EdgeError as exc:
        # An error raised while handling Ctrl-C (a trainer saving its resumable state, say) is still
        # an interruption: the shell and systemd must see 130, and the message says how to go on.
        if isinstance(exc.__context__, KeyboardInterrupt):
            sys.stderr.write("{}: {}\n".format(prog, exc))
            return _interrupted_code(exc.__context__)
        sys.stderr.write("{}: error: {}\n".format(prog, exc))
        return exc.exit_code
    except KeyboardInterrupt as exc:
        sys.stderr.write("{}: {}\n".format(prog, "terminated" if isinstance(exc, Terminated) else "interrupted"))
        return _interrupted_code(exc)


@contextlib.contextmanager
def _nothing():
    yield


@contextlib.contextmanager
def sigterm_raises():
    """While inside: SIGTERM raises Terminated in the main thread, once (a second one, during the cleanup
    the first one started, is ignored: systemd's SIGKILL after its timeout still ends a stuck cleanup).
    Elsewhere than in the main thread (where no handler can be set) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def progress_log(prog):
    """A `log(text)` for progress lines: "prog: text" on stderr, flushed (stdout holds the results)."""
    def log(text):
        sys.stderr.write("{}: {}\n".format(prog, text))
        sys.stderr.flush()
    return log


def add_json_argument(parser, what):
    parser.add_argument("--json", metavar="PATH",
                        help="write {} as JSON to PATH; '-' writes it to stdout instead of the table".format(what))


def json_to_stdout(args):
    """True when `--json -` asked for the JSON document as the only thing on stdout."""
    return args.json == JSON_TO_STDOUT


def write_json_result(path, document):
    """`--json PATH`: the document to PATH (atomically), saying so on stdout after the table; or, for
    '-', to stdout alone (no table was printed)."""
    if path == JSON_TO_STDOUT:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        sys.stdout.flush()
        return
    from edge.util.atomic import write_json
    write_json(path, document)
    print("wrote {}".format(path))


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse prints the whole usage block before a bad flag's message; we print one line.

    The error becomes an EdgeError, so run_main reports it like every other user error.
    """

    def error(self, message):
        raise EdgeError("{} (see {} --help)".format(message, self.prog))


def refuse_given(parser, args, dests, why):
    """A usage error "--a --b <why>" when any flag of `dests` was given (differs from its default).

    For flags that do not apply to what a command is asked to do: refused, never silently ignored.
    """
    given = ["--" + dest.replace("_", "-") for dest in dests if getattr(args, dest) != parser.get_default(dest)]
    if given:
        raise EdgeError("{} {} (see {} --help)".format(" ".join(given), why, parser.prog))


def comma_list(choices):
    """An argparse type: "a,b" -> ["a", "b"], each one of `choices`; argparse names it in errors."""
    def parse(text):
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items or any(item not in choices for item in items):
            raise ValueError(text)
        return items
    parse.__name__ = "list of " + "/".join(choices)
    return parse


def make_parser(prog, doc, epilog=None):
    """An ArgumentParser whose description is the command's docstring."""
    return OneLineErrorParser(
        prog=prog, description=doc, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter)
