"""The desktop export as a plain callable: a model file in, a verified bundle out.

    from export import export_bundle
    manifest = export_bundle("runs/x/model.pt", "bundle/", int8=True, calib="data/val")
    # or export_bundle(..., options=ExportOptions(int8=True, calib="data/val"))

Everything is checked before anything is loaded or written (the options, the opset, TensorRT when
engines are asked for, the output folder, the image folders); then the model is loaded, the
images decoded, and the bundle built in a staging folder (export.bundle_writer) by the phases of
export.bundle_models, swapped in only when every check passed. A failed check raises EdgeError
(VerificationFailed, exit code 3, for a model that disagrees with its reference) and leaves the
previous bundle untouched. Progress goes to `log`, one line per call.
"""

import os

from edge.bundle.bundle import new_manifest, read_manifest, write_manifest
from edge.errors import EdgeError
from edge.bundle.golden import GoldenSet
from edge.util.lazy import require
from edge.bundle.schema import FUSED_INPUT
from edge.bundle.preprocess import preprocess_batch
from export import bundle_models as models
from export import bundle_writer, model_source, verify
from export.fuse import FUSED_NOTE, ONNX_NOTE
from export.onnx_export import INPUT_NAME, check_opset
from export.options import ExportOptions
from export.quantize import split_sample


def progress(line):
    print(line, flush=True)


def default_output(source_path):
    """Where a bundle goes when no folder is given: 'bundle' beside the input."""
    return os.path.join(os.path.dirname(os.path.abspath(source_path)), "bundle")


def export_bundle(source_path, out=None, options=None, log=progress, **option_values):
    """Export `source_path` (model.pt, a state dict, TorchScript, ONNX) into the bundle folder `out`.

    options: an export.options.ExportOptions (default: all defaults); option_values: ExportOptions
    keywords, given directly (`int8=True, calib="data/val"`), which override `options`' values.
    Returns the bundle's manifest.
    """
    options = with_values(options, option_values)
    output, calib_entries, verify_entries = check_request(source_path, out, options, log)
    source = load_model(source_path, options, log)
    calibration = read_calibration(calib_entries, source, options, log) if options.int8 else None
    golden = golden_frames(verify_entries, calibration, source, options, log)

    with bundle_writer.StagedBundle(output, log=log) as stage:
        manifest = bundle_manifest(source, options)
        write_models(source, stage.path, manifest, golden, calibration, options, log)
        bundle_writer.write_labels(stage.path, source.classes, manifest)
        write_manifest(stage.path, manifest)
        if options.engines:
            log("building TensorRT engines: {}".format(", ".join(options.engines)))
            from edge.tensorrt.engines import add_engines
            add_engines(stage.path, options.engines, workspace_mb=options.workspace_mb, strict=options.strict,
                        timing_cache=options.timing_cache, log=log)
        manifest = read_manifest(stage.path)
        stage.commit()
    log("wrote {}".format(output))
    return manifest


def check_request(source_path, out, options, log):
    """Everything checked before anything is loaded or written: (output folder, --calib images, --verify images)."""
    kind = model_source.detect_kind(source_path)
    if kind == "bundle":
        raise EdgeError("{} is already a bundle: build its engines with edge-export {} --engine fp16 "
                        "(edge.export.add_engines_to_bundle)".format(source_path, source_path))
    options.check(kind)
    warning = None if kind == "onnx" else check_opset(options.opset, int8=options.int8)
    if options.engines:
        require("tensorrt", "building TensorRT engines (--engine)")  # before any work
    output = os.path.abspath(out or default_output(source_path))
    bundle_writer.prepare_target(output, log)  # also tidies what interrupted exports left there
    calib_entries = verify.list_images(options.calib, "--calib") if options.int8 else None
    verify_entries = verify.list_images(options.verify, "--verify") if options.verify else None
    if warning:
        log("warning: " + warning)
    return output, calib_entries, verify_entries


def load_model(source_path, options, log):
    """The model source (export.model_source), its ONNX opset and task checked against the options."""
    log("loading {}".format(source_path))
    source = model_source.load_source(source_path, arch=options.arch, classes=options.classes,
                                      trust_pickle=options.trust_pickle, spec_overrides=options.spec_overrides())
    if source.kind == "onnx":
        warning = check_opset(source.details.get("opset"), int8=options.int8, what="the ONNX file's opset")
        if warning:
            log("warning: " + warning)
    options.check_task(source.task)
    log("  {}: {}, {}, input {}x{} {}".format(
        source.kind, source.arch, source.task.head_words(source.classes, source.targets),
        source.spec.size[0], source.spec.size[1], source.spec.color_order))
    if options.fuses(source.kind):
        log("note: " + FUSED_NOTE)
    elif source.kind == "onnx" and options.fuse_preprocess is None:
        log("note: " + ONNX_NOTE)
    return source


