"""`edge-export`: turn a trained model into a verified deployment bundle.

On the desktop (torch, onnx, onnxruntime):
    edge-export runs/x/model.pt -o bundle/                        ONNX fp32, checked against PyTorch
    edge-export runs/x/model.pt -o bundle/ --int8 --calib data/   + INT8 QDQ models, checked on a hold-out
    edge-export resnet18.pth --arch resnet18 --classes labels.txt -o bundle/    torchvision state dict
    edge-export scripted.pt --classes cat,dog --size 224 -o bundle/             TorchScript
    edge-export model.onnx --classes labels.txt --size 224 -o bundle/           existing ONNX
On the device (TensorRT; no torch needed):
    edge-export bundle/ --engine fp16                             add a TensorRT engine to a bundle

The bundle is written to a staging folder and swapped in only when every check passed, so a failed
export leaves the previous bundle untouched. Preprocessing flags describe inputs that do not carry
their own spec (state dicts, TorchScript, ONNX); model.pt carries the spec it was trained with.

Exit codes: 0 done; 2 user error (one line, nothing written); 3 verification failed (nothing written).
"""

import importlib
import os
import shutil
import sys

from edge.bundle import new_manifest, read_manifest
from edge.cli import make_parser, run_main
from edge.errors import EdgeError
from edge.lazy import available, require
from edge.preprocess import COLOR_ORDERS, INTERPOLATIONS, RESIZE_MODES

PROG = "edge-export"
PRECISIONS = ("fp32", "fp16", "int8")
FLAVOUR_NAMES = ("tensorrt-qdq-s8s8", "ort-qdq-u8s8")   # export.quantize.FLAVOURS, without importing it
CALIB_METHODS = ("entropy", "minmax", "percentile")
FP32_FILE = "model.onnx"

# Flags that only mean something when exporting from a model on the desktop (dest names).
DESKTOP_FLAGS = ("output", "arch", "classes", "trust_pickle", "size", "resize", "crop_pct", "mean", "std",
                 "color_order", "interpolation", "opset", "dynamic_batch", "fuse_preprocess", "verify",
                 "verify_count", "fp32_tolerance", "seed", "int8", "int8_flavours", "calib", "calib_size",
                 "calib_method", "holdout_fraction", "int8_min_agreement")
INT8_FLAGS = ("int8_flavours", "calib", "calib_size", "calib_method", "holdout_fraction", "int8_min_agreement")
ENGINE_FLAGS = ("workspace_mb", "strict", "timing_cache")


# ----------------------------------------------------------------------------- argument types

def _comma_list(choices):
    def parse(text):
        items = [item.strip() for item in text.split(",") if item.strip()]
        bad = [item for item in items if item not in choices]
        if bad or not items:
            raise ValueError(text)
        return items
    parse.__name__ = "list of " + "/".join(choices)
    return parse


def _size(text):
    parts = text.lower().split("x")
    if len(parts) not in (1, 2) or not all(part.isdigit() for part in parts):
        raise ValueError(text)
    values = [int(part) for part in parts]
    return values * 2 if len(values) == 1 else values


def _triple(text):
    values = [float(part) for part in text.split(",")]
    if len(values) != 3:
        raise ValueError(text)
    return values


_size.__name__ = "size (N or HxW)"
_triple.__name__ = "three comma-separated numbers"


