"""TensorRT engines for THIS GPU, added to a bundle: the device half of edge-export.

Runs on the Jetson (no torch, Python 3.6); `edge-export BUNDLE --engine fp16` (edge.export)
and the TensorRT runner's --build-engine call it:

    add_engines(bundle_dir, precisions, workspace_mb=DEFAULT_WORKSPACE_MB (256), strict=False, dynamic=None,
                timing_cache=None, log=print) -> [engine artifact entries]

Each engine is keyed by everything that ties it to this device (edge.tensorrt.matching); one
already built here for the same key is reused instead of rebuilt.

Precision policy (edge.tensorrt.build.choose_precision): the builder is asked first. INT8 where the
GPU has no fast INT8 (Nano sm_53, TX2 sm_62) builds FP16 with one warning line (strict=True
refuses); FP16 without fast FP16 builds FP32 likewise. The manifest records both.

INT8 comes from the bundle's TensorRT QDQ model when it has one (explicit quantization, any
TensorRT); else, on 8.x only, from its calibration cache (implicit, through a calibrator).

Input: a fused bundle's models take uint8 frames, which TensorRT 8.2 cannot read (no UINT8 before
8.5). There the engine is built from the float-pixel models the bundle also carries (float32 NHWC
BGR holding 0..255, normalised in the graph: the runner only widens the frames), or, in a bundle
from an older edge-export, from its float-input models (normalised NCHW: the runner normalises on
the host). The engine's entry says which (input_format).

All or nothing: every check runs before the first build; engines are written atomically; on any
failure the engines written by this call are removed and the manifest and timing cache are left
as they were.
"""

import hashlib
import json
import os
import time

from edge.util.atomic import sha256_file, write_bytes
from edge.bundle.bundle import Bundle, artifact_entry, put_artifact
from edge.bundle.schema import INPUT_FLOAT, INPUT_PIXELS, INPUT_UINT8, PRECISIONS, TENSORRT_INT8
from edge.errors import EdgeError
from edge.bundle.finite import refuse_non_finite_onnx
from edge.tensorrt import build, compat
from edge.tensorrt.calibrator import make_calibrator
from edge.tensorrt.matching import engine_file_name, engine_key


# ----------------------------------------------------------------------------- add_engines

class _Job(object):
    """One engine to produce: what was asked, what is built, from which files, under which key."""

    def __init__(self, requested, precision, source, calibration=None):
        self.requested = requested
        self.precision = precision
        self.source = source              # the onnx artifact entry to parse
        self.calibration = calibration    # calibration_cache entry (implicit INT8), else None
        self.key = None
        self.file = None
        self.input_format = None          # what the source model (and so the engine) takes
        self.requests = [requested]       # every precision asked for that this engine serves


def _check_source_model(bundle, input_format, bundle_dir):
    """The fp32 ONNX model the engines are built from: present, as recorded (sha256), and with finite
    weights (an engine of NaN weights gives NaN: refused, exit code 3)."""
    fp32 = bundle.onnx("fp32", input_format=input_format)
    if fp32 is None:
        raise EdgeError("bundle {} has no fp32 ONNX model to build from; re-run edge-export".format(bundle_dir))
    refuse_non_finite_onnx(bundle.check(fp32))


def add_engines(bundle_dir, precisions, workspace_mb=build.DEFAULT_WORKSPACE_MB, strict=False, dynamic=None,
                timing_cache=None, log=print):
    """Build (or reuse) an engine per precision for this GPU, record them, save the manifest atomically.

    precisions: some of "fp32", "fp16", "int8". dynamic: the batch range (min, opt, max) or
    {"min", "opt", "max"}; default the manifest's input.batch. timing_cache: a file to load and
    save the builder's timing cache; default `timing-<device key>.cache` in the bundle.
    Returns the engine entries, in the order asked (a precision that resolves to an engine already
    in the list is not repeated).
    """
    trt = compat.load()   # first: without TensorRT nothing is read or written
    wanted = _check_precisions(precisions)
    if int(workspace_mb) < 1:
        raise EdgeError("workspace must be at least 1 MB, got {}".format(workspace_mb))
    bundle = Bundle.load(bundle_dir)
    input_format = _input_format(trt, bundle)
    _check_source_model(bundle, input_format, bundle_dir)
    batch = _batch_range(dynamic, bundle)
    device = compat.device_description(trt)
    fast = compat.platform_capabilities(trt, device["compute_capability"])
    log("TensorRT {} on {} ({}, from {}): fast FP16 {}, fast INT8 {}".format(
        device["tensorrt_version"], device["gpu"], compat.sm(device["compute_capability"]), device["source"],
        _yes(fast["fp16"]), _yes(fast["int8"])))
    if input_format != bundle.input_format:
        log("note: TensorRT {} has no uint8 inputs: building from the bundle's {}".format(
            compat.version(trt), "float-pixel models; the runner only widens frames to float32 for these engines"
            if input_format == INPUT_PIXELS else "float-input models (an older export); the runner normalises "
            "frames on the host for these engines"))
    jobs = _plan(trt, bundle, wanted, fast, device, batch, strict, input_format, log)

    cache_path = timing_cache or os.path.join(bundle.path, "timing-{}.cache".format(_device_key(device)))
    timing = _read_bytes(cache_path)
    timing_before = timing
    created, entries = [], []
    try:
        for job in jobs:
            entry = _reuse(bundle, job, log)
            if entry is None:
                path = os.path.join(bundle.path, job.file)
                existed = os.path.exists(path)
                entry, timing = _build(trt, bundle, job, batch, workspace_mb, timing, fast, device, log)
                if not existed:
                    created.append(path)
            entries.append(_served(entry, job.requests))
        if timing is not None and timing != timing_before:
            write_bytes(cache_path, timing)
        for entry in entries:
            put_artifact(bundle.manifest, entry)
        if timing is not None and _inside(bundle.path, cache_path):
            # Every file in the bundle is listed with its sha256, the timing cache included.
            put_artifact(bundle.manifest, artifact_entry(
                bundle.path, os.path.basename(cache_path), "timing_cache", tensorrt_version=device["tensorrt_version"],
                gpu=device["gpu"], compute_capability=device["compute_capability"]))
        bundle.save()
    except BaseException:
        for path in created:
            if os.path.exists(path):
                os.unlink(path)
        raise
    return entries


