"""Runners and runtimes that another installed package provides, found through its entry points.

edge/ never imports the desktop packages, and needs no torch. The PyTorch reference runner
belongs to the training package, which declares it in pyproject.toml:

    [project.entry-points."edge_toolkit.runners"]
    pytorch = "train.reference_runner:PyTorchRunner"

RUNTIME below is what the registry (edge.runners.registry) knows of it without loading it: its
rows, precision and install hint. A Jetson install copies edge/ only, so there the PyTorch runner is
simply not found, and its rows say so. An entry point under another name may give a whole
edge.runners.runtime.Runtime, which joins the registry (plugin_runtimes).
"""

from edge.errors import MissingDependency
from edge.runners.runtime import Runtime

GROUP = "edge_toolkit.runners"
PYTORCH_HINT = ("the PyTorch runner is the desktop reference: install the training package there "
                "(pip install -e '.[train]')")


def plugin_runner(name, hint=""):
    """The runner class registered as `name`; MissingDependency naming the install (`hint`) when none is."""
    for entry_point in _entry_points():
        if entry_point.name == name:
            return entry_point.load()
    raise MissingDependency("no {} runner is installed: {}".format(name, hint))


def plugin_runtimes(known):
    """The Runtimes that entry points give under names not in `known` (those name runner classes instead)."""
    found = []
    for entry_point in _entry_points():
        if entry_point.name not in known:
            loaded = entry_point.load()
            if isinstance(loaded, Runtime):
                found.append(loaded)
    return found


def _make_pytorch(bundle, precision, options):
    # The runner checks its checkpoint when made: the reason comes back when it is not here.
    return plugin_runner("pytorch", PYTORCH_HINT)(bundle, checkpoint=options.checkpoint, threads=options.threads)


RUNTIME = Runtime(
    "pytorch", "PyTorch", module="torch", precisions=("fp32",), make=_make_pytorch,
    refusal="the PyTorch runner is the fp32 desktop reference; use --precision fp32",
    missing="PyTorch: not installed (a desktop reference)",
    doctor=False)   # the golden outputs are PyTorch's own: checked only when --runtimes names it


def _entry_points():
    try:
        from importlib import metadata  # novermin (Python 3.8+; the fallbacks below serve 3.6)
    except ImportError:
        try:
            import importlib_metadata as metadata
        except ImportError:
            try:
                import pkg_resources
            except ImportError:
                return []
            return list(pkg_resources.iter_entry_points(GROUP))
    found = metadata.entry_points()
    if hasattr(found, "select"):
        return list(found.select(group=GROUP))
    return list(found.get(GROUP, []))