def build_parser():
    parser = make_parser(PROG, __doc__)
    parser.add_argument("input", help="model.pt, a state dict, TorchScript, an .onnx file, or a bundle folder")
    parser.add_argument("-o", "--output", metavar="DIR",
                        help="bundle folder to write (default: 'bundle' beside the input)")

    src = parser.add_argument_group("input description (state dicts, TorchScript, ONNX)")
    src.add_argument("--arch", help="ResNet the state dict fits (resnet18 ... resnet152)")
    src.add_argument("--classes", metavar="NAMES|FILE", help="class names in output order: a,b,c or a labels.txt path")
    src.add_argument("--trust-pickle", action="store_true",
                     help="allow a file holding a whole pickled nn.Module (runs code from the file)")
    src.add_argument("--size", type=_size, metavar="N|HxW", help="input size N or HxW (default 224)")
    src.add_argument("--resize", choices=RESIZE_MODES, help="resize rule (default center_crop)")
    src.add_argument("--crop-pct", type=float, metavar="F", help="centre-crop fraction (default 0.875)")
    src.add_argument("--mean", type=_triple, metavar="R,G,B", help="per-channel mean, 0..1 scale (default ImageNet)")
    src.add_argument("--std", type=_triple, metavar="R,G,B", help="per-channel std, 0..1 scale (default ImageNet)")
    src.add_argument("--color-order", choices=COLOR_ORDERS, help="channel order the model expects (default RGB)")
    src.add_argument("--interpolation", choices=INTERPOLATIONS, help="resize interpolation (default bilinear)")

    onnx = parser.add_argument_group("ONNX")
    onnx.add_argument("--opset", type=int, default=13, metavar="N",
                      help="ONNX opset, 11..20 (default 13: the highest TensorRT 8.2 / JetPack 4.6 reads)")
    onnx.add_argument("--dynamic-batch", type=int, metavar="N",
                      help="dynamic batch axis accepting 1..N images (default: static batch 1)")
    onnx.add_argument("--fuse-preprocess", action="store_true",
                      help="graph takes uint8 NHWC BGR at the input size; /255, mean/std, layout in-graph")

    ver = parser.add_argument_group("verification")
    ver.add_argument("--verify", metavar="DIR", help="images to compare PyTorch and ONNX Runtime on "
                     "(default: the calibration hold-out, else seeded random images)")
    ver.add_argument("--verify-count", type=int, default=32, metavar="N",
                     help="images used for the fp32 check (default 32)")
    ver.add_argument("--fp32-tolerance", type=float, default=1e-4, metavar="X",
                     help="fp32 max abs logit difference, scaled by max(1, max|logit|) (default 1e-4)")
    ver.add_argument("--seed", type=int, default=0, metavar="N", help="seed for sampling and random images (default 0)")

    q = parser.add_argument_group("INT8 (QDQ ONNX with ONNX Runtime quantization)")
    q.add_argument("--int8", action="store_true", help="also write INT8 QDQ models (needs --calib)")
    q.add_argument("--int8-flavours", type=_comma_list(FLAVOUR_NAMES), default=list(FLAVOUR_NAMES), metavar="LIST",
                   help="comma list of {} (default both)".format(", ".join(FLAVOUR_NAMES)))
    q.add_argument("--calib", metavar="DIR", help="calibration images: flat folder or class sub-folders")
    q.add_argument("--calib-size", type=int, default=500, metavar="N", help="images sampled from --calib (default 500)")
    q.add_argument("--calib-method", choices=CALIB_METHODS, default="entropy",
                   help="calibration method (default entropy)")
    q.add_argument("--holdout-fraction", type=float, default=0.2, metavar="F",
                   help="part of the sample kept out of calibration to compare INT8 with FP32 (default 0.2)")
    q.add_argument("--int8-min-agreement", type=float, default=0.98, metavar="F",
                   help="least INT8-vs-FP32 top-1 agreement on the hold-out (default 0.98)")

    trt = parser.add_argument_group("TensorRT (on the machine that will run the engine)")
    trt.add_argument("--engine", type=_comma_list(PRECISIONS), action="append", metavar="PRECISIONS",
                     help="build engines of these precisions: fp32, fp16, int8 (comma list; repeatable)")
    trt.add_argument("--workspace-mb", type=int, default=256, metavar="MB", help="builder workspace (default 256 MB)")
    trt.add_argument("--strict", action="store_true",
                     help="refuse instead of building fp16 when the GPU has no fast INT8")
    trt.add_argument("--timing-cache", metavar="PATH", help="TensorRT timing cache file to reuse")
    return parser


# ----------------------------------------------------------------------------- checks before any work

def _given(parser, args, dests):
    return ["--" + dest.replace("_", "-") for dest in dests if getattr(args, dest) != parser.get_default(dest)]


def _engine_precisions(args):
    if not args.engine:
        return []
    seen = []
    for group in args.engine:
        for precision in group:
            if precision not in seen:
                seen.append(precision)
    return seen


