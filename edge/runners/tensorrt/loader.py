"""TensorRT loader: the bundle's engine for this GPU and TensorRT version, found (or built once and cached,
when asked), deserialised, and given an execution context. The runner (edge.runners.tensorrt.runner)
owns the buffers and runs it.

An engine built for another GPU or TensorRT version is refused with the command that rebuilds it.
Every call TensorRT answers with None is checked: a 4 GB Nano that cannot fit an execution context gets
one line, not an AttributeError later. Python 3.6 compatible.
"""

from edge.errors import EdgeError
from edge.util.lazy import require
from edge.tensorrt import compat
from edge.tensorrt.matching import find_engine


def engine_for_this_device(bundle, precision):
    """(engine entry, None) that runs here at `precision` ("auto": the fastest), or (None, why)."""
    trt = require("tensorrt", "the TensorRT runner")
    return find_engine(bundle, precision, compat.device_description(trt))


def unavailable_reason(bundle, precision):
    """Why `precision` cannot run with TensorRT here (None when it can): for edge-bench's rows."""
    trt = require("tensorrt", "TensorRT")
    try:
        device = compat.device_description(trt)
    except EdgeError as exc:
        return str(exc)
    capabilities = compat.platform_capabilities(trt, device["compute_capability"])
    if precision in ("int8", "fp16") and not capabilities[precision]:
        return "{}: no fast {} on this GPU ({})".format(precision.upper(), precision.upper(), device["gpu"])
    entry, why = find_engine(bundle, precision, device)
    if entry is not None and entry.get("precision") != precision:
        return "{} engine was built as {} here".format(precision, entry.get("precision"))
    return why


def find_or_build_engine(trt, bundle, requested, build_engine=False, log=None):
    """(bundle, engine entry) for `requested` on this device; with build_engine, one built here when missing (the
    bundle reloaded to list it); else EdgeError naming the command that builds it."""
    device = compat.device_description(trt)
    entry, why = find_engine(bundle, requested, device)
    if entry is None and build_engine:
        from edge.bundle.bundle import Bundle
        from edge.tensorrt.engines import add_engines

        log = log or (lambda text: None)
        precision = "fp16" if requested == "auto" else requested
        log("no {} engine for this device yet: building it (cached for the next run)".format(precision))
        add_engines(bundle.path, [precision], log=log)
        bundle = Bundle.load(bundle.path)
        entry, why = find_engine(bundle, requested, device)
    if entry is None:
        raise EdgeError(why + " (or run with --build-engine)")
    return bundle, entry


def deserialize_engine(trt, path, bundle, precision):
    """(logger, runtime, engine) of the plan at `path`; the logger and runtime must outlive the engine."""
    with open(path, "rb") as handle:
        plan = handle.read()
    logger = trt.Logger(trt.Logger.WARNING)
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise EdgeError("TensorRT could not load {}; rebuild it: edge-export {} --engine {}".format(
            path, bundle.path, precision))
    return logger, runtime, engine


def activation_bytes(engine):
    """The GPU memory the engine's activations take."""
    # 10.x renamed it (device_memory_size warns there); 8.x has only the first name.
    if hasattr(engine, "device_memory_size_v2"):
        return int(engine.device_memory_size_v2)
    return int(getattr(engine, "device_memory_size", 0) or 0)


def create_context(engine, entry):
    """The engine's execution context, or EdgeError saying what memory it needs and how to free it."""
    context = engine.create_execution_context()
    if context is None:
        raise EdgeError("TensorRT could not create an execution context for {} (it needs {:.0f} MB of GPU "
                        "memory for activations, besides its I/O buffers): free GPU memory (other GPU "
                        "processes; on a Nano stop the desktop: sudo systemctl isolate multi-user.target) or "
                        "rebuild with a smaller batch range".format(entry["file"],
                                                                    activation_bytes(engine) / 2.0 ** 20))
    return context
