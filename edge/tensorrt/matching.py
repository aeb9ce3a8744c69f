"""Which engine in a bundle fits this device: engine keys and the lookup every consumer uses.

Engines are tied to the GPU and the TensorRT version, so each is named by a key of the ONNX
sha256, TensorRT version, GPU name, compute capability, precision and input shapes
(`engine-fp16-<key>.plan`): an engine built elsewhere is never picked up. The GPU is compared
as edge.cuda.gpu names it, so an engine keyed while nvidia-smi answered ("Orin (nvgpu)") still fits
when CUDA answers ("Orin"). Python 3.6 compatible, no torch.
"""

import hashlib
import json

from edge.bundle.schema import PRECISIONS
from edge.cuda.gpu import same_gpu
from edge.tensorrt.compat import sm

RANK = dict((precision, rank) for rank, precision in enumerate(PRECISIONS))  # the faster, the higher


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


def serves(entry, precision):
    """True when `entry` answers a request for `precision` (built as it, or asked as it)."""
    return precision in [entry.get("precision"), entry.get("requested_precision")] + \
        list(entry.get("also_requested") or [])


def find_engine(bundle, precision, device):
    """(engine entry, None) built for `device` from the bundle's current ONNX, or (None, why).

    device: {"gpu", "compute_capability", "tensorrt_version"} of the machine that will run it.
    precision: "fp32" | "fp16" | "int8" (an engine built as another precision because this GPU
    lacks it counts, as its requested_precision says), or "auto": the fastest engine that fits.
    `why` names the command that builds the right one: edge-export BUNDLE --engine PRECISION.
    """
    engines = bundle.artifacts("tensorrt_engine")
    if precision != "auto":
        engines = [entry for entry in engines if serves(entry, precision)]
    fitting, problems = [], []
    for entry in engines:
        problem = mismatch(bundle, entry, device)
        if problem is None:
            fitting.append(entry)
        else:
            problems.append(problem)
    if fitting:
        best = max(fitting, key=lambda e: (e.get("precision") == precision, RANK.get(e.get("precision"), -1)))
        return best, None
    rebuild = build_command(bundle, "fp16" if precision == "auto" else precision)
    if problems:
        return None, "{}: rebuild it on this device with: {}".format(problems[0], rebuild)
    return None, "the bundle has no {} engine: build it on this device with: {}".format(
        "TensorRT" if precision == "auto" else precision, rebuild)


def build_command(bundle, precision):
    return "edge-export {} --engine {}".format(bundle.path, precision)


def mismatch(bundle, entry, device):
    """Why `entry` cannot run on `device` (None when it can)."""
    if not isinstance(entry.get("batch"), dict) or not entry.get("key"):
        return "{} lacks its batch range or key (an older edge-export made it)".format(entry["file"])
    same = same_gpu(entry.get("gpu"), entry.get("compute_capability"), device["gpu"],
                        device["compute_capability"])
    if not same or str(entry.get("tensorrt_version")) != str(device["tensorrt_version"]):
        return "{} was built for {} ({}) with TensorRT {}; this is {} ({}) with TensorRT {}".format(
            entry["file"], entry.get("gpu"), sm(entry.get("compute_capability")), entry.get("tensorrt_version"),
            device["gpu"], sm(device["compute_capability"]), device["tensorrt_version"])
    source = bundle.artifact("onnx", file=entry.get("onnx_file"))
    if source is None or source.get("sha256") != entry.get("onnx_sha256"):
        return "{} was built from an older {}".format(entry["file"], entry.get("onnx_file"))
    # The key was made with the GPU name as it was read then: recompute it with that name.
    key = engine_key(entry.get("onnx_sha256"), device["tensorrt_version"], entry.get("gpu"),
                     device["compute_capability"], entry.get("precision"), entry.get("batch"),
                     entry.get("input_shape"), entry.get("calibration_cache_sha256"))
    if key != entry.get("key"):
        return "{} does not carry the key of this device and model".format(entry["file"])
    return None