def check_flags(parser, args, kind):
    """Every flag problem as one EdgeError, before anything is loaded or written."""
    if kind == "bundle":
        stray = _given(parser, args, DESKTOP_FLAGS)
        if stray:
            raise EdgeError("{} only apply when exporting from a model; a bundle takes --engine, "
                            "--workspace-mb, --strict, --timing-cache".format(" ".join(stray)))
        if not args.engine:
            raise EdgeError("{} is already a bundle: say which engines to build, e.g. --engine fp16".format(
                args.input))
    else:
        if not args.int8:
            stray = _given(parser, args, INT8_FLAGS)
            if stray:
                raise EdgeError("{} only apply with --int8".format(" ".join(stray)))
        elif not args.calib:
            raise EdgeError("--int8 needs calibration images: --calib DIR (an image folder)")
        if kind == "onnx" and args.fuse_preprocess:
            raise EdgeError("--fuse-preprocess needs a PyTorch model; it cannot be applied to an ONNX file")
    if not args.engine:
        stray = _given(parser, args, ENGINE_FLAGS)
        if stray:
            raise EdgeError("{} only apply with --engine".format(" ".join(stray)))
    _check_ranges(args)


def _check_ranges(args):
    problems = []
    if args.dynamic_batch is not None and args.dynamic_batch < 1:
        problems.append("--dynamic-batch must be at least 1")
    if args.verify_count < 1:
        problems.append("--verify-count must be at least 1")
    if not args.fp32_tolerance > 0:
        problems.append("--fp32-tolerance must be positive")
    if args.calib_size < 2:
        problems.append("--calib-size must be at least 2")
    if not 0.0 < args.holdout_fraction < 1.0:
        problems.append("--holdout-fraction must be between 0 and 1")
    if not 0.0 <= args.int8_min_agreement <= 1.0:
        problems.append("--int8-min-agreement must be between 0 and 1")
    if args.workspace_mb < 1:
        problems.append("--workspace-mb must be positive")
    if args.crop_pct is not None and not 0.0 < args.crop_pct <= 1.0:
        problems.append("--crop-pct must be in (0, 1]")
    if problems:
        raise EdgeError("; ".join(problems))


def _require_tensorrt():
    """Fail first, before any work, when engines are asked for and TensorRT is missing."""
    require("tensorrt", "building TensorRT engines (--engine)")


def _device():
    """The device half (TensorRT, no torch), imported only when needed."""
    return importlib.import_module("export.device")


def default_output(input_path):
    return os.path.join(os.path.dirname(os.path.abspath(input_path)), "bundle")


# ----------------------------------------------------------------------------- the export phases

class Plan(object):
    """What the user asked for, resolved: images listed, flags checked, output decided."""

    def __init__(self, args):
        self.args = args
        self.output = os.path.abspath(args.output or default_output(args.input))
        self.engines = _engine_precisions(args)
        self.calib_entries = None
        self.verify_entries = None


def _log(line):
    print(line, flush=True)


def export_bundle(args, log=_log):
    """The desktop export: everything into a staging folder, swapped in at the end."""
    from export import bundle_writer, verify
    from export.onnx_export import check_opset
    from export.sources import detect_kind, load_source

    plan = Plan(args)
    kind = detect_kind(args.input)
    if kind == "onnx":
        if args.opset != 13:
            raise EdgeError("--opset does not apply to an ONNX input: it keeps the opset it was written with")
        warning = None
    else:
        warning = check_opset(args.opset, int8=args.int8)
    if args.engine:
        _require_tensorrt()
    bundle_writer.check_target(plan.output)
    if args.int8:
        plan.calib_entries = verify.list_images(args.calib, "--calib")
    if args.verify:
        plan.verify_entries = verify.list_images(args.verify, "--verify")
    if warning:
        log("warning: " + warning)
    if args.fuse_preprocess:
        from export.fuse import TENSORRT_NOTE
        log("note: " + TENSORRT_NOTE)

    log("loading {}".format(args.input))
    source = load_source(args.input, args)
    if source.kind == "onnx":
        file_opset = source.details.get("opset")
        warning = check_opset(file_opset, int8=args.int8, what="the ONNX file's opset")
        if warning:
            log("warning: " + warning)
    log("  {}: {}, {} classes, input {}x{} {}".format(
        source.kind, source.arch, len(source.classes), source.spec.size[0], source.spec.size[1],
        source.spec.color_order))
    images = _load_images(plan, source, log)

    with bundle_writer.StagedBundle(plan.output) as stage:
        manifest = _new_manifest(plan, source)
        _write_fp32(plan, source, stage.path, manifest, log)
        manifest["verification"]["fp32"] = _verify_fp32(plan, source, stage.path, manifest, images, log)
        if args.int8:
            manifest["verification"]["int8"] = _write_int8(plan, source, stage.path, manifest, images, log)
            _write_calibration_cache(plan, source, stage.path, manifest, images, log)
        bundle_writer.write_labels(stage.path, source.classes, manifest)
        bundle_writer.finish(stage.path, manifest)
        if plan.engines:
            log("building TensorRT engines: {}".format(", ".join(plan.engines)))
            _device().add_engines(stage.path, plan.engines, workspace_mb=args.workspace_mb, strict=args.strict,
                                  timing_cache=args.timing_cache, log=log)
        manifest = read_manifest(stage.path)
        stage.commit()
    log("wrote {}".format(plan.output))
    return manifest


