"""The device half of edge-export: a bundle in, TensorRT engines for THIS GPU out.

Runs on the Jetson (no torch, Python 3.6). Engines are tied to the GPU and the TensorRT
version, so each is named and recorded by a key of the ONNX sha256, TensorRT version, GPU name,
compute capability, precision and batch range: an engine built elsewhere is never picked up.

Precision policy: the builder is asked first. INT8 where the GPU has no fast INT8 (Nano sm_53,
TX2 sm_62) builds FP16 with a plain warning (strict=True refuses); FP16 without fast FP16 builds
FP32 likewise. The manifest records the precision built and the one requested.
"""

import hashlib
import json
import os

from edge.atomic import write_bytes
from edge.bundle import Bundle, artifact_entry, put_artifact
from edge.cuda_memory import backend as cuda_backend
from edge.errors import EdgeError
from export import trt_build, trt_compat

PRECISIONS = ("fp32", "fp16", "int8")
RANK = {"fp32": 0, "fp16": 1, "int8": 2}
TIMING_CACHE = "timing.cache"
CALIBRATION_CACHE = "calibration.cache"
TRT_INT8_FLAVOUR = "tensorrt-qdq-s8s8"


def engine_key(onnx_sha256, trt_version, gpu, compute_capability, precision, batch):
    text = json.dumps([onnx_sha256, trt_version, gpu, compute_capability, precision, list(batch)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def device_description(trt):
    info = cuda_backend().device_info()
    return {"gpu": info["name"], "compute_capability": info["compute_capability"],
            "tensorrt_version": trt_compat.version(trt)}


def platform_capabilities(trt):
    builder = trt.Builder(trt.Logger(trt.Logger.WARNING))
    return {"fp16": bool(builder.platform_has_fast_fp16), "int8": bool(builder.platform_has_fast_int8)}


def resolve_precision(requested, capabilities, gpu, strict, log):
    """The precision to build for `requested` on this platform, saying so when it differs."""
    built = requested
    if built == "int8" and not capabilities["int8"]:
        message = "INT8: {} has no fast INT8 (Nano and TX2 do not; Xavier and Orin do)".format(gpu)
        if strict:
            raise EdgeError(message + "; --strict refuses to build something else")
        log("warning: {}; building FP16 instead".format(message))
        built = "fp16"
    if built == "fp16" and not capabilities["fp16"]:
        message = "FP16: {} has no fast FP16".format(gpu)
        if strict:
            raise EdgeError(message + "; --strict refuses to build something else")
        log("warning: {}; building FP32 instead".format(message))
        built = "fp32"
    return built


def _input_item_shape(bundle):
    """One input item without the batch axis: NCHW [3, H, W], or NHWC [H, W, 3] when preprocessing is fused."""
    height, width = bundle.spec.size
    return [height, width, 3] if bundle.fused_preprocess else [3, height, width]


def add_engines(bundle_dir, precisions, workspace_mb=256, strict=False, dynamic=None, timing_cache=None, log=print):
    """Build an engine per precision for this device, record them, save the manifest atomically.

    dynamic: (min, opt, max) batch, default the manifest's input.batch. Returns the new entries.
    """
    trt = trt_compat.load()  # before anything else: a missing TensorRT changes nothing
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown or not precisions:
        raise EdgeError("unknown engine precision(s) {}; choose from {}".format(unknown, ", ".join(PRECISIONS)))
    bundle = Bundle.load(bundle_dir)
    if bundle.fused_preprocess and not hasattr(trt.DataType, "UINT8"):
        raise EdgeError("this bundle's ONNX takes uint8 input (--fuse-preprocess), which TensorRT {} cannot "
                        "read (8.5+ can); export without --fuse-preprocess for JetPack 4.6".format(
                            trt_compat.version(trt)))
    fp32 = bundle.artifact("onnx", precision="fp32")
    if fp32 is None:
        raise EdgeError("bundle {} has no fp32 ONNX model to build from".format(bundle_dir))
    bundle.check(fp32)
    batch = tuple(dynamic) if dynamic else bundle.batch_range
    device = device_description(trt)
    capabilities = platform_capabilities(trt)
    cache_path = timing_cache or os.path.join(bundle.path, TIMING_CACHE)
    entries = []
    for requested in precisions:
        built = resolve_precision(requested, capabilities, device["gpu"], strict, log)
        source = _engine_source(bundle, built, fp32)
        key = engine_key(source["sha256"], device["tensorrt_version"], device["gpu"], device["compute_capability"],
                         built, batch)
        name = "engine-{}-{}.plan".format(built, key)
        path = os.path.join(bundle.path, name)
        existing = bundle.artifact("tensorrt_engine", key=key)
        if existing is not None and os.path.isfile(path):
            bundle.check(existing)
            log("  {} engine for this device is already built: {} (cached)".format(built, name))
            entries.append(existing)
            continue
        timing = None
        if os.path.isfile(cache_path):
            with open(cache_path, "rb") as handle:
                timing = handle.read()
        calibrator = None
        if built == "int8" and source is fp32:
            calibrator = _cache_calibrator(trt, bundle)
        request = trt_build.BuildRequest(bundle.file(source), built, bundle.input_name, _input_item_shape(bundle),
                                         batch, workspace_mb, timing, calibrator)
        plan, timing_out = trt_build.build(trt, request, log)
        write_bytes(path, plan)
        write_bytes(cache_path, timing_out)
        entry = artifact_entry(bundle.path, name, "tensorrt_engine", precision=built, requested_precision=requested,
                               tensorrt_version=device["tensorrt_version"], gpu=device["gpu"],
                               compute_capability=device["compute_capability"], onnx_file=source["file"],
                               onnx_sha256=source["sha256"], batch={"min": batch[0], "opt": batch[1], "max": batch[2]},
                               workspace_mb=workspace_mb, key=key,
                               int8_mode=("explicit-qdq" if source is not fp32 else "implicit-calibration")
                               if built == "int8" else None)
        put_artifact(bundle.manifest, entry)
        entries.append(entry)
        log("  wrote {} ({} built{})".format(name, built, "" if built == requested else ", {} requested".format(
            requested)))
    bundle.save()
    return entries


def _engine_source(bundle, precision, fp32):
    """The ONNX an engine is built from: the TensorRT QDQ model for INT8 when there is one (explicit
    quantization), else the fp32 model (FP32/FP16, or INT8 from the calibration cache)."""
    if precision == "int8":
        qdq = bundle.artifact("onnx", precision="int8", flavour=TRT_INT8_FLAVOUR)
        if qdq is not None:
            bundle.check(qdq)
            return qdq
        if bundle.artifact("calibration_cache") is None:
            raise EdgeError("an INT8 engine needs the bundle's INT8 model or calibration cache: export with "
                            "--int8 --calib DIR")
    return fp32


def _cache_calibrator(trt, bundle):
    entry = bundle.artifact("calibration_cache")
    bundle.check(entry)
    if not hasattr(trt, "IInt8EntropyCalibrator2"):
        raise EdgeError("this TensorRT has no calibrators; re-export with --int8 for a QDQ model")
    from export.calibrator import make_calibrator
    return make_calibrator(trt, cuda_backend(), None, bundle.file(entry), entry.get("method", "entropy"))


def write_calibration_cache(bundle_dir, onnx_file, batches, method, log=print):
    """Calibrate `onnx_file` on float32 NCHW batches and write the cache into the bundle; returns its entry."""
    trt = trt_compat.load()
    from export.calibrator import make_calibrator

    bundle_dir = str(bundle_dir)
    path = os.path.join(bundle_dir, CALIBRATION_CACHE)
    if os.path.exists(path):
        os.unlink(path)  # a stale cache would be read back instead of calibrating
    memory = cuda_backend()
    calibrator = make_calibrator(trt, memory, batches, path, method)
    shape = list(batches[0].shape[1:])
    # Batch 1 throughout: no optimisation profile, so the input's name is not needed.
    request = trt_build.BuildRequest(os.path.join(bundle_dir, onnx_file), "int8", None, shape, (1, 1, 1), 256, None,
                                     calibrator)
    try:
        trt_build.build(trt, request, log)
    finally:
        calibrator.release()
    if not os.path.isfile(path):
        raise EdgeError("TensorRT did not write a calibration cache")
    return artifact_entry(bundle_dir, CALIBRATION_CACHE, "calibration_cache", method=method, images=len(batches),
                          tensorrt_version=trt_compat.version(trt))


def find_engine(bundle, precision, device):
    """(engine entry, None) for this device, or (None, why not with the command that fixes it).

    precision "auto" takes the fastest engine built for this device (int8 > fp16 > fp32).
    """
    engines = bundle.artifacts("tensorrt_engine")
    here = [e for e in engines if e.get("gpu") == device["gpu"]
            and e.get("compute_capability") == device["compute_capability"]
            and e.get("tensorrt_version") == device["tensorrt_version"]]
    if precision != "auto":
        here = [e for e in here if precision in (e.get("precision"), e.get("requested_precision"))]
    if here:
        return max(here, key=lambda e: RANK.get(e.get("precision"), -1)), None
    rebuild = "edge-export {} --engine {}".format(bundle.path, "fp16" if precision == "auto" else precision)
    if engines:
        other = engines[0]
        return None, ("the bundle's engines were built for {} (sm {}) with TensorRT {}, this is {} (sm {}) with "
                      "TensorRT {}: rebuild here with: {}".format(
                          other.get("gpu"), other.get("compute_capability"), other.get("tensorrt_version"),
                          device["gpu"], device["compute_capability"], device["tensorrt_version"], rebuild))
    return None, "no {} engine for this GPU in the bundle: build it with: {}".format(
        "TensorRT" if precision == "auto" else precision, rebuild)
