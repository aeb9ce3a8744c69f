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
export leaves the previous bundle untouched; what a killed export left beside it is tidied (and a
previous bundle moved aside renamed back) by the next export. Preprocessing flags describe inputs that do not carry
their own spec (state dicts, TorchScript, ONNX); model.pt carries the spec it was trained with.

Exit codes: 0 done; 2 user error (one line, nothing written); 3 verification failed (nothing written).
"""

import os

from edge.bundle import INT8_FLAVOURS, new_manifest, read_manifest
from edge.bundle_summary import print_summary
from edge.cli import make_parser, run_main
from edge.errors import EdgeError
from edge.golden import GoldenSet
from edge.lazy import require
from edge.preprocess import COLOR_ORDERS, INTERPOLATIONS, RESIZE_MODES
from edge.tensorrt import cli as engine_cli

PROG = engine_cli.PROG
CALIB_METHODS = ("entropy", "minmax", "percentile")

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
    q.add_argument("--int8-flavours", type=_comma_list(INT8_FLAVOURS), default=list(INT8_FLAVOURS), metavar="LIST",
                   help="comma list of {} (default both)".format(", ".join(INT8_FLAVOURS)))
    q.add_argument("--calib", metavar="DIR", help="calibration images: flat folder or class sub-folders")
    q.add_argument("--calib-size", type=int, default=500, metavar="N", help="images sampled from --calib (default 500)")
    q.add_argument("--calib-method", choices=CALIB_METHODS, default="entropy",
                   help="calibration method (default entropy)")
    q.add_argument("--holdout-fraction", type=float, default=0.2, metavar="F",
                   help="part of the sample kept out of calibration to compare INT8 with FP32 (default 0.2)")
    q.add_argument("--int8-min-agreement", type=float, default=0.98, metavar="F",
                   help="least INT8-vs-FP32 top-1 agreement on the hold-out (default 0.98)")

    engine_cli.add_engine_arguments(parser)
    return parser


# ----------------------------------------------------------------------------- checks before any work

def _given(parser, args, dests):
    return ["--" + dest.replace("_", "-") for dest in dests if getattr(args, dest) != parser.get_default(dest)]


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


def default_output(input_path):
    return os.path.join(os.path.dirname(os.path.abspath(input_path)), "bundle")


# ----------------------------------------------------------------------------- the export phases

class Plan(object):
    """What the user asked for, resolved: images listed, flags checked, output decided."""

    def __init__(self, args):
        self.args = args
        self.output = os.path.abspath(args.output or default_output(args.input))
        self.engines = engine_cli.engine_precisions(args.engine)
        self.calib_entries = None
        self.verify_entries = None


def _log(line):
    print(line, flush=True)


def export_bundle(args, log=_log):
    """The desktop export: everything into a staging folder, swapped in at the end."""
    from export import bundle_models as models
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
    bundle_writer.prepare_target(plan.output, log)  # also tidies what interrupted exports left there
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

    with bundle_writer.StagedBundle(plan.output, log=log) as stage:
        manifest = _new_manifest(plan, source)
        graphs, float_graphs = models.graph_families(args)
        models.write_fp32(plan, source, stage.path, manifest, log, graphs)
        manifest["verification"]["fp32"] = models.verify_fp32(plan, source, stage.path, manifest, images, log,
                                                              graphs)
        if float_graphs is not None:
            manifest["verification"]["float_input"] = models.write_float_input_models(
                plan, source, stage.path, manifest, images, log, float_graphs)
        models.write_golden(stage.path, manifest, images.golden, source.spec, log)
        if args.int8:
            manifest["verification"]["int8"] = models.write_int8(plan, source, stage.path, manifest, images, log,
                                                                 graphs, args.int8_flavours)
            models.write_calibration_cache(plan, source, stage.path, manifest, images, log, float_graphs or graphs)
        bundle_writer.write_labels(stage.path, source.classes, manifest)
        bundle_writer.finish(stage.path, manifest)
        if plan.engines:
            log("building TensorRT engines: {}".format(", ".join(plan.engines)))
            from edge.tensorrt.engines import add_engines
            add_engines(stage.path, plan.engines, workspace_mb=args.workspace_mb, strict=args.strict,
                        timing_cache=args.timing_cache, log=log)
        manifest = read_manifest(stage.path)
        stage.commit()
    log("wrote {}".format(plan.output))
    return manifest


class Images(object):
    """Decoded images for verification and INT8, with labels when class folders name the classes."""

    def __init__(self):
        self.golden = None        # edge.golden.GoldenSet: the verification frames; reference outputs added later
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
        frames, origin = verify.read_images(chosen, "--verify", log)[0], "images"
    elif images.holdout is not None:
        frames, origin = images.holdout[:args.verify_count], "images"
    else:
        frames, origin = verify.random_images(source.spec, args.verify_count, args.seed), "random"
    images.golden = GoldenSet(verify.model_inputs(frames, source.spec, fused=True), source=origin)
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


# ----------------------------------------------------------------------------- entry points

def _main(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    from edge.bundle import interrupted_export
    from export.sources import detect_kind
    lost = interrupted_export(args.input)  # a bundle input gone because an export was killed: say where it is
    if lost is not None:
        raise lost
    kind = detect_kind(args.input)
    check_flags(parser, args, kind)
    if kind == "bundle":
        manifest = engine_cli.add_engines_to_bundle(args.input, engine_cli.engine_precisions(args.engine),
                                                    args.workspace_mb, args.strict, args.timing_cache)
    else:
        manifest = export_bundle(args)
    print_summary(manifest)
    return 0


def main(argv=None):
    return run_main(PROG, _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
