"""`edge-doctor`: check this machine, and a bundle, against the desktop's own numbers.

    edge-doctor                                  the machine: L4T, TensorRT, CUDA, GPU, OpenCV, cameras, power
    edge-doctor bundle/                          ... and every runtime here on the bundle's golden set
    edge-doctor bundle/ --build-engine           ... building this GPU's missing engines first
    edge-doctor bundle/ --source csi://0         ... and a camera: frame rate and size
    edge-doctor bundle/ --json report.json       a report to attach to an issue

Run it first when something is wrong. Exit codes: 0 every check that could run passed (skips are
listed, and never count as passes); 1 a check failed; 2 usage error.
"""

import os
import sys

from edge.atomic import write_json
from edge.bundle import Bundle
from edge.cli import make_parser, run_main
from edge.doctor import report
from edge.doctor.checks import FAIL
from edge.timestamps import utc_timestamp

PROG = "edge-doctor"


def build_parser():
    parser = make_parser(PROG, __doc__)
    parser.add_argument("bundle", nargs="?", help="bundle folder to check (with its golden set)")
    parser.add_argument("--source", metavar="URI", help="a camera or stream to read for a few seconds (csi://0, ...)")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to read --source (default 3)")
    parser.add_argument("--json", metavar="PATH", help="write the report as JSON (attach it to an issue)")
    parser.add_argument("--build-engine", action="store_true",
                        help="build the TensorRT engines this GPU lacks before checking them")
    return parser


def _log(line):
    print("  " + line, flush=True)


def run_checks(args):
    """(checks, bundle or None) for parsed arguments."""
    from edge.doctor.bundle_checks import bundle_checks
    from edge.doctor.machine import machine_checks

    bundle = Bundle.load(args.bundle) if args.bundle else None   # a wrong path is a usage error: exit 2
    checks = machine_checks(bundle_dir=args.bundle)
    if bundle is not None:
        checks.extend(bundle_checks(bundle, build_engine=args.build_engine, log=_log))
    if args.source:
        from edge.doctor.source_check import source_check
        checks.append(source_check(args.source, seconds=args.seconds))
    return checks, bundle


def _main(argv):
    args = build_parser().parse_args(argv)
    from edge.option_ranges import check_args
    check_args(args, ("seconds",))
    checks, bundle = run_checks(args)
    print(report.table(checks))
    print()
    print(report.summary_line(checks))
    if args.json:
        from edge.benchmark.environment import environment
        command = [PROG] + (list(argv) if argv is not None else sys.argv[1:])
        write_json(args.json, report.document(checks, command, bundle, environment(), utc_timestamp()))
        print("wrote {}".format(os.path.abspath(args.json)))
    return 1 if report.verdict(checks) == FAIL else 0


def main(argv=None):
    return run_main(PROG, _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
