"""A TensorRT calibration cache for a bundle's float-input ONNX (implicit INT8 on TensorRT 8.x): a plain
bundle's model.onnx, or a fused bundle's float-pixel model.pixels.onnx (TensorRT 8.x takes it, not uint8).

edge-export writes one while staging a bundle when TensorRT is on the desktop; on the device,
add_engines builds an INT8 engine from it where the bundle has no TensorRT QDQ model.
Needs a GPU and pycuda or cuda-python. Python 3.6 compatible, no torch.
"""

import os

from edge.util.atomic import sha256_file, write_bytes
from edge.bundle.bundle import artifact_entry
from edge.errors import EdgeError
from edge.tensorrt import build, compat
from edge.tensorrt.calibrator import make_calibrator, regroup, resolve_method
from edge.util.progress import Progress

CALIBRATION_CACHE = "calibration.cache"
CALIBRATION_BATCH = 8            # calibration batch size when the ONNX batch axis is dynamic


def write_calibration_cache(bundle_dir, onnx_file, batches, method, log=print):
    """Calibrate `onnx_file` (in `bundle_dir`) on float32 `batches` of its input (NCHW, or NHWC pixels); write `calibration.cache`.

    method: "entropy" (IInt8EntropyCalibrator2) or "minmax" (IInt8MinMaxCalibrator); "percentile",
    ONNX Runtime's, has no TensorRT calibrator and uses entropy (said, and recorded as
    requested_method). Works without a manifest (edge-export calls it while staging).
    Returns the artifact entry (not yet put into any manifest).
    """
    trt = compat.load()
    from edge.cuda import memory as cuda_memory

    chosen, note = resolve_method(method)
    bundle_dir = str(bundle_dir)
    path = os.path.join(bundle_dir, onnx_file)
    if not os.path.isfile(path):
        raise EdgeError("{} not found in {}".format(onnx_file, bundle_dir))
    name, dims = _single_float_input(trt, path)
    batch_size = dims[0] if dims[0] > 0 else None
    items = sum(int(getattr(batch, "shape", (1,))[0]) for batch in batches)
    grouped = regroup(batches, batch_size or max(1, min(CALIBRATION_BATCH, items)))
    batch_size = int(grouped[0].shape[0])
    if list(grouped[0].shape[1:]) != dims[1:]:
        raise EdgeError("calibration images have shape {}, {} input {!r} takes {}".format(
            list(grouped[0].shape[1:]), onnx_file, name, dims[1:]))
    if note:
        log(note)
    if len(grouped) * batch_size < items:
        log("note: {} of {} calibration images left out (TensorRT calibrates in full batches of {})".format(
            items - len(grouped) * batch_size, items, batch_size))
    memory = cuda_memory.backend()
    calibrator = make_calibrator(trt, chosen, grouped, memory=memory)
    log("calibrating {} with TensorRT {} ({}, {} batches of {})".format(
        onnx_file, compat.version(trt), chosen, len(grouped), batch_size))
    request = build.BuildRequest(path, "int8", (batch_size,) * 3, build.DEFAULT_WORKSPACE_MB, calibrator=calibrator)
    shown = Progress("int8 calibration of {}".format(onnx_file))   # a line every interval where no terminal
    shown.set_stage("TensorRT calibrates on {} batches and builds the engine".format(len(grouped)))
    with memory.current():   # the builder reads the calibrator's device pointers in this context
        try:
            with shown, shown.heartbeat():
                build.build(trt, request, log)
        finally:
            calibrator.release()
    if not calibrator.cache:
        raise EdgeError("TensorRT calibrated {} but wrote no calibration cache".format(onnx_file))
    write_bytes(os.path.join(bundle_dir, CALIBRATION_CACHE), calibrator.cache)
    extra = {"requested_method": method} if method != chosen else {}
    return artifact_entry(bundle_dir, CALIBRATION_CACHE, "calibration_cache", method=chosen,
                          images=len(grouped) * batch_size, tensorrt_version=compat.version(trt),
                          batch_size=batch_size, onnx_file=onnx_file, onnx_sha256=sha256_file(path), **extra)


def _single_float_input(trt, path):
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, parser = build.parse(trt, builder, logger, path)
    if network.num_inputs != 1:
        raise EdgeError("calibration supports models with one input; {} has {}".format(
            os.path.basename(path), network.num_inputs))
    tensor = network.get_input(0)
    if tensor.dtype != trt.DataType.FLOAT:
        raise EdgeError("calibration feeds float32 images; {} input {!r} is {}".format(
            os.path.basename(path), tensor.name, tensor.dtype))
    return tensor.name, [int(d) for d in tensor.shape]
