"""`edge-export`: turn a trained model into a verified deployment bundle.

On the desktop (torch, onnx, onnxruntime):
    edge-export runs/x/model.pt -o bundle/                        ONNX fp32, checked against PyTorch
    edge-export runs/x/model.pt -o bundle/ --int8 --calib data/   + INT8 QDQ models, checked on a hold-out
    edge-export resnet18.pth --arch resnet18 --classes labels.txt -o bundle/    torchvision state dict
    edge-export scripted.pt --classes cat,dog --size 224 -o bundle/             TorchScript
    edge-export model.onnx --classes labels.txt --size 224 -o bundle/           existing ONNX
On the device (TensorRT; no torch needed):
    edge-export bundle/ --engine fp16                             add a TensorRT engine to a bundle
Either way, `--triton-repo DIR` also writes a Triton model repository for the bundle:
    edge-export runs/x/model.pt -o bundle/ --int8 --calib data/ --triton-repo triton/ --triton-name digits

The bundle is written to a staging folder and swapped in only when every check passed, so a failed
export leaves the previous bundle untouched; what a killed export left beside it is tidied (and a
previous bundle moved aside renamed back) by the next export. Preprocessing flags describe inputs that do not carry
their own spec (state dicts, TorchScript, ONNX); model.pt carries the spec it was trained with.

A PyTorch model's bundle is fused by default (--fuse-preprocess): its models take the resized uint8 BGR
frame and normalise in-graph, beside a float32-pixel family for TensorRT 8.2 (no uint8 inputs; the host
only widens), all verified against the unfused PyTorch model. --no-fuse-preprocess writes the plain
float NCHW input the host normalises; an ONNX input stays plain (there is no PyTorch model to wrap).

Progress goes to stderr; the bundle's table, the result, to stdout. Exit codes: 0 done; 2 user error
(one line, nothing written); 3 verification failed or the model holds NaN/Inf weights (nothing
written); 130 Ctrl-C, 143 SIGTERM (nothing written: the staging folder is removed).
"""

from edge.bundle.bundle import interrupted_export
from edge.bundle.schema import INT8_FLAVORS
from edge.bundle.summary import print_summary
from edge.cli import comma_list, make_parser, progress_log, refuse_given, run_main
from edge.errors import EXIT_OK
from edge.bundle.preprocess import COLOR_ORDERS, INTERPOLATIONS, RESIZE_MODES
from edge import export as engine_cli
from edge.triton.repo import TritonRequest, add_triton_arguments, print_repository
from export.model_source import detect_kind
from export.onnx_export import MAX_OPSET, MIN_OPSET
from export.options import DEFAULTS, ExportOptions
from export.quantize import CALIB_METHODS

PROG = engine_cli.PROG

# Flags (dest names) that only mean something with --engine, with --int8, or when exporting from a
# model on the desktop (every export option but the engine ones, and -o).
ENGINE_FLAGS = engine_cli.ENGINE_FLAGS
INT8_FLAGS = ("int8_flavors", "calib", "calib_size", "calib_method", "holdout_fraction", "int8_min_agreement",
              "int8_max_mae_increase")
DESKTOP_FLAGS = ("output",) + tuple(name for name in DEFAULTS if name != "engines" and name not in ENGINE_FLAGS)


# ----------------------------------------------------------------------------- argument types

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
    """The flags; each desktop flag's default is export.options.DEFAULTS' (the Python API's)."""
    parser = make_parser(PROG, __doc__)
    parser.add_argument("input", help="model.pt, a state dict, TorchScript, an .onnx file, or a bundle folder")
    parser.add_argument("-o", "--output", metavar="DIR",
                        help="bundle folder to write (default: 'bundle' beside the input)")
    add_source_arguments(parser)
    add_onnx_arguments(parser)
    add_verification_arguments(parser)
    add_int8_arguments(parser)
    engine_cli.add_engine_arguments(parser)
    add_triton_arguments(parser)
    return parser


def add_source_arguments(parser):
    """What a model file that carries no spec (state dict, TorchScript, ONNX) needs said about it."""
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
    return src


def add_onnx_arguments(parser):
    onnx = parser.add_argument_group("ONNX")
    onnx.add_argument("--opset", type=int, default=DEFAULTS["opset"], metavar="N",
                      help="ONNX opset, {}..{} (default {}: the highest TensorRT 8.2 / JetPack 4.6 reads)".format(
                          MIN_OPSET, MAX_OPSET, DEFAULTS["opset"]))
    onnx.add_argument("--dynamic-batch", type=int, metavar="N",
                      help="dynamic batch axis accepting 1..N images (default: static batch 1)")
    fuse = onnx.add_mutually_exclusive_group()
    fuse.add_argument("--fuse-preprocess", action="store_const", const=True, default=DEFAULTS["fuse_preprocess"],
                      help="the default for a PyTorch model: the graph takes uint8 NHWC BGR at the input size and "
                           "does /255, mean/std and the layout itself (TensorRT 8.2: float32 pixels, widened on "
                           "the host); an ONNX input stays plain (asking this for one is refused)")
    fuse.add_argument("--no-fuse-preprocess", dest="fuse_preprocess", action="store_const", const=False,
                      help="plain float32 NCHW input, normalised on the host")
    return onnx


