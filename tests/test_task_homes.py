"""Task kinds are compared in their homes only (edge/tasks/, train/tasks/).

Everywhere else asks the bundle's task object (edge.tasks.registry.task_for, Bundle.task) and calls its
methods. The scan reads every module of edge/, export/ and train/ and fails on a comparison (==, !=, in,
not in, is, is not) that tells one task from another:
  - an output kind: the strings "logits" or "regression", the names LOGITS, REGRESSION or output_kind;
  - an attribute `.targets` against None (`bundle.targets is not None`: "is it a regression bundle");
  - a result's vocabulary: "prediction" or "values" in a result (a classifier's or a regression model's).
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("edge", "export", "train")
HOMES = (os.path.join("edge", "tasks"), os.path.join("train", "tasks"))
KIND_STRINGS = {"logits", "regression"}
KIND_NAMES = {"LOGITS", "REGRESSION", "output_kind"}
VOCABULARY = {"prediction", "values"}


_MISSING = object()


def _constant(node):
    """The value of a literal node, or _MISSING: ast.Constant from Python 3.8, ast.Str and ast.NameConstant
    before it (the suite also runs on JetPack 4.6's Python 3.6)."""
    for kind, field in (("Constant", "value"), ("Str", "s"), ("NameConstant", "value")):
        if type(node).__name__ == kind:
            return getattr(node, field)
    return _MISSING


def _names_a_kind(node):
    if _constant(node) in KIND_STRINGS:
        return True
    if isinstance(node, ast.Name) and node.id in KIND_NAMES:
        return True
    if isinstance(node, ast.Attribute) and node.attr in KIND_NAMES:
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_names_a_kind(item) for item in node.elts)
    return False


def _is_none(node):
    return _constant(node) is None


def _tells_tasks_apart(compare):
    sides = [compare.left] + list(compare.comparators)
    if any(_names_a_kind(side) for side in sides):
        return True
    if any(isinstance(side, ast.Attribute) and side.attr == "targets" for side in sides) and \
            any(_is_none(side) for side in sides):
        return True
    return any(isinstance(op, (ast.In, ast.NotIn)) for op in compare.ops) and \
        _constant(compare.left) in VOCABULARY


def kind_comparisons(source, where="<source>"):
    """["where:line: code"] for each comparison in `source` (Python text) that tells tasks apart."""
    tree = ast.parse(source)
    lines = source.splitlines()
    return ["{}:{}: {}".format(where, node.lineno, lines[node.lineno - 1].strip())
            for node in ast.walk(tree) if isinstance(node, ast.Compare) and _tells_tasks_apart(node)]


def scan_tree(root):
    """kind_comparisons of every module of PACKAGES under `root`, outside the task homes."""
    found = []
    for package in PACKAGES:
        for directory, folders, files in os.walk(os.path.join(root, package)):
            folders[:] = sorted(name for name in folders if name != "__pycache__")
            relative = os.path.relpath(directory, root)
            if any(relative == home or relative.startswith(home + os.sep) for home in HOMES):
                continue
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    with open(path, encoding="utf-8") as handle:
                        found += kind_comparisons(handle.read(), os.path.relpath(path, root))
    return found


@pytest.mark.parametrize("code", [
    'if bundle.output_kind == REGRESSION:\n    pass\n',
    'regression = manifest["output"].get("kind") != "regression"\n',
    'ok = kind in (LOGITS, REGRESSION)\n',
    'if source.targets is not None:\n    pass\n',
    'score = Score() if bundle.targets is None else PointScore()\n',
    'if "values" in result:\n    pass\n',
    'if "prediction" in fields:\n    pass\n',
])
def test_the_scan_finds_a_comparison_of_task_kinds(code):
    assert len(kind_comparisons(code)) == 1, code


@pytest.mark.parametrize("code", [
    'task = task_for(bundle)\nfields = task.model(bundle, runner).results(images)\n',
    'if targets is not None:\n    classes = targets.names\n',    # a value given or not, no bundle's kind
    'if spec.kind == "csi":\n    pass\n',
    'if labels.targets != targets:\n    pass\n',
    'if "top_k" in options:\n    pass\n',
])
def test_the_scan_leaves_other_comparisons_alone(code):
    assert kind_comparisons(code) == [], code


def test_task_kinds_are_compared_in_their_homes_only():
    found = scan_tree(ROOT)
    assert found == [], "compare task kinds in edge/tasks/ or train/tasks/ only; ask the task instead:\n" + \
        "\n".join(found)
