"""The models edge-export writes into a bundle, one phase per function: fp32 ONNX, its check
against PyTorch, the INT8 QDQ flavors, and a fused bundle's float-pixel family for TensorRT 8.2.

A family is the models taking one input format (edge.bundle.schema): a plain bundle's take
INPUT_FLOAT; a fused bundle's own take INPUT_UINT8, and beside them the float-pixel family
(INPUT_PIXELS: model.pixels.onnx and its TensorRT INT8 flavor) is what TensorRT 8.2, without uint8
inputs, builds from. Both fused families are the same wrapper (export.fuse) and are verified the
same way, the float-pixel one on the same frames widened to float32.

Each phase writes into the staging folder and adds its manifest entries, `input_format` included.
Phases take what they use as arguments (export.pipeline runs them in order): the loaded
`ModelSource`, the staging folder, the manifest being built, a `Graphs` family, the golden set or
the `CalibrationImages`, and the option values that shape that phase.
"""

import os
import shutil
import tempfile

from edge.bundle.bundle import artifact_entry, put_artifact
from edge.bundle.schema import INPUT_FLOAT, INPUT_PIXELS, INPUT_UINT8, PIXEL_FORMATS, TENSORRT_INT8
from edge.errors import EdgeError
from edge.bundle.golden import FILE as GOLDEN_FILE, frames_as
from edge.util.lazy import available
from edge.bundle.preprocess import preprocess_batch
from export import quantize, verify
from export.fuse import example_input, fused_module
from export.onnx_export import export_onnx, keep_used_opsets, onnx_opset

FP32_FILE = "model.onnx"


class Graphs(object):
    """One family of models the bundle carries: its fp32 file and what its input is (edge.bundle.schema)."""

    def __init__(self, input_format, suffix=""):
        self.input_format = input_format
        self.fused = input_format in PIXEL_FORMATS     # the graph normalises (export.fuse's wrapper)
        self.suffix = suffix

    def file(self, name):
        """`name` for this family: model.onnx, or model.pixels.onnx for a fused bundle's float-pixel family."""
        return name[:-len(".onnx")] + self.suffix + ".onnx" if self.suffix else name

    def images(self, images, spec):
        """This family's input batch for decoded BGR `images`: resized as edge.bundle.preprocess does, then
        normalised (INPUT_FLOAT), or kept as uint8 frames, or widened to float32 (INPUT_PIXELS)."""
        return frames_as(preprocess_batch(images, spec, fused=True), spec, self.input_format)

    @property
    def words(self):
        """How the log names this family where it is not the bundle's own ("" for that)."""
        return " (float pixels, for TensorRT 8.2)" if self.suffix else ""


class CalibrationImages(object):
    """The decoded --calib sample: frames to calibrate on, and hold-out frames to judge INT8 against FP32 on,
    with their truth where the folder labels them (the task's holdout_truth: a classifier's class indices, a
    regression model's points in pixels), else None."""

    def __init__(self, frames, holdout, holdout_truth=None):
        self.frames = frames
        self.holdout = holdout
        self.holdout_truth = holdout_truth


def graph_families(fuse_preprocess):
    """The bundle's own models, then (fused bundles) the float-pixel ones TensorRT 8.2 builds from."""
    if not fuse_preprocess:
        return Graphs(INPUT_FLOAT), None
    return Graphs(INPUT_UINT8), Graphs(INPUT_PIXELS, suffix=".pixels")


def write_fp32(source, bundle_dir, manifest, graphs, opset, dynamic_batch, log):
    """This family's fp32 ONNX: exported from PyTorch (fused or not), or the ONNX input copied.

    opset: the ONNX opset to write; dynamic_batch: whether the batch axis is dynamic (the manifest's
    batch range says up to what).
    """
    name = graphs.file(FP32_FILE)
    path = os.path.join(bundle_dir, name)
    if source.kind == "onnx":
        log("copying {} (opset {})".format(source.onnx_path, source.details.get("opset")))
        shutil.copyfile(source.onnx_path, path)
    else:
        batch = manifest["input"]["batch"]
        log("exporting ONNX fp32 (opset {}, batch {}{})".format(
            opset, "1..{} dynamic".format(batch["max"]) if dynamic_batch else "1 static",
            ", fused preprocessing, float32 pixel input for TensorRT 8.2" if graphs.suffix else
            ", fused preprocessing, uint8 input" if graphs.fused else ""))
        model = fused_module(source.model, source.spec) if graphs.fused else source.model
        export_onnx(model, path, example_input(source.spec, input_format=graphs.input_format), opset=opset,
                    dynamic_batch=dynamic_batch,
                    input_name=manifest["input"]["name"], output_name=manifest["output"]["name"])
    keep_used_opsets(path)   # before its sha256 goes into the manifest
    return put_artifact(manifest, artifact_entry(bundle_dir, name, "onnx", precision="fp32", opset=onnx_opset(path),
                                                 input_format=graphs.input_format))


