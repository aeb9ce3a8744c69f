"""Runners that another installed package provides, found through its entry points.

edge/ never imports the desktop packages, and needs no torch. The PyTorch reference runner
belongs to the training package, which declares it in pyproject.toml:

    [project.entry-points."edge_toolkit.runners"]
    pytorch = "train.reference_runner:PyTorchRunner"

A Jetson install copies edge/ only, so there the PyTorch runner is simply not found.
"""

from edge.errors import MissingDependency

GROUP = "edge_toolkit.runners"
HINTS = {"pytorch": "the PyTorch runner is the desktop reference: install the training package there "
                    "(pip install -e '.[train]')"}


def plugin_runner(name):
    """The runner class registered as `name`; MissingDependency naming the install when none is."""
    for entry_point in _entry_points():
        if entry_point.name == name:
            return entry_point.load()
    raise MissingDependency("no {} runner is installed: {}".format(name, HINTS.get(name, "")))


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
