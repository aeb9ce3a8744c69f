"""The device half of edge-export: a bundle in, TensorRT engines for THIS GPU out.

Runs on the Jetson (no torch, Python 3.6). Public entry points (export/cli.py, the TensorRT runner):

    add_engines(bundle_dir, precisions, workspace_mb=256, strict=False, dynamic=None, timing_cache=None,
                log=print) -> [engine artifact entries]
    write_calibration_cache(bundle_dir, onnx_file, batches, method, log=print) -> calibration_cache entry
    engine_key(onnx_sha256, tensorrt_version, gpu, compute_capability, precision, batch, input_shape=None,
               extra=None) -> 12 hex digits
    find_engine(bundle, precision, device) -> (entry, None) or (None, why with the rebuild command)
    platform_capabilities(trt) -> {"fp16": bool, "int8": bool}
    device_description(trt) -> {"gpu", "compute_capability", "tensorrt_version", "source"}

Engines are tied to the GPU and the TensorRT version, so each is named by a key of the ONNX
sha256, TensorRT version, GPU name, compute capability, precision and input shapes
(`engine-fp16-<key>.plan`): an engine built elsewhere is never picked up, and one already built
here for the same key is reused instead of rebuilt.

Precision policy (export.trt_build.choose_precision): the builder is asked first. INT8 where the
GPU has no fast INT8 (Nano sm_53, TX2 sm_62) builds FP16 with one warning line (strict=True
refuses); FP16 without fast FP16 builds FP32 likewise. The manifest records both.

INT8 comes from the bundle's TensorRT QDQ model when it has one (explicit quantization, any
TensorRT); else, on 8.x only, from its calibration cache (implicit, through a calibrator).

All or nothing: every check runs before the first build; engines are written atomically; on any
failure the engines written by this call are removed and the manifest and timing cache are left
as they were.
"""

import hashlib
import json
import os
import time

from edge.atomic import sha256_file, write_bytes
from edge.bundle import Bundle, artifact_entry, put_artifact
from edge.errors import EdgeError
from export import trt_build, trt_compat

PRECISIONS = trt_build.PRECISIONS
RANK = {"fp32": 0, "fp16": 1, "int8": 2}
CALIBRATION_CACHE = "calibration.cache"
CALIBRATION_BATCH = 8            # calibration batch size when the ONNX batch axis is dynamic
TRT_INT8_FLAVOUR = "tensorrt-qdq-s8s8"


def engine_key(onnx_sha256, tensorrt_version, gpu, compute_capability, precision, batch, input_shape=None,
               extra=None):
    """12 hex digits of sha256 over everything that ties an engine to a device and a model.

    batch: (min, opt, max) or {"min", "opt", "max"}; input_shape: one item's shape without the
    batch axis; extra: anything else the engine depends on (the calibration cache's sha256).
    """
    if isinstance(batch, dict):
        batch = (batch["min"], batch["opt"], batch["max"])
    fields = [onnx_sha256, str(tensorrt_version), gpu, str(compute_capability), precision,
              [int(b) for b in batch], [int(d) for d in input_shape] if input_shape is not None else None, extra]
    return hashlib.sha256(json.dumps(fields).encode("utf-8")).hexdigest()[:12]


def engine_file_name(precision, key):
    return "engine-{}-{}.plan".format(precision, key)


def device_description(trt):
    return trt_compat.device_description(trt)


def platform_capabilities(trt, compute_capability=None):
    """{"fp16", "int8"}: does this GPU have fast FP16 / INT8 (the builder is asked)."""
    builder = trt.Builder(trt.Logger(trt.Logger.WARNING))
    return trt_compat.fast_precisions(builder, compute_capability)


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
        self.requests = [requested]       # every precision asked for that this engine serves