class Images(object):
    """Decoded images for verification and INT8, with labels when class folders name the classes."""

    def __init__(self):
        self.verify = None        # list of BGR frames
        self.verify_source = "random"
        self.calibration = None
        self.holdout = None
        self.holdout_labels = None


def _load_images(plan, source, log):
    from export import verify
    from export.quantize import split_sample

    args = plan.args
    images = Images()
    if args.int8:
        split = split_sample(plan.calib_entries, args.calib_size, args.holdout_fraction, args.seed)
        images.calibration, _ = verify.read_images(split.calibration, "--calib", log)
        images.holdout, kept = verify.read_images(split.holdout, "--calib", log)
        images.holdout_labels = verify.label_indices(kept, source.classes)
        log("  calibration: {} images, hold-out: {} images ({})".format(
            len(images.calibration), len(images.holdout),
            "labelled by class folder" if images.holdout_labels is not None else "no labels"))
    if plan.verify_entries is not None:
        chosen = verify.sample_entries(plan.verify_entries, args.verify_count, args.seed)
        images.verify, _ = verify.read_images(chosen, "--verify", log)
        images.verify_source = "images"
    elif images.holdout is not None:
        images.verify = images.holdout[:args.verify_count]
        images.verify_source = "images"
    else:
        images.verify = verify.random_images(source.spec, args.verify_count, args.seed)
    return images


def _batch_range(plan, source):
    args = plan.args
    if source.kind == "onnx":
        fixed = source.onnx_info["batch"]
        if fixed is not None:
            if args.dynamic_batch is not None:
                raise EdgeError("{} has a fixed batch of {}; --dynamic-batch needs a dynamic batch axis".format(
                    args.input, fixed))
            return (fixed, fixed, fixed)
    if args.dynamic_batch is not None:
        return (1, 1, args.dynamic_batch)
    return (1, 1, 1)


def _new_manifest(plan, source):
    from export.fuse import FUSED_INPUT
    from export.onnx_export import INPUT_NAME, OUTPUT_NAME

    names = (INPUT_NAME, OUTPUT_NAME)
    if source.kind == "onnx":
        names = (source.onnx_info["input_name"], source.onnx_info["output_name"])
    batch = _batch_range(plan, source)
    fused = dict(FUSED_INPUT) if plan.args.fuse_preprocess else False
    manifest = new_manifest(source.arch, source.classes, source.spec, names[0], names[1], batch=batch,
                            fused_preprocess=fused, source=source.manifest_source())
    if fused:
        height, width = source.spec.size
        manifest["input"]["shape"] = [batch[1], height, width, 3]
    return manifest