def write_models(source, stage_dir, manifest, golden, calibration, options, log):
    """The bundle's models (fp32, int8, and a fused bundle's float-pixel family), golden set and calibration
    cache, each verified as written; the verdicts go to the manifest's "verification"."""
    checks = manifest["verification"]
    graphs, pixel_graphs = models.graph_families(options.fuses(source.kind))
    models.write_fp32(source, stage_dir, manifest, graphs, options.opset, options.dynamic_batch is not None, log)
    checks["fp32"] = models.verify_fp32(source, stage_dir, manifest, golden, graphs, options.fp32_tolerance, log)
    models.write_golden(stage_dir, manifest, golden, source.spec, log)
    if calibration is not None:
        checks["int8"] = models.write_int8(source, stage_dir, manifest, calibration, graphs,
                                           options.int8_flavors, options.calib_method,
                                           options.int8_bar(source.task), log)
    # After the bundle's own models: a reader taking the first model of a precision finds those.
    if pixel_graphs is not None:
        checks["float_pixels"] = models.write_pixel_models(source, stage_dir, manifest, golden, calibration,
                                                           pixel_graphs, options, log)
    if calibration is not None:
        models.write_calibration_cache(source, stage_dir, manifest, calibration, pixel_graphs or graphs,
                                       options.calib_method, log)


def with_values(options, option_values):
    """ExportOptions: `options` (or the defaults) with `option_values` put over them."""
    if not option_values:
        return options if options is not None else ExportOptions()
    given = dict(vars(options)) if options is not None else {}
    given.update(option_values)
    return ExportOptions(**given)


def read_calibration(entries, source, options, log):
    """The seeded --calib sample decoded: CalibrationImages, hold-out labelled where the folder labels it as the
    model's task reads labels (class folders naming the classes; a regression model's: labelled like
    edge-train's data)."""
    split = split_sample(entries, options.calib_size, options.holdout_fraction, options.seed)
    frames, _ = verify.read_images(split.calibration, "--calib", log)
    holdout, kept = verify.read_images(split.holdout, "--calib", log)
    truth = source.task.holdout_truth(options.calib, kept, holdout, source.classes, source.targets)
    log("  calibration: {} images, hold-out: {} images ({})".format(
        len(frames), len(holdout), source.task.holdout_words(truth)))
    return models.CalibrationImages(frames, holdout, truth)


def golden_frames(verify_entries, calibration, source, options, log):
    """The golden set's frames, no reference yet: --verify images, else the hold-out, else seeded random images."""
    if verify_entries is not None:
        chosen = verify.sample_entries(verify_entries, options.verify_count, options.seed)
        frames, origin = verify.read_images(chosen, "--verify", log)[0], "images"
    elif calibration is not None:
        frames, origin = calibration.holdout[:options.verify_count], "images"
    else:
        frames, origin = verify.random_images(source.spec, options.verify_count, options.seed), "random"
    return GoldenSet(preprocess_batch(frames, source.spec, fused=True), source=origin)


def batch_range(source, dynamic_batch):
    """(min, opt, max) of the bundle's batch axis: an ONNX input's fixed batch, or 1..dynamic_batch, or 1."""
    if source.kind == "onnx":
        fixed = source.onnx_info["batch"]
        if fixed is not None:
            if dynamic_batch is not None:
                raise EdgeError("{} has a fixed batch of {}; --dynamic-batch needs a dynamic batch axis".format(
                    source.path, fixed))
            return (fixed, fixed, fixed)
    if dynamic_batch is not None:
        return (1, 1, dynamic_batch)
    return (1, 1, 1)


def bundle_manifest(source, options):
    """The new bundle's manifest, no artifacts yet: model, input (fused or not), batch range, source."""
    names = (INPUT_NAME, source.task.output_name)
    if source.kind == "onnx":
        names = (source.onnx_info["input_name"], source.onnx_info["output_name"])
    batch = batch_range(source, options.dynamic_batch)
    fused = dict(FUSED_INPUT) if options.fuses(source.kind) else False
    return new_manifest(source.arch, source.classes, source.spec, names[0], names[1], batch=batch,
                        fused_preprocess=fused, source=source.manifest_source(), targets=source.targets,
                        task=source.task)
