"""Small files with one job, and functions that fit on a screen: no function or method in edge/,
export/ or train/ is over 60 lines (its def line through its last line, docstring included,
decorators not), and no module is over 400 lines."""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("edge", "export", "train")
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


def _last_line(node):
    """A node's last line: end_lineno from Python 3.8; before it (JetPack 4.6's 3.6) the last line any node
    inside starts on, which can fall short of a closing bracket, never past the function."""
    end = getattr(node, "end_lineno", None)
    return end if end is not None else max(getattr(inner, "lineno", 0) for inner in ast.walk(node))


def _def_line(node, lines):
    """The line of a function's `def`: Python 3.6 and 3.7 give a decorated function its first decorator's line."""
    line = node.lineno
    while node.decorator_list and not lines[line - 1].lstrip().startswith(("def ", "async def ")):
        line += 1
    return line


def function_lengths(source):
    """(line, name, length) of every function and method in `source`, nested ones included."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = _def_line(node, lines)
            found.append((start, node.name, _last_line(node) - start + 1))
    return found


def python_files():
    for package in PACKAGES:
        for folder, _, names in os.walk(os.path.join(ROOT, package)):
            for name in sorted(names):
                if name.endswith(".py"):
                    yield os.path.join(folder, name)


def _read(path):
    with open(path) as handle:
        return handle.read()


def test_no_function_is_over_60_lines():
    offenders = ["{}:{} {} is {} lines".format(os.path.relpath(path, ROOT), line, name, length)
                 for path in python_files() for line, name, length in function_lengths(_read(path))
                 if length > MAX_FUNCTION_LINES]
    assert offenders == []


def test_no_module_is_over_400_lines():
    offenders = ["{} is {} lines".format(os.path.relpath(path, ROOT), count) for path in python_files()
                 for count in [len(_read(path).splitlines())] if count > MAX_MODULE_LINES]
    assert offenders == []


def test_a_function_counts_from_its_def_line_to_its_last_line_without_decorators():
    source = '''
@decorator
def short(a,
          b):
    """Docstring."""
    return a

class Holder(object):
    def method(self):
        def inner():
            pass
        return inner
'''
    assert function_lengths(source) == [(3, "short", 4), (9, "method", 4), (10, "inner", 2)]