def _write_fp32(plan, source, bundle_dir, manifest, log):
    from export import bundle_writer
    from export.fuse import example_input, fused_module
    from export.onnx_export import export_onnx, onnx_opset

    args = plan.args
    path = os.path.join(bundle_dir, FP32_FILE)
    if source.kind == "onnx":
        log("copying {} (opset {})".format(source.onnx_path, source.details.get("opset")))
        shutil.copyfile(source.onnx_path, path)
    else:
        batch = manifest["input"]["batch"]
        log("exporting ONNX fp32 (opset {}, batch {}{})".format(
            args.opset, "1..{} dynamic".format(batch["max"]) if args.dynamic_batch else "1 static",
            ", fused uint8 preprocessing" if args.fuse_preprocess else ""))
        model = fused_module(source.model, source.spec) if args.fuse_preprocess else source.model
        export_onnx(model, path, example_input(source.spec, fused=args.fuse_preprocess), opset=args.opset,
                    dynamic_batch=args.dynamic_batch is not None,
                    input_name=manifest["input"]["name"], output_name=manifest["output"]["name"])
    return bundle_writer.add_file(bundle_dir, manifest, FP32_FILE, "onnx", precision="fp32",
                                  opset=onnx_opset(path))


def _verify_fp32(plan, source, bundle_dir, manifest, images, log):
    from export import verify

    args = plan.args
    fused = bool(args.fuse_preprocess)
    runner = verify.OnnxCpu(os.path.join(bundle_dir, FP32_FILE), max_batch=manifest["input"]["batch"]["max"])
    candidate = runner(verify.model_inputs(images.verify, source.spec, fused=fused))
    if candidate.ndim != 2 or candidate.shape[1] != len(source.classes):
        raise EdgeError("the ONNX model gives outputs of shape {} for {} classes".format(
            candidate.shape, len(source.classes)))
    if not source.has_torch_model:
        log("verifying fp32: skipped (input is an ONNX file, no PyTorch reference); runs in ONNX Runtime")
        return {"inputs": len(images.verify), "source": images.verify_source, "skipped": True,
                "reason": "input was an ONNX file: no PyTorch reference"}
    log("verifying fp32: ONNX Runtime vs PyTorch{} on {} inputs ({})".format(
        " (unfused)" if fused else "", len(images.verify), images.verify_source))
    reference = verify.torch_logits(source.model, verify.model_inputs(images.verify, source.spec))
    record = verify.verify_fp32(reference, candidate, args.fp32_tolerance, images.verify_source)
    if fused:
        record["reference"] = "unfused PyTorch model on edge.preprocess output"
    log("  max abs diff {:.2e} (tolerance {:.1e}), top-1 agreement {:.1%}".format(
        record["max_abs_diff"], record["tolerance"], record["top1_agreement"]))
    return record


def _write_int8(plan, source, bundle_dir, manifest, images, log):
    import tempfile

    from export import bundle_writer, quantize, verify

    args = plan.args
    fused = bool(args.fuse_preprocess)
    input_name = manifest["input"]["name"]
    calib_batch = verify.model_inputs(images.calibration, source.spec, fused=fused)
    holdout_batch = verify.model_inputs(images.holdout, source.spec, fused=fused)
    max_batch = manifest["input"]["batch"]["max"]
    fp32_logits = verify.OnnxCpu(os.path.join(bundle_dir, FP32_FILE), max_batch)(holdout_batch)
    records = {}
    with tempfile.TemporaryDirectory(prefix="edge-export-int8-") as scratch:
        prepared = quantize.preprocess_for_quantization(os.path.join(bundle_dir, FP32_FILE),
                                                        os.path.join(scratch, "prepared.onnx"))
        for flavour in args.int8_flavours:
            file_name = quantize.FLAVOURS[flavour]["file"]
            log("quantizing INT8 {} ({} calibration, {} images)".format(flavour, args.calib_method,
                                                                      len(calib_batch)))
            extra = quantize.quantize_flavour(prepared, os.path.join(bundle_dir, file_name), flavour, input_name,
                                              calib_batch, method=args.calib_method)
            int8_logits = verify.OnnxCpu(os.path.join(bundle_dir, file_name), max_batch)(holdout_batch)
            record = verify.int8_figures(fp32_logits, int8_logits, images.holdout_labels)
            record["source"] = "calibration hold-out"
            log("  top-1 agreement with fp32 {:.1%} on {} held-out images{}".format(
                record["top1_agreement"], record["holdout_images"], _accuracy_text(record)))
            records[flavour] = verify.judge_int8(record, flavour, args.int8_min_agreement)
            bundle_writer.add_file(bundle_dir, manifest, file_name, "onnx", **extra)
    return records


