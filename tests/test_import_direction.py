"""Imports point one way: train -> edge, export -> edge, export -> train; nothing points back.

edge/ is the only package a Jetson gets, so it must never reach into train/ or export/, not
even inside a function or through an importlib string; train/ never imports export/ (the demo
runs the edge-export command). Every import statement is scanned, at any depth, plus every
string handed to an import function.
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORBIDDEN = {"edge": ("train", "export"), "train": ("export",), "export": ()}
# Calls whose first argument names a module to import.
IMPORTING_CALLS = ("import_module", "__import__", "require", "available", "find_spec", "lazy_import")


def _call_name(node):
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def imported_modules(source):
    """(line, module name) for every import in `source`: statements at any depth and import calls."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and _call_name(node) in IMPORTING_CALLS and node.args:
            name = getattr(node.args[0], "value", getattr(node.args[0], "s", None))   # ast.Str before 3.8
            if isinstance(name, str):
                found.append((node.lineno, name))
    return found


def wrong_direction(package):
    problems = []
    for folder, _, names in os.walk(os.path.join(ROOT, package)):
        for name in sorted(names):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path) as handle:
                modules = imported_modules(handle.read())
            for line, module in modules:
                if module.split(".")[0] in FORBIDDEN[package]:
                    problems.append("{}:{} imports {}".format(os.path.relpath(path, ROOT), line, module))
    return problems


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_points_back(package):
    assert wrong_direction(package) == []


def test_the_scan_sees_imports_inside_functions_and_importlib_strings():
    source = '''
import os
def later():
    from train.checkpoint import load_checkpoint
    import export.cli as cli
    importlib.import_module("export.device")
    return require("train.resnet", "why")
'''
    assert [module for _, module in imported_modules(source)] == [
        "os", "train.checkpoint", "export.cli", "export.device", "train.resnet"]