def _served(entry, requests):
    """`entry` noting every precision asked for that it serves (int8 asked on a Nano -> the fp16 engine)."""
    also = [r for r in list(entry.get("also_requested") or []) + requests if r != entry["requested_precision"]]
    entry = dict(entry)
    if also:
        entry["also_requested"] = sorted(set(also), key=PRECISIONS.index)
    return entry


def _yes(flag):
    return "yes" if flag else "no"


def _check_precisions(precisions):
    if isinstance(precisions, str):
        precisions = [precisions]
    wanted = []
    for precision in precisions or []:
        if precision not in PRECISIONS:
            raise EdgeError("unknown engine precision {!r}; choose from {}".format(precision, ", ".join(PRECISIONS)))
        if precision not in wanted:
            wanted.append(precision)
    if not wanted:
        raise EdgeError("no engine precision given; choose from {}".format(", ".join(PRECISIONS)))
    return wanted


def _input_format(trt, bundle):
    """The input the engines will take: the bundle's, or where this TensorRT has no uint8 (8.2) float pixels
    (float32 NHWC BGR, normalised in the graph), else an older bundle's normalised float input."""
    if bundle.input_format != INPUT_UINT8 or compat.takes_uint8(trt):
        return bundle.input_format
    for input_format in (INPUT_PIXELS, INPUT_FLOAT):
        if bundle.onnx("fp32", input_format=input_format) is not None:
            return input_format
    raise EdgeError("this bundle's ONNX takes uint8 input (fused preprocessing), which TensorRT {} cannot read "
                    "(8.5+ can), and it carries no float-pixel model (an older edge-export made it): "
                    "re-export it with this edge-export".format(compat.version(trt)))


def _batch_range(dynamic, bundle):
    if dynamic is None:
        low, opt, high = bundle.batch_range
    elif isinstance(dynamic, dict):
        low, opt, high = dynamic["min"], dynamic["opt"], dynamic["max"]
    else:
        values = list(dynamic)
        if len(values) != 3:
            raise EdgeError("dynamic batch must be (min, opt, max), got {!r}".format(dynamic))
        low, opt, high = values
    low, opt, high = int(low), int(opt), int(high)
    if not 1 <= low <= opt <= high:
        raise EdgeError("batch range must satisfy 1 <= min <= opt <= max, got {}..{}..{}".format(low, opt, high))
    return low, opt, high


def _plan(trt, bundle, wanted, fast, device, batch, strict, input_format, log):
    """Every decision and check before anything is built or written (strict refusals included)."""
    gpu = "{} ({})".format(device["gpu"], compat.sm(device["compute_capability"]))
    jobs, warnings = [], []
    for requested in wanted:
        precision, warning = build.choose_precision(requested, fast, gpu, strict)
        if warning:
            warnings.append(warning)
        job = _sources(trt, bundle, requested, precision, input_format)
        job.input_format = input_format
        extra = job.calibration["sha256"] if job.calibration else None
        job.key = engine_key(job.source["sha256"], device["tensorrt_version"], device["gpu"],
                             device["compute_capability"], precision, batch, bundle.item_shape(input_format),
                             extra)
        job.file = engine_file_name(precision, job.key)
        same = [other for other in jobs if other.key == job.key]
        if same:
            log("note: {} resolves to the {} engine already listed; built once".format(requested, precision))
            same[0].requests.append(requested)
            continue
        jobs.append(job)
    for warning in warnings:
        log(warning)
    return jobs