def add_engines(bundle_dir, precisions, workspace_mb=256, strict=False, dynamic=None, timing_cache=None, log=print):
    """Build (or reuse) an engine per precision for this GPU, record them, save the manifest atomically.

    precisions: some of "fp32", "fp16", "int8". dynamic: the batch range (min, opt, max) or
    {"min", "opt", "max"}; default the manifest's input.batch. timing_cache: a file to load and
    save the builder's timing cache; default `timing-<device key>.cache` in the bundle.
    Returns the engine entries, in the order asked (a precision that resolves to an engine already
    in the list is not repeated).
    """
    trt = trt_compat.load()   # first: without TensorRT nothing is read or written
    wanted = _check_precisions(precisions)
    if int(workspace_mb) < 1:
        raise EdgeError("workspace must be at least 1 MB, got {}".format(workspace_mb))
    bundle = Bundle.load(bundle_dir)
    _check_input_type(trt, bundle)
    fp32 = bundle.artifact("onnx", precision="fp32")
    if fp32 is None:
        raise EdgeError("bundle {} has no fp32 ONNX model to build from; re-run edge-export".format(bundle_dir))
    bundle.check(fp32)
    batch = _batch_range(dynamic, bundle)
    device = trt_compat.device_description(trt)
    fast = platform_capabilities(trt, device["compute_capability"])
    log("TensorRT {} on {} ({}, from {}): fast FP16 {}, fast INT8 {}".format(
        device["tensorrt_version"], device["gpu"], trt_compat.sm(device["compute_capability"]), device["source"],
        _yes(fast["fp16"]), _yes(fast["int8"])))
    jobs = _plan(trt, bundle, wanted, fast, device, batch, strict, log)

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


def _check_input_type(trt, bundle):
    if bundle.fused_preprocess and not hasattr(trt.DataType, "UINT8"):
        raise EdgeError("this bundle's ONNX takes uint8 input (--fuse-preprocess), which TensorRT {} cannot "
                        "read (8.5+ can); export without --fuse-preprocess for JetPack 4.6".format(
                            trt_compat.version(trt)))


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


def _input_shape(bundle):
    return [int(d) for d in bundle.manifest["input"]["shape"][1:]]


def _plan(trt, bundle, wanted, fast, device, batch, strict, log):
    """Every decision and check before anything is built or written (strict refusals included)."""
    gpu = "{} ({})".format(device["gpu"], trt_compat.sm(device["compute_capability"]))
    jobs, warnings = [], []
    for requested in wanted:
        precision, warning = trt_build.choose_precision(requested, fast, gpu, strict)
        if warning:
            warnings.append(warning)
        job = _sources(trt, bundle, requested, precision)
        extra = job.calibration["sha256"] if job.calibration else None
        job.key = engine_key(job.source["sha256"], device["tensorrt_version"], device["gpu"],
                             device["compute_capability"], precision, batch, _input_shape(bundle), extra)
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


def _sources(trt, bundle, requested, precision):
    fp32 = bundle.artifact("onnx", precision="fp32")
    if precision != "int8":
        return _Job(requested, precision, fp32)
    qdq = bundle.artifact("onnx", precision="int8", flavour=TRT_INT8_FLAVOUR)
    if qdq is not None:
        bundle.check(qdq)
        return _Job(requested, precision, qdq)
    cache = bundle.artifact("calibration_cache")
    if cache is None:
        raise EdgeError("an INT8 engine needs the bundle's TensorRT INT8 model ({}) or a calibration cache: "
                        "re-export with --int8 --calib DIR".format(TRT_INT8_FLAVOUR))
    if not trt_compat.implicit_int8(trt):
        raise EdgeError("TensorRT {} builds INT8 from a QDQ model only (calibration caches are deprecated there) "
                        "and this bundle has just a calibration cache: re-export with --int8 --int8-flavours "
                        "{}".format(trt_compat.version(trt), TRT_INT8_FLAVOUR))
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
    from export.calibrator import make_calibrator

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
    request = trt_build.BuildRequest(bundle.file(job.source), job.precision, batch, workspace_mb, timing,
                                     calibrator, fast_fp16=fast["fp16"], opset=job.source.get("opset"))
    started = time.time()
    try:
        result = trt_build.build(trt, request, log)
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
        workspace_mb=int(workspace_mb), key=job.key, input_shape=_input_shape(bundle),
        builder_flags=result.flags,
        int8_mode=None if job.precision != "int8" else "implicit-calibration" if calibrator else "explicit-qdq",
        calibration_cache_sha256=job.calibration["sha256"] if job.calibration else None)
    log("wrote {} ({:.1f} MB in {:.1f} s; timing cache {})".format(
        job.file, entry["bytes"] / 2.0 ** 20, time.time() - started, result.timing_status))
    return entry, result.timing_cache


# ----------------------------------------------------------------------------- calibration cache

