"""`edge-export BUNDLE --engine fp16` on the device: TensorRT engines for this GPU, added to a bundle.

    edge-export bundle/ --engine fp16            FP16 engine (Nano, TX2, Xavier, Orin)
    edge-export bundle/ --engine fp16,int8       several precisions; INT8 on a Nano says so, builds FP16
    edge-export bundle/ --engine int8 --strict   refuse instead of building another precision
    edge-export bundle/ --engine fp16 --triton-repo triton/    ... and a Triton model repository with it

A Jetson needs `edge/` only (no torch): this is the entry point its install runs. On the desktop,
edge-export takes a model and makes the bundle; given a bundle it hands over to this module.
`--triton-repo DIR` writes a Triton model repository for the bundle (edge.triton.repo): its ONNX
models and the engines built for this machine. Progress goes to stderr; the bundle's table (and the
repository's), the result, to stdout.
"""

import os

from edge.bundle.bundle import MANIFEST, read_manifest
from edge.bundle.schema import PRECISIONS
from edge.bundle.summary import print_summary
from edge.cli import comma_list, make_parser, progress_log, refuse_given, run_main
from edge.errors import EXIT_OK, EdgeError
from edge.util.lazy import require
from edge.tensorrt.build import DEFAULT_WORKSPACE_MB
from edge.triton.repo import TritonRequest, add_triton_arguments, print_repository

PROG = "edge-export"


# The flags that only mean something with --engine.
ENGINE_FLAGS = ("workspace_mb", "strict", "timing_cache")


def add_engine_arguments(parser):
    """The TensorRT flags, shared with the desktop edge-export."""
    group = parser.add_argument_group("TensorRT (on the machine that will run the engine)")
    group.add_argument("--engine", type=comma_list(PRECISIONS), action="append", metavar="PRECISIONS",
                       help="build engines of these precisions: fp32, fp16, int8 (comma list; repeatable)")
    group.add_argument("--workspace-mb", type=int, default=DEFAULT_WORKSPACE_MB, metavar="MB",
                       help="builder workspace (default {} MB)".format(DEFAULT_WORKSPACE_MB))
    group.add_argument("--strict", action="store_true",
                       help="refuse instead of building fp16 when the GPU has no fast INT8")
    group.add_argument("--timing-cache", metavar="PATH", help="TensorRT timing cache file to reuse")
    return group


def engine_precisions(groups):
    """The --engine values, flattened, each once, in the order given."""
    seen = []
    for group in groups or []:
        for precision in group:
            if precision not in seen:
                seen.append(precision)
    return seen


def add_engines_to_bundle(bundle_dir, precisions, workspace_mb=DEFAULT_WORKSPACE_MB, strict=False, timing_cache=None,
                          log=None):
    """Build (or reuse) the engines; returns the bundle's manifest after the build."""
    log = log or progress_log(PROG)
    require("tensorrt", "building TensorRT engines (--engine)")
    read_manifest(bundle_dir)
    if workspace_mb < 1:
        raise EdgeError("--workspace-mb must be positive")
    from edge.tensorrt.engines import add_engines

    log("building TensorRT engines for {}: {}".format(bundle_dir, ", ".join(precisions)))
    add_engines(bundle_dir, precisions, workspace_mb=workspace_mb, strict=strict, timing_cache=timing_cache, log=log)
    return read_manifest(bundle_dir)


def nothing_asked(bundle_dir):
    return EdgeError("{} is already a bundle: say which engines to build, e.g. --engine fp16, or where to write "
                     "a Triton model repository: --triton-repo DIR".format(bundle_dir))


def bundle_command(bundle_dir, precisions, workspace_mb, strict, timing_cache, triton=None):
    """What `edge-export BUNDLE` does after its flag checks: the engines asked, then the Triton repository
    (a TritonRequest, checked before any engine is built); prints the bundle's table, then the repository's; 0."""
    log = progress_log(PROG)
    if triton is not None:
        read_manifest(bundle_dir)
        triton.prepare(bundle_dir, log)
    if precisions:
        manifest = add_engines_to_bundle(bundle_dir, precisions, workspace_mb, strict, timing_cache, log)
    else:
        manifest = read_manifest(bundle_dir)
    print_summary(manifest)
    if triton is not None:
        print_repository(triton.write(bundle_dir, log))
    return EXIT_OK


def _main(argv):
    parser = make_parser(PROG, __doc__)
    parser.add_argument("bundle", help="bundle folder (with manifest.json) copied from the desktop")
    add_engine_arguments(parser)
    add_triton_arguments(parser)
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(args.bundle, MANIFEST)):
        raise EdgeError("{} is not a bundle folder; on the device edge-export adds engines to a bundle that "
                        "edge-export made on the desktop (edge-export model.pt -o bundle/)".format(args.bundle))
    triton = TritonRequest.from_args(parser, args)
    if not args.engine and triton is None:
        raise nothing_asked(args.bundle)
    if not args.engine:
        refuse_given(parser, args, ENGINE_FLAGS, "only apply with --engine")
    return bundle_command(args.bundle, engine_precisions(args.engine), args.workspace_mb, args.strict,
                          args.timing_cache, triton)


def main(argv=None):
    return run_main(PROG, _main, argv, sigterm=True)  # SIGTERM cleans up as Ctrl-C does, exit 143


if __name__ == "__main__":
    raise SystemExit(main())
