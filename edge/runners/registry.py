"""The runtimes a bundle can run on: the one list, and the public call that adds one.

    from edge.runners import registry
    registry.runtimes()                      # [Runtime], in the order --runtime auto prefers them
    registry.get("onnxruntime")              # one (edge.runners.runtime.Runtime), or None
    registry.register(Runtime("numpy", ...)) # a runtime defined elsewhere: a plugin, a test

Everything that depends on which runtimes exist reads this list: edge.runners.select (the --runtime
choices, each runtime's factory and precisions, the automatic choice), edge-bench's rows
(edge.benchmark.candidates), edge-doctor's rows and their fixes (edge.doctor.bundle_checks),
edge-serve's KServe platform (edge.serve.service), the Triton repository's platforms
(edge.triton.repo) and the runner options (edge.options.runner_args).

A built-in runtime lives in its own folder, edge/runners/NAME/ (loader.py, runner.py, and
runtime.py with its Runtime), and is one line of BUILT_IN. The PyTorch reference is declared in
edge.runners.plugins: its runner comes from the training package through the "edge_toolkit.runners"
entry point, so edge/ never imports train/. An entry point there may also give a whole Runtime,
which joins the list after the built-in ones. Reading the list imports no runtime library.
"""

import functools
import importlib

from edge.runners import plugins

# Modules whose RUNTIME is a built-in runtime, in the order --runtime auto prefers them (the fastest first).
BUILT_IN = (
    "edge.runners.tensorrt.runtime",
    "edge.runners.onnxruntime.runtime",
    "edge.runners.plugins",
)

_registered = []


def register(runtime):
    """Add `runtime` (an edge.runners.runtime.Runtime) after the others; returns it. Its name must be new."""
    if get(runtime.name) is not None:
        raise ValueError("a runtime named {!r} is already registered".format(runtime.name))
    _registered.append(runtime)
    return runtime


def unregister(name):
    """Take a runtime added by register() out of the list again (a test's clean-up)."""
    _registered[:] = [runtime for runtime in _registered if runtime.name != name]


def runtimes():
    """Every runtime, in the order --runtime auto prefers them: built-in, from entry points, then registered."""
    found = [importlib.import_module(module).RUNTIME for module in BUILT_IN]
    return found + _from_entry_points(tuple(runtime.name for runtime in found)) + list(_registered)


@functools.lru_cache(maxsize=None)
def _from_entry_points(built_in):
    """Read once a process: the installed packages do not change under it."""
    return plugins.plugin_runtimes(set(built_in))


def names():
    return tuple(runtime.name for runtime in runtimes())


def get(name):
    """The runtime called `name`, or None."""
    for runtime in runtimes():
        if runtime.name == name:
            return runtime
    return None


def rows_order():
    """The runtimes in the order edge-bench and edge-doctor list their rows: those auto never takes (the PyTorch
    reference first), then the automatic ones from the slowest to the fastest."""
    found = runtimes()
    return ([runtime for runtime in found if runtime.automatic is None] +
            [runtime for runtime in reversed(found) if runtime.automatic is not None])


def doctor_names():
    """The runtimes edge-doctor checks when --runtimes does not say, in its rows' order."""
    return tuple(runtime.name for runtime in rows_order() if runtime.doctor)


def runtime_of(runner):
    """The runtime a runner belongs to (its name, or the part before "-": "onnxruntime-cpu"), or None."""
    return get(runner.name.split("-")[0]) or get(runner.name)


def triton_platform(artifact_kind):
    """The TritonPlatform that serves a bundle artifact of `artifact_kind` ("onnx", "tensorrt_engine"), or None."""
    for runtime in runtimes():
        if runtime.artifact == artifact_kind and runtime.triton is not None:
            return runtime.triton
    return None