def write_calibration_cache(bundle_dir, onnx_file, batches, method, log=print):
    """Calibrate `onnx_file` (in `bundle_dir`) on float32 NCHW `batches`; write `calibration.cache`.

    method: "entropy" (IInt8EntropyCalibrator2) or "minmax" (IInt8MinMaxCalibrator); "percentile",
    ONNX Runtime's, has no TensorRT calibrator and uses entropy (said, and recorded as
    requested_method). Works without a manifest (edge-export calls it while staging). Needs a GPU
    and pycuda or cuda-python. Returns the artifact entry (not yet put into any manifest).
    """
    trt = trt_compat.load()
    from edge import cuda_memory
    from export.calibrator import make_calibrator, regroup, resolve_method

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
        onnx_file, trt_compat.version(trt), chosen, len(grouped), batch_size))
    request = trt_build.BuildRequest(path, "int8", (batch_size,) * 3, trt_build.DEFAULT_WORKSPACE_MB,
                                     calibrator=calibrator)
    try:
        trt_build.build(trt, request, log)
    finally:
        calibrator.release()
    if not calibrator.cache:
        raise EdgeError("TensorRT calibrated {} but wrote no calibration cache".format(onnx_file))
    write_bytes(os.path.join(bundle_dir, CALIBRATION_CACHE), calibrator.cache)
    extra = {"requested_method": method} if method != chosen else {}
    return artifact_entry(bundle_dir, CALIBRATION_CACHE, "calibration_cache", method=chosen,
                          images=len(grouped) * batch_size, tensorrt_version=trt_compat.version(trt),
                          batch_size=batch_size, onnx_file=onnx_file, onnx_sha256=sha256_file(path), **extra)


def _single_float_input(trt, path):
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network, parser = trt_build.parse(trt, builder, logger, path)
    if network.num_inputs != 1:
        raise EdgeError("calibration supports models with one input; {} has {}".format(
            os.path.basename(path), network.num_inputs))
    tensor = network.get_input(0)
    if tensor.dtype != trt.DataType.FLOAT:
        raise EdgeError("calibration feeds float32 NCHW images; {} input {!r} is {}".format(
            os.path.basename(path), tensor.name, tensor.dtype))
    return tensor.name, [int(d) for d in tensor.shape]


# ----------------------------------------------------------------------------- find_engine

def find_engine(bundle, precision, device):
    """(engine entry, None) built for `device` from the bundle's current ONNX, or (None, why).

    device: {"gpu", "compute_capability", "tensorrt_version"} of the machine that will run it.
    precision: "fp32" | "fp16" | "int8" (an engine built as another precision because this GPU
    lacks it counts, as its requested_precision says), or "auto": the fastest engine that fits.
    `why` names the command that builds the right one: edge-export BUNDLE --engine PRECISION.
    """
    engines = bundle.artifacts("tensorrt_engine")
    if precision != "auto":
        engines = [e for e in engines if precision in [e.get("precision"), e.get("requested_precision")] +
                   list(e.get("also_requested") or [])]
    fitting, problems = [], []
    for entry in engines:
        problem = _mismatch(bundle, entry, device)
        if problem is None:
            fitting.append(entry)
        else:
            problems.append(problem)
    if fitting:
        best = max(fitting, key=lambda e: (e.get("precision") == precision, RANK.get(e.get("precision"), -1)))
        return best, None
    rebuild = "edge-export {} --engine {}".format(bundle.path, "fp16" if precision == "auto" else precision)
    if problems:
        return None, "{}: rebuild it on this device with: {}".format(problems[0], rebuild)
    return None, "the bundle has no {} engine: build it on this device with: {}".format(
        "TensorRT" if precision == "auto" else precision, rebuild)


def _mismatch(bundle, entry, device):
    """Why `entry` cannot run on `device` (None when it can)."""
    if not isinstance(entry.get("batch"), dict) or not entry.get("key"):
        return "{} lacks its batch range or key (an older edge-export made it)".format(entry["file"])
    ours = (device["gpu"], str(device["compute_capability"]), str(device["tensorrt_version"]))
    theirs = (entry.get("gpu"), str(entry.get("compute_capability")), str(entry.get("tensorrt_version")))
    if ours != theirs:
        return "{} was built for {} ({}) with TensorRT {}; this is {} ({}) with TensorRT {}".format(
            entry["file"], theirs[0], trt_compat.sm(theirs[1]), theirs[2], ours[0], trt_compat.sm(ours[1]), ours[2])
    source = bundle.artifact("onnx", file=entry.get("onnx_file"))
    if source is None or source.get("sha256") != entry.get("onnx_sha256"):
        return "{} was built from an older {}".format(entry["file"], entry.get("onnx_file"))
    key = engine_key(entry.get("onnx_sha256"), device["tensorrt_version"], device["gpu"],
                     device["compute_capability"], entry.get("precision"), entry.get("batch"),
                     entry.get("input_shape"), entry.get("calibration_cache_sha256"))
    if key != entry.get("key"):
        return "{} does not carry the key of this device and model".format(entry["file"])
    return None
