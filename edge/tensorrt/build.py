"""Build one serialized TensorRT engine from an ONNX file (8.2 and 8.5+/10.x APIs).

One function per phase: parse (errors from the parser, one line), configure (workspace, precision
flags, an optimisation profile for a batch range, the timing cache), build. INT8 is either
explicit (a QDQ model: the INT8 flag, no calibrator) or implicit (8.x: a calibrator, here one
that reads a calibration cache). The precision policy lives here too. Python 3.6, no torch.
"""

import os

from edge.bundle.schema import PRECISIONS
from edge.errors import EdgeError
from edge.tensorrt import compat

DEFAULT_WORKSPACE_MB = 256   # Nano-sized: 4 GB shared by CPU and GPU


def choose_precision(requested, fast, gpu, strict):
    """(precision to build, warning line or None) for `requested` on a GPU with `fast` precisions.

    INT8 without fast INT8 (Nano sm_53, TX2 sm_62) -> FP16 (FP32 if no fast FP16 either);
    FP16 without fast FP16 -> FP32. strict=True raises EdgeError instead of building something else.
    """
    if requested not in PRECISIONS:
        raise EdgeError("unknown engine precision {!r}; choose from {}".format(requested, ", ".join(PRECISIONS)))
    if requested == "fp32" or fast[requested]:
        return requested, None
    built = "fp16" if requested == "int8" and fast["fp16"] else "fp32"
    reason = "{} has no fast {}".format(gpu, requested.upper())
    if requested == "int8":
        reason += " (Nano and TX2 do not; Xavier and Orin do)"
    if strict:
        raise EdgeError("{}: --strict refuses to build {} instead".format(reason, built))
    return built, "warning: {}; building {} instead (the manifest records {} built, {} requested)".format(
        reason, built.upper(), built, requested)


class BuildRequest(object):
    """What to build. `batch` is (min, opt, max) for the input's batch axis."""

    def __init__(self, onnx_path, precision, batch=(1, 1, 1), workspace_mb=DEFAULT_WORKSPACE_MB,
                 timing_cache=None, calibrator=None, fast_fp16=False, opset=None):
        self.onnx_path = onnx_path        # the file to parse: fp32, or the QDQ model for explicit INT8
        self.precision = precision        # fp32 | fp16 | int8, already decided by choose_precision
        self.batch = tuple(int(b) for b in batch)
        self.workspace_mb = int(workspace_mb)
        self.timing_cache = timing_cache  # serialized timing cache to start from, or None
        self.calibrator = calibrator      # implicit INT8 only
        self.fast_fp16 = fast_fp16        # INT8 engines may run unquantized layers in FP16 when it is fast
        self.opset = opset                # for the parse error's hint


class BuildResult(object):
    def __init__(self, plan, timing_cache, flags, timing_status):
        self.plan = plan                      # serialized engine bytes
        self.timing_cache = timing_cache      # serialized timing cache after the build
        self.flags = flags                    # BuilderFlag names set
        self.timing_status = timing_status    # "reused" | "new" | "replaced"