def verify_fp32(source, bundle_dir, manifest, golden, graphs, tolerance, log):
    """ONNX Runtime vs PyTorch on the golden frames: the manifest record, or VerificationFailed.

    A fused family is judged against the unfused PyTorch model on the host's preprocessing of the same
    frames (the float-pixel family's fed them widened to float32): that is the check that fusing
    changed nothing. The reference outputs computed here are the golden set's (PyTorch's; ONNX Runtime
    fp32's for an ONNX input, which has no other reference). tolerance: the fp32 tolerance (export.verify).
    """
    runner = verify.OnnxCpu(os.path.join(bundle_dir, graphs.file(FP32_FILE)),
                            max_batch=manifest["input"]["batch"]["max"])
    candidate = runner(golden.inputs_as(source.spec, graphs.input_format))
    if candidate.ndim != 2 or candidate.shape[1] != len(source.classes):
        raise EdgeError("the ONNX model gives outputs of shape {} for {} classes".format(
            candidate.shape, len(source.classes)))
    if not source.has_torch_model:
        golden.reference, golden.reference_name = candidate, "onnxruntime-fp32"
        log("verifying fp32: skipped (input is an ONNX file, no PyTorch reference); runs in ONNX Runtime")
        return {"inputs": len(golden), "source": golden.source, "skipped": True,
                "reason": "input was an ONNX file: no PyTorch reference"}
    log("verifying fp32{}: ONNX Runtime vs PyTorch{} on {} inputs ({})".format(
        graphs.words, " (the unfused model: checks the fused preprocessing)" if graphs.fused else "",
        len(golden), golden.source))
    if golden.reference is None:
        golden.reference = verify.torch_logits(source.model, golden.inputs(source.spec))   # the unfused model
    record = verify.verify_fp32(golden.reference, candidate, tolerance, golden.source, source.task, source.spec)
    if graphs.fused:
        record["reference"] = "unfused PyTorch model on edge.bundle.preprocess output"
        record["input_format"] = graphs.input_format
    log("  max abs diff {:.2e} (tolerance {:.1e}), {}".format(record["max_abs_diff"], record["tolerance"],
                                                            source.task.fp32_text(record)))
    return record


def write_golden(bundle_dir, manifest, golden, spec, log):
    """golden.npz: the verification frames and their reference outputs, for edge-doctor on the device."""
    extra = golden.save(bundle_dir, spec)
    entry = put_artifact(manifest, artifact_entry(bundle_dir, GOLDEN_FILE, "golden", **extra))
    log("golden set: {} {} frames and {} outputs ({:.1f} MB)".format(
        len(golden), golden.source, golden.reference_name, entry["bytes"] / 2.0 ** 20))
    return entry


def write_int8(source, bundle_dir, manifest, calibration, graphs, flavors, method, bar, log):
    """The INT8 QDQ `flavors` of this family, calibrated with `method` on `calibration` (CalibrationImages),
    each judged against its fp32 model on the hold-out by the model's task: VerificationFailed past `bar`
    (a classifier's least top-1 agreement, a regression model's most MAE increase in pixels)."""
    input_name = manifest["input"]["name"]
    calib_batch = graphs.images(calibration.frames, source.spec)
    holdout_batch = graphs.images(calibration.holdout, source.spec)
    max_batch = manifest["input"]["batch"]["max"]
    fp32_path = os.path.join(bundle_dir, graphs.file(FP32_FILE))
    fp32_logits = verify.OnnxCpu(fp32_path, max_batch)(holdout_batch)
    records = {}
    with tempfile.TemporaryDirectory(prefix="edge-export-int8-") as scratch:
        prepared = quantize.preprocess_for_quantization(fp32_path, os.path.join(scratch, "prepared.onnx"))
        # A regression model's head stays float: its outputs are pixel positions (export.quantize).
        float_nodes = quantize.output_nodes(prepared) if source.task.float_head else ()
        for flavor in flavors:
            file_name = graphs.file(quantize.FLAVORS[flavor]["file"])
            log("quantizing INT8 {}{} ({} calibration, {} images)".format(
                flavor, graphs.words, method, len(calib_batch)))
            extra = quantize.quantize_flavor(prepared, os.path.join(bundle_dir, file_name), flavor, input_name,
                                              calib_batch, method=method, float_nodes=float_nodes)
            int8_logits = verify.OnnxCpu(os.path.join(bundle_dir, file_name), max_batch)(holdout_batch)
            record = verify.int8_figures(source, calibration, fp32_logits, int8_logits)
            log("  " + source.task.int8_text(record))
            if graphs.fused:
                record["reference"] = "the fp32 model of the same input, verified against the unfused PyTorch model"
            records[flavor] = verify.judge_int8(source.task, record, flavor, bar)
            put_artifact(manifest, artifact_entry(bundle_dir, file_name, "onnx", input_format=graphs.input_format,
                                                  **extra))
    return records


def write_pixel_models(source, bundle_dir, manifest, golden, calibration, graphs, options, log):
    """A fused bundle's float-pixel models (fp32, TensorRT INT8): what TensorRT 8.2, without uint8, builds from.

    `options` (export.options.ExportOptions) as for the bundle's own family; calibration is None without INT8.
    """
    write_fp32(source, bundle_dir, manifest, graphs, options.opset, options.dynamic_batch is not None, log)
    figures = {"fp32": verify_fp32(source, bundle_dir, manifest, golden, graphs, options.fp32_tolerance, log),
               "int8": {}}
    if calibration is not None and TENSORRT_INT8 in options.int8_flavors:
        figures["int8"] = write_int8(source, bundle_dir, manifest, calibration, graphs, [TENSORRT_INT8],
                                     options.calib_method, options.int8_bar(source.task), log)
    return figures


def write_calibration_cache(source, bundle_dir, manifest, calibration, graphs, method, log):
    """A TensorRT calibration cache for `graphs`' fp32 model (the float-pixel one of a fused bundle: TensorRT 8.2,
    the one that calibrates, takes no uint8), when TensorRT is here (else the device can)."""
    if not available("tensorrt"):
        log("calibration cache: skipped (TensorRT is not installed here; the QDQ models carry the scales)")
        return None
    batches = [batch[None] for batch in graphs.images(calibration.frames, source.spec)]
    log("writing TensorRT calibration cache ({} images)".format(len(batches)))
    from edge.tensorrt.calibration_cache import write_calibration_cache as calibrate  # only when TensorRT is here
    entry = calibrate(bundle_dir, graphs.file(FP32_FILE), batches, method, log=log)
    return put_artifact(manifest, entry)