def _accuracy_text(record):
    if record.get("accuracy_fp32") is None:
        return ""
    return "; accuracy fp32 {:.1%} -> int8 {:.1%} ({:+.1f} points)".format(
        record["accuracy_fp32"], record["accuracy_int8"], 100 * record["accuracy_delta"])


def _write_calibration_cache(plan, source, bundle_dir, manifest, images, log):
    """A TensorRT calibration cache for model.onnx, when TensorRT is here (else the device makes one)."""
    from edge.bundle import put_artifact
    from export import verify

    if plan.args.fuse_preprocess:
        log("calibration cache: skipped (fused uint8 input; TensorRT uses the QDQ model's scales)")
        return None
    if not available("tensorrt"):
        log("calibration cache: skipped (TensorRT is not installed here; the QDQ models carry the scales)")
        return None
    batches = [batch[None] for batch in verify.model_inputs(images.calibration, source.spec)]
    log("writing TensorRT calibration cache ({} images)".format(len(batches)))
    entry = _device().write_calibration_cache(bundle_dir, FP32_FILE, batches, plan.args.calib_method, log=log)
    return put_artifact(manifest, entry)


# ----------------------------------------------------------------------------- the summary

def _size_text(num_bytes):
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return "{:.1f} {}".format(num_bytes, unit) if unit != "B" else "{} B".format(num_bytes)
        num_bytes /= 1024.0
    return ""


def summary_rows(manifest):
    """One row per artifact: (file, size, precision, verification), as data."""
    checks = manifest.get("verification") or {}
    rows = []
    for entry in manifest["artifacts"]:
        kind = entry["kind"]
        precision, figures = "", ""
        if kind == "onnx" and entry.get("precision") == "fp32":
            precision = "fp32 onnx opset {}".format(entry.get("opset"))
            fp32 = checks.get("fp32") or {}
            if fp32.get("skipped"):
                figures = "not compared: " + fp32.get("reason", "")
            elif fp32:
                figures = "max|diff| {:.1e}, top-1 {:.1%} ({} {})".format(
                    fp32["max_abs_diff"], fp32["top1_agreement"], fp32["inputs"], fp32["source"])
        elif kind == "onnx":
            precision = "int8 {} opset {}".format(entry.get("flavour"), entry.get("opset"))
            record = (checks.get("int8") or {}).get(entry.get("flavour")) or {}
            if record:
                figures = "top-1 vs fp32 {:.1%} ({} held-out){}".format(
                    record["top1_agreement"], record["holdout_images"], _accuracy_text(record))
        elif kind == "calibration_cache":
            precision = "int8 cache ({})".format(entry.get("method"))
        elif kind == "tensorrt_engine":
            precision = "{} engine".format(entry.get("precision"))
            if entry.get("requested_precision") not in (None, entry.get("precision")):
                precision += " (asked {})".format(entry.get("requested_precision"))
            figures = "{} TRT {}".format(entry.get("gpu", ""), entry.get("tensorrt_version", "")).strip()
        elif kind == "labels":
            precision = "{} classes".format(manifest["model"]["num_classes"])
        rows.append((entry["file"], _size_text(entry["bytes"]), precision, figures))
    return rows


def format_table(rows, headers=("artifact", "size", "precision", "verification")):
    table = [headers] + [tuple(str(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- entry points

def add_engines_to_bundle(args, log=_log):
    """A bundle as input: only the device half runs (TensorRT, no torch)."""
    _require_tensorrt()
    read_manifest(args.input)
    precisions = _engine_precisions(args)
    log("building TensorRT engines for {}: {}".format(args.input, ", ".join(precisions)))
    _device().add_engines(args.input, precisions, workspace_mb=args.workspace_mb, strict=args.strict,
                          timing_cache=args.timing_cache, log=log)
    return read_manifest(args.input)


def _main(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    from export.sources import detect_kind
    kind = detect_kind(args.input)
    check_flags(parser, args, kind)
    if kind == "bundle":
        manifest = add_engines_to_bundle(args)
    else:
        manifest = export_bundle(args)
    print()
    print(format_table(summary_rows(manifest)))
    sys.stdout.flush()
    return 0


def main(argv=None):
    return run_main(PROG, _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
