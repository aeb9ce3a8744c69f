"""`edge-doctor`: check this machine, and a bundle, against the desktop's own numbers.

    edge-doctor                                  the machine: L4T, TensorRT, CUDA, GPU, OpenCV, cameras, power
    edge-doctor bundle/                          ... and every runtime here on the bundle's golden set
    edge-doctor bundle/ --build-engine           ... building this GPU's missing engines first
    edge-doctor bundle/ --source csi://0         ... and a camera: frame rate and size
    edge-doctor --source rtsp://cam/live --capture-backend gstreamer   a stream, read as edge-camera would
    edge-doctor bundle/ --json report.json       a report to attach to an issue ('-': JSON on stdout)
    edge-doctor bundle/ --runtimes tensorrt      only some rows (--precisions alike)

Run it first when something is wrong. Exit codes: 0 every check that could run passed (skips are
listed, and never count as passes); 1 a check failed; 2 usage error. The table goes to stdout,
progress to stderr.
"""

import sys

from edge.bundle.bundle import Bundle
from edge.cli import add_json_argument, json_to_stdout, make_parser, progress_log, run_main, write_json_result
from edge.doctor import report
from edge.doctor.checks import FAIL
from edge.errors import EXIT_OK, EXIT_SOME_FAILED
from edge.options.runner_args import RUNNER_NUMBERS, add_runner_arguments
from edge.options.source_args import SOURCE_NUMBERS, add_source_arguments, source_options
from edge.util.timestamps import utc_timestamp

PROG = "edge-doctor"


def build_parser():
    parser = make_parser(PROG, __doc__)
    parser.add_argument("bundle", nargs="?", help="bundle folder to check (with its golden set)")
    source = add_source_arguments(parser)   # the camera's own flags: read it as edge-camera would
    source.add_argument("--seconds", type=float, default=3.0, help="how long to read --source (default 3)")
    add_json_argument(parser, "the report (attach it to an issue)")
    add_runner_arguments(parser, rows=True)
    return parser


def run_checks(args):
    """(checks, bundle or None) for parsed arguments."""
    from edge.doctor.bundle_checks import bundle_checks
    from edge.doctor.machine import machine_checks

    log = progress_log(PROG)
    bundle = Bundle.load(args.bundle) if args.bundle else None   # a wrong path is a usage error: exit 2
    if args.source:
        from edge.sources.uri import parse_source
        parse_source(args.source, **source_options(vars(args)))   # so is a bad source option
    log("checking this machine")
    checks = machine_checks(bundle_dir=args.bundle)
    if bundle is not None:
        log("checking {} on its golden set".format(bundle.path))
        checks.extend(bundle_checks(bundle, build_engine=args.build_engine, log=log,
                                    runtimes=args.runtimes, precisions=args.precisions, threads=args.threads,
                                    checkpoint=args.checkpoint))
    if args.source:
        from edge.doctor.source_check import source_check
        log("reading {} for {:g} s".format(args.source, args.seconds))
        checks.append(source_check(args.source, seconds=args.seconds, options=source_options(vars(args))))
    return checks, bundle


def _main(argv):
    args = build_parser().parse_args(argv)
    from edge.options.ranges import check_args
    check_args(args, ("seconds",) + RUNNER_NUMBERS + SOURCE_NUMBERS)
    checks, bundle = run_checks(args)
    table = not json_to_stdout(args)
    if table:
        print(report.table(checks))
        print()
        print(report.summary_line(checks))
    if args.json:
        from edge.benchmark.environment import environment
        command = [PROG] + (list(argv) if argv is not None else sys.argv[1:])
        write_json_result(args.json, report.document(checks, command, bundle, environment(), utc_timestamp()))
    return EXIT_SOME_FAILED if report.verdict(checks) == FAIL else EXIT_OK


def main(argv=None):
    return run_main(PROG, _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
