"""Imports point one way: train -> edge, export -> edge, export -> train; nothing points back.

edge/ is the only package a Jetson gets, so it must never reach into train/ or export/, not
even inside a function or through an importlib string; train/ never imports export/ (the demo
runs the edge-export command). Every import statement is scanned, at any depth, plus every
string handed to an import function.

Inside edge/ the same holds between layers: the commands and the public API on top, the library
packages below them, and no import cycle between edge's modules.
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


# ----------------------------------------------------------------------------- layers inside edge/
# The commands and the public API sit on top; the library packages below them (util, bundle, tasks,
# net, cuda, runners, sources, sinks, tensorrt, ...) never import a command or the API. Imports inside
# functions count: they hide a cycle, they do not remove it.

EDGE_COMMANDS = ("edge.predict", "edge.camera", "edge.bench", "edge.collect", "edge.export", "edge.doctor.cli",
                 "edge.serve.cli", "edge.serve.__main__",
                 # the measurement programs of the README (python -m ...): nothing imports them
                 "edge.benchmark.camera_cpu", "edge.benchmark.daemon_overhead",
                 # the developer's tool that compiles the gRPC protocol's descriptor (needs grpcio-tools)
                 "edge.serve.protos.build_descriptor")
EDGE_API = ("edge", "edge.api")


def module_name(path):
    """The dotted name of the module at `path` (a package: its __init__.py)."""
    parts = os.path.splitext(os.path.relpath(path, ROOT))[0].split(os.sep)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def edge_modules():
    """{module name: path} for every module of edge/."""
    found = {}
    for folder, _, names in os.walk(os.path.join(ROOT, "edge")):
        for name in names:
            if name.endswith(".py"):
                found[module_name(os.path.join(folder, name))] = os.path.join(folder, name)
    return found


def edge_imports(source, module, is_package, known):
    """The modules of `known` that `module`'s `source` imports, at any depth: `from edge.x import y` names the
    module edge.x.y when there is one, else edge.x; relative imports resolved; import calls counted."""
    found = set(name for _, name in imported_modules(source))
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            package = module.split(".") if is_package else module.split(".")[:-1]
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(base + "." + alias.name for alias in node.names)
    return set(name for name in found if name in known and name != module)


def edge_import_graph():
    modules = edge_modules()
    graph = {}
    for module, path in modules.items():
        with open(path) as handle:
            graph[module] = edge_imports(handle.read(), module, path.endswith("__init__.py"), modules)
    return graph


def find_cycle(graph):
    """One import cycle of `graph` ({module: imported modules}) as [a, b, ..., a], or None."""
    state = {}   # module -> "open" while on the current path, "done" once every path from it is explored

    def visit(module, path):
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                return path[path.index(imported):] + [imported]
            if imported not in state:
                cycle = visit(imported, path + [imported])
                if cycle:
                    return cycle
        state[module] = "done"
        return None

    for module in sorted(graph):
        cycle = None if module in state else visit(module, [module])
        if cycle:
            return cycle
    return None


def upward_imports(graph):
    """'library -> command or API' for every library module of edge/ that imports a command or the API."""
    top = set(EDGE_COMMANDS + EDGE_API)
    return sorted("{} -> {}".format(module, imported) for module in graph if module not in top
                  for imported in graph[module] if imported in top)


def test_the_command_and_api_lists_name_real_modules():
    assert set(EDGE_COMMANDS + EDGE_API) <= set(edge_modules())


def runs_as_a_program(source):
    """Whether `source` has an `if __name__ == "__main__":` block."""
    return any(isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
               and getattr(node.test.left, "id", None) == "__name__" for node in ast.parse(source).body)


def test_every_program_in_edge_is_listed_as_a_command():
    programs = set()
    for module, path in edge_modules().items():
        with open(path) as handle:
            if runs_as_a_program(handle.read()):
                programs.add(module)
    assert sorted(programs - set(EDGE_COMMANDS)) == []


def test_edge_has_no_import_cycle():
    assert find_cycle(edge_import_graph()) is None


def test_no_library_module_of_edge_imports_a_command_or_the_public_api():
    assert upward_imports(edge_import_graph()) == []


def test_the_layer_checks_see_cycles_through_function_level_imports_and_upward_imports():
    modules = {"edge": "", "edge.api": "", "edge.version": "", "edge.bundle": "", "edge.bundle.bundle": "",
               "edge.export": "", "edge.tensorrt": "", "edge.tensorrt.compat": "", "edge.triton.repo": ""}
    sources = {
        "edge": "def load_bundle(path):\n    from edge.api import LoadedBundle\n",
        "edge.api": "from edge.bundle.bundle import Bundle\n",
        "edge.bundle.bundle": "from edge import __version__\n",
        "edge.triton.repo": "from ..tensorrt import compat\nfrom edge.version import __version__\n",
        "edge.tensorrt.compat": "import edge.export\n",
    }
    graph = dict((module, edge_imports(sources.get(module, ""), module, module.count(".") < 2, modules))
                 for module in modules)
    assert graph["edge.triton.repo"] == {"edge.tensorrt", "edge.tensorrt.compat", "edge.version"}
    assert find_cycle(graph) == ["edge", "edge.api", "edge.bundle.bundle", "edge"]
    assert upward_imports(graph) == ["edge.bundle.bundle -> edge", "edge.tensorrt.compat -> edge.export"]
    del graph["edge"]
    assert find_cycle(graph) is None