def _sources(trt, bundle, requested, precision, input_format):
    fp32 = bundle.onnx("fp32", input_format=input_format)
    if precision != "int8":
        return _Job(requested, precision, fp32)
    qdq = bundle.onnx("int8", flavor=TENSORRT_INT8, input_format=input_format)
    if qdq is not None:
        bundle.check(qdq)
        return _Job(requested, precision, qdq)
    cache = bundle.artifact("calibration_cache")
    if cache is None:
        raise EdgeError("an INT8 engine needs the bundle's TensorRT INT8 model ({}) or a calibration cache: "
                        "re-export with --int8 --calib DIR".format(TENSORRT_INT8))
    if cache.get("onnx_file", fp32["file"]) != fp32["file"]:
        raise EdgeError("the bundle's calibration cache is for {}, not {}: re-export with --int8 --calib DIR".format(
            cache.get("onnx_file"), fp32["file"]))
    if not compat.implicit_int8(trt):
        raise EdgeError("TensorRT {} builds INT8 from a QDQ model only (calibration caches are deprecated there) "
                        "and this bundle has just a calibration cache: re-export with --int8 --int8-flavors "
                        "{}".format(compat.version(trt), TENSORRT_INT8))
    bundle.check(cache)
    return _Job(requested, precision, fp32, calibration=cache)


def _device_key(device):
    text = json.dumps([device["tensorrt_version"], device["gpu"], device["compute_capability"]])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _inside(folder, path):
    return os.path.dirname(os.path.abspath(path)) == os.path.abspath(folder)


def _read_bytes(path):
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        return handle.read()


def _reuse(bundle, job, log):
    """The listed engine with this key when its file is intact, else None (it gets built)."""
    entry = bundle.artifact("tensorrt_engine", key=job.key)
    path = os.path.join(bundle.path, job.file)
    if entry is None or entry["file"] != job.file or not os.path.isfile(path):
        return None
    if sha256_file(path) != entry.get("sha256"):
        log("{} does not match its sha256: rebuilding it".format(job.file))
        return None
    log("{}: already built for this GPU, TensorRT and model; reused, not rebuilt".format(job.file))
    return entry


def _build(trt, bundle, job, batch, workspace_mb, timing, fast, device, log):
    """Build one engine, write it atomically; (artifact entry, timing cache bytes)."""
    calibrator = None
    if job.calibration is not None:
        if job.calibration.get("tensorrt_version") not in (None, device["tensorrt_version"]):
            log("warning: the calibration cache was made with TensorRT {}, this is {}; TensorRT may refuse it".format(
                job.calibration.get("tensorrt_version"), device["tensorrt_version"]))
        with open(bundle.file(job.calibration), "rb") as handle:
            calibrator = make_calibrator(trt, job.calibration.get("method", "entropy"), cache=handle.read())
    low, opt, high = batch
    log("building {} engine from {} (batch {}, workspace {} MB{})".format(
        job.precision, job.source["file"], low if low == high else "{}..{} (opt {})".format(low, high, opt),
        workspace_mb, ", INT8 from the QDQ model" if job.precision == "int8" and calibrator is None
        else ", INT8 from the calibration cache" if calibrator is not None else ""))
    request = build.BuildRequest(bundle.file(job.source), job.precision, batch, workspace_mb, timing,
                                 calibrator, fast_fp16=fast["fp16"], opset=job.source.get("opset"))
    started = time.time()
    try:
        result = build.build(trt, request, log)
    except EdgeError as exc:
        if calibrator is not None:
            raise EdgeError("{} (with a calibration cache from another TensorRT, re-export with --int8 on a "
                            "machine with this TensorRT)".format(exc))
        raise
    write_bytes(os.path.join(bundle.path, job.file), result.plan)
    entry = artifact_entry(
        bundle.path, job.file, "tensorrt_engine", precision=job.precision, requested_precision=job.requested,
        tensorrt_version=device["tensorrt_version"], gpu=device["gpu"],
        compute_capability=device["compute_capability"], onnx_file=job.source["file"],
        onnx_sha256=job.source["sha256"], batch={"min": low, "opt": opt, "max": high},
        workspace_mb=int(workspace_mb), key=job.key, input_shape=bundle.item_shape(job.input_format),
        input_format=job.input_format,
        builder_flags=result.flags,
        int8_mode=None if job.precision != "int8" else "implicit-calibration" if calibrator else "explicit-qdq",
        calibration_cache_sha256=job.calibration["sha256"] if job.calibration else None)
    log("wrote {} ({:.1f} MB in {:.1f} s; timing cache {})".format(
        job.file, entry["bytes"] / 2.0 ** 20, time.time() - started, result.timing_status))
    return entry, result.timing_cache


