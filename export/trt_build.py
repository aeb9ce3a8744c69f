"""Build one serialized TensorRT engine from an ONNX file (8.2 and 8.5+/10.x APIs).

Explicit batch, an optimisation profile for a batch range, a workspace limit (Nano-sized by
default), the timing cache reused between builds, and INT8 either from a QDQ model (explicit)
or through a calibrator (implicit, 8.x). Python 3.6 compatible, no torch.
"""

from edge.errors import EdgeError
from export import trt_compat


class BuildRequest(object):
    def __init__(self, onnx_path, precision, input_name, input_shape, batch, workspace_mb=256,
                 timing_cache=None, calibrator=None):
        self.onnx_path = onnx_path          # the file to parse (fp32, or the QDQ model for explicit INT8)
        self.precision = precision          # what to build: fp32 | fp16 | int8 (already checked)
        self.input_name = input_name
        self.input_shape = list(input_shape)  # one item, without the batch axis: [3, H, W] or [H, W, 3]
        self.batch = batch                  # (min, opt, max)
        self.workspace_mb = workspace_mb
        self.timing_cache = timing_cache    # serialized timing cache bytes, or None
        self.calibrator = calibrator        # implicit INT8 only


def build(trt, request, log):
    """(serialized engine bytes, serialized timing cache bytes)."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(trt_compat.network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(request.onnx_path):
        raise EdgeError("TensorRT {} cannot parse {}: {}".format(
            trt_compat.version(trt), request.onnx_path, trt_compat.parser_errors(parser)))
    config = builder.create_builder_config()
    trt_compat.set_workspace(trt, config, request.workspace_mb * 2 ** 20)
    if request.precision in ("fp16", "int8") and builder.platform_has_fast_fp16:
        config.set_flag(trt.BuilderFlag.FP16)  # INT8 engines fall back to FP16 for unquantized layers
    if request.precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        if request.calibrator is not None:
            config.int8_calibrator = request.calibrator
    low, opt, high = request.batch
    if low != high:
        profile = builder.create_optimization_profile()
        profile.set_shape(request.input_name, [low] + request.input_shape, [opt] + request.input_shape,
                          [high] + request.input_shape)
        config.add_optimization_profile(profile)
    cache = config.create_timing_cache(request.timing_cache or b"")
    config.set_timing_cache(cache, True)  # ignore a mismatched cache rather than fail
    log("  building {} engine from {} (workspace {} MB, batch {}-{})".format(
        request.precision, request.onnx_path.split("/")[-1], request.workspace_mb, low, high))
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EdgeError("TensorRT could not build the {} engine (see its messages above); a larger "
                        "--workspace-mb may help".format(request.precision))
    return bytes(plan), bytes(config.get_timing_cache().serialize())
