"""edge.errors.first_line: the one way an exception becomes part of a one-line error."""

import pytest

from edge.errors import first_line


@pytest.mark.parametrize("exc, want", [
    (RuntimeError("bad graph\nnode 3: Conv\nnode 4: Relu"), "bad graph"),
    (RuntimeError("  \n  padded first line  \nsecond"), "padded first line"),
    (ValueError(""), "ValueError"),                 # an empty message: the type, never an IndexError
    (KeyError(), "KeyError"),
    (OSError("   \n  "), "OSError"),                # only whitespace counts as empty
])
def test_first_line(exc, want):
    assert first_line(exc) == want


def test_first_line_limit_and_empty():
    long = RuntimeError("x" * 500 + "\nmore")
    assert first_line(long) == "x" * 200
    assert first_line(long, limit=160) == "x" * 160
    assert first_line(long, limit=None) == "x" * 500
    assert first_line(ValueError(""), empty="") == ""
    assert first_line(ValueError("why"), empty="") == "why"