def parse(trt, builder, logger, onnx_path, opset=None):
    """(network, parser) for `onnx_path`; EdgeError with the parser's errors when it fails."""
    network = builder.create_network(compat.network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(onnx_path):
        hint = ""
        if opset is not None and int(opset) > compat.TENSORRT_82_MAX_OPSET:
            hint = "; TensorRT 8.2 (JetPack 4.6) reads ONNX opsets up to {0}: re-export with --opset {0}".format(
                compat.TENSORRT_82_MAX_OPSET)
        raise EdgeError("TensorRT {} cannot parse {}{}: {}{}".format(
            compat.version(trt), os.path.basename(onnx_path),
            " (opset {})".format(opset) if opset is not None else "", compat.parser_errors(parser), hint))
    return network, parser


def profile_shapes(inputs, batch, onnx_name):
    """{input name: (min, opt, max) shapes} for inputs with a dynamic batch axis; checks the rest."""
    low, opt, high = batch
    if not 1 <= low <= opt <= high:
        raise EdgeError("batch range must satisfy 1 <= min <= opt <= max, got {}".format(batch))
    shapes = {}
    for name, dims in inputs:
        if not dims:
            raise EdgeError("{} input {!r} is a scalar; a batch axis is needed".format(onnx_name, name))
        if any(d < 0 for d in dims[1:]):
            raise EdgeError("{} input {!r} has dynamic axes besides the batch ({}); export a fixed input size".format(
                onnx_name, name, dims))
        if dims[0] < 0:
            rest = list(dims[1:])
            shapes[name] = ([low] + rest, [opt] + rest, [high] + rest)
        elif (low, opt, high) != (dims[0],) * 3:
            raise EdgeError("{} has a fixed batch of {} (input {!r}) but batch {}..{} was asked; re-export with "
                            "--dynamic-batch N".format(onnx_name, dims[0], name, low, high))
    return shapes


def _profile(builder, shapes, which):
    profile = builder.create_optimization_profile()
    for name, (low, opt, high) in sorted(shapes.items()):
        if which == "opt":
            profile.set_shape(name, opt, opt, opt)
        else:
            profile.set_shape(name, low, opt, high)
    return profile


# The builder flags that decide arithmetic precision, as read back into the manifest.
PRECISION_FLAGS = ("FP16", "INT8", "TF32")


def set_precision_flags(trt, config, precision, fast_fp16):
    """Set the BuilderFlags for `precision` (by name, never by number).

    Returns the precision flags the build runs with, read back from the config. TensorRT turns
    TF32 on by default, so an "fp32" engine on an Ampere GPU (Orin) would silently compute
    convolutions with a 10-bit mantissa; fp32 means fp32 here, the precision the desktop
    verified. Reduced-precision engines keep TF32 for the layers that fall back to fp32.
    """
    names = []
    if precision == "fp16" or (precision == "int8" and fast_fp16):
        names.append("FP16")
    if precision == "int8":
        names.append("INT8")
    for name in names:
        config.set_flag(getattr(trt.BuilderFlag, name))
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)
    return [name for name in PRECISION_FLAGS
            if hasattr(trt.BuilderFlag, name) and config.get_flag(getattr(trt.BuilderFlag, name))]


def use_timing_cache(config, serialized, log):
    """Start from `serialized` when it fits this GPU and TensorRT, else from an empty cache."""
    if serialized:
        cache = None
        try:
            cache = config.create_timing_cache(serialized)
        except (RuntimeError, TypeError, ValueError):
            cache = None
        if cache is not None and config.set_timing_cache(cache, False):
            return "reused"
        log("warning: the timing cache does not fit this GPU/TensorRT (or is damaged); starting a fresh one")
    config.set_timing_cache(config.create_timing_cache(b""), False)
    return "replaced" if serialized else "new"


def build(trt, request, log):
    """Parse, configure, build: a BuildResult, or EdgeError saying what went wrong."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    name = os.path.basename(request.onnx_path)
    log("parsing {}".format(name))
    network, parser = parse(trt, builder, logger, request.onnx_path, request.opset)
    inputs = compat.network_inputs(network)
    shapes = profile_shapes(inputs, request.batch, name)
    config = builder.create_builder_config()
    compat.set_workspace(trt, config, request.workspace_mb * 2 ** 20)
    flags = set_precision_flags(trt, config, request.precision, request.fast_fp16)
    if shapes:
        config.add_optimization_profile(_profile(builder, shapes, "range"))
    if request.calibrator is not None:
        compat.set_calibrator(config, request.calibrator, _profile(builder, shapes, "opt") if shapes else None)
    timing_status = use_timing_cache(config, request.timing_cache, log)
    log("optimizing the {} engine: TensorRT times its kernels on this GPU (minutes on a Nano)".format(
        request.precision))
    plan = compat.build_serialized(builder, network, config)
    del parser   # the parser owns the network's weights: kept alive until the build is done
    if request.calibrator is not None:
        request.calibrator.raise_error()
    if plan is None:
        raise EdgeError("TensorRT could not build the {} engine from {} (see its messages above); a larger "
                        "--workspace-mb may help".format(request.precision, name))
    timing = bytes(memoryview(config.get_timing_cache().serialize()))
    return BuildResult(plan, timing, flags, timing_status)
