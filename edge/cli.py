"""The command-line convention shared by every edge-* command.

Each command has `main(argv=None) -> int`; `run_main` turns project errors into one line on
stderr with a non-zero exit code, and Ctrl-C into exit code 130, without tracebacks.
"""

import argparse
import sys

from edge.errors import EdgeError


def run_main(prog, body, argv=None):
    """Call `body(argv)` and convert user errors into a one-line message and an exit code."""
    try:
        code = body(argv)
        return 0 if code is None else int(code)
    except EdgeError as exc:
        sys.stderr.write("{}: error: {}\n".format(prog, exc))
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("{}: interrupted\n".format(prog))
        return 130


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse prints the whole usage block before a bad flag's message; we print one line.

    The error becomes an EdgeError, so run_main reports it like every other user error.
    """

    def error(self, message):
        raise EdgeError("{} (see {} --help)".format(message, self.prog))


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
