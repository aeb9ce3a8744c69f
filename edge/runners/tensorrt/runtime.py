"""TensorRT in the registry (edge.runners.registry): the bundle's engine built for this GPU and TensorRT version.

--runtime auto prefers it: it takes TensorRT when an engine fits this device (or --build-engine
will build one), and otherwise passes it over for the next runtime with the reason.
"""

from edge.errors import EdgeError
from edge.runners.runtime import Runtime, TritonPlatform, Verdict
from edge.runners.tensorrt import loader

BUILD_FIX = "build it on this device (the command above), or run edge-doctor with --build-engine"
JETPACK_FIX = "on a Jetson TensorRT comes with JetPack (jetson/install.sh)"


def _make(bundle, precision, options):
    from edge.runners.tensorrt.runner import TensorRTRunner
    return TensorRTRunner(bundle, precision=precision, build_engine=options.build_engine, log=options.log)


def _automatic(bundle, precision, build_engine):
    try:
        entry, why = loader.engine_for_this_device(bundle, precision)
    except EdgeError as exc:   # the GPU cannot be told (no binding, no nvidia-smi) or CUDA fails
        entry, why = None, str(exc)
    if entry is not None:
        return Verdict(True, "{} fits this GPU and TensorRT".format(entry["file"]))
    if build_engine:
        return Verdict(True, "no engine fits this device yet; --build-engine builds it")
    return Verdict(False, "no TensorRT engine for this device ({})".format(why), detail=why,
                   remedy="or run with --build-engine")


def _skip_fix(reason):
    """edge-doctor's advice for a TensorRT row that cannot run: build the engine its reason names, or get TensorRT."""
    if "edge-export" in (reason or ""):
        return BUILD_FIX
    if "not installed" in (reason or ""):
        return JETPACK_FIX
    return None


RUNTIME = Runtime(
    "tensorrt", "TensorRT", module="tensorrt", precisions=("fp32", "fp16", "int8"), make=_make,
    automatic=_automatic, install="TensorRT (comes with JetPack)",
    missing="TensorRT: not installed (comes with JetPack on a Jetson)",
    unavailable=lambda bundle, precision: loader.unavailable_reason(bundle, precision), skip_fix=_skip_fix,
    artifact="tensorrt_engine", triton=TritonPlatform("tensorrt_plan", "tensorrt", "model.plan"))