def add_verification_arguments(parser):
    ver = parser.add_argument_group("verification")
    ver.add_argument("--verify", metavar="DIR", help="images to compare PyTorch and ONNX Runtime on "
                     "(default: the calibration hold-out, else seeded random images)")
    ver.add_argument("--verify-count", type=int, default=DEFAULTS["verify_count"], metavar="N",
                     help="images used for the fp32 check (default %(default)s)")
    ver.add_argument("--fp32-tolerance", type=float, default=DEFAULTS["fp32_tolerance"], metavar="X",
                     help="fp32 max abs logit difference, scaled by max(1, max|logit|) (default %(default)g)")
    ver.add_argument("--seed", type=int, default=DEFAULTS["seed"], metavar="N",
                     help="seed for sampling and random images (default %(default)s)")
    return ver


def add_int8_arguments(parser):
    q = parser.add_argument_group("INT8 (QDQ ONNX with ONNX Runtime quantization)")
    q.add_argument("--int8", action="store_true", help="also write INT8 QDQ models (needs --calib)")
    q.add_argument("--int8-flavors", "--int8-flavours", type=comma_list(INT8_FLAVORS),
                   default=list(DEFAULTS["int8_flavors"]), metavar="LIST",
                   help="comma list of {} (default both; --int8-flavours: the old spelling, read until 0.2)".format(
                       ", ".join(INT8_FLAVORS)))
    q.add_argument("--calib", metavar="DIR", help="calibration images: flat folder or class sub-folders")
    q.add_argument("--calib-size", type=int, default=DEFAULTS["calib_size"], metavar="N",
                   help="images sampled from --calib (default %(default)s)")
    q.add_argument("--calib-method", choices=CALIB_METHODS, default=DEFAULTS["calib_method"],
                   help="calibration method (default %(default)s)")
    q.add_argument("--holdout-fraction", type=float, default=DEFAULTS["holdout_fraction"], metavar="F",
                   help="part of the sample kept out of calibration to compare INT8 with FP32 (default %(default)s)")
    q.add_argument("--int8-min-agreement", type=float, default=DEFAULTS["int8_min_agreement"], metavar="F",
                   help="classifiers: least INT8-vs-FP32 top-1 agreement on the hold-out (default %(default)s)")
    q.add_argument("--int8-max-mae-increase", type=float, default=DEFAULTS["int8_max_mae_increase"], metavar="PX",
                   help="regression models: most INT8 may raise the MAE on the hold-out, in pixels of those images "
                        "(default %(default)s px); --calib labelled like edge-train's data (labels.csv or "
                        "<x>_<y>_<id>.jpg), else INT8's mean distance from FP32, which bounds that change, is "
                        "held to it. Raise it for large images")
    return q


def options_from_args(args):
    """The parsed flags as ExportOptions: `--engine` lists flattened, every other flag by its own name."""
    values = dict((name, getattr(args, name)) for name in DEFAULTS if name != "engines")
    return ExportOptions(engines=engine_cli.engine_precisions(args.engine), **values)


# ----------------------------------------------------------------------------- which flags apply

def check_flags(parser, args, kind):
    """Flags given that do not apply to this input, as one EdgeError (their values: ExportOptions.check).

    Returns the TritonRequest of --triton-repo, or None.
    """
    triton = TritonRequest.from_args(parser, args)
    if kind == "bundle":
        refuse_given(parser, args, DESKTOP_FLAGS, "only apply when exporting from a model; a bundle takes "
                      "--engine, --workspace-mb, --strict, --timing-cache and the --triton-* flags")
        if not args.engine and triton is None:
            raise engine_cli.nothing_asked(args.input)
    elif not args.int8:
        refuse_given(parser, args, INT8_FLAGS, "only apply with --int8")
    if not args.engine:
        refuse_given(parser, args, ENGINE_FLAGS, "only apply with --engine")
    return triton


# ----------------------------------------------------------------------------- entry points

def _main(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    lost = interrupted_export(args.input)  # a bundle input gone because an export was killed: say where it is
    if lost is not None:
        raise lost
    kind = detect_kind(args.input)
    triton = check_flags(parser, args, kind)
    options = options_from_args(args)
    if kind == "bundle":
        options.check(kind)
        return engine_cli.bundle_command(args.input, options.engines, options.workspace_mb, options.strict,
                                         options.timing_cache, triton)
    from export.pipeline import default_output, export_bundle  # the desktop half; a device needs none of it
    log = progress_log(PROG)
    output = args.output or default_output(args.input)
    if triton is not None:
        triton.prepare(output, log)  # before the export: a refused folder costs nothing
    print_summary(export_bundle(args.input, output, options, log=log))
    if triton is not None:
        print_repository(triton.write(output, log))
    return EXIT_OK


def main(argv=None):
    return run_main(PROG, _main, argv, sigterm=True)  # SIGTERM cleans up as Ctrl-C does, exit 143


if __name__ == "__main__":
    raise SystemExit(main())
