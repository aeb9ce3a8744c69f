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


def make_parser(prog, doc, epilog=None):
    """An ArgumentParser whose description is the command's docstring."""
    return argparse.ArgumentParser(
        prog=prog, description=doc, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter)
