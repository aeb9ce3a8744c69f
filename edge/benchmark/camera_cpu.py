"""CPU per result at camera rate: ONNX Runtime's spinning threads on and off, with 1 and 2 threads.

    python -m edge.benchmark.camera_cpu BUNDLE --source VIDEO [--seconds 10] [--json out.json]

The daemon's own loop reads VIDEO paced at its frame rate (a 30 fps camera stand-in) for each
setting; the process's CPU time (all threads) over the run gives the percent of one core and the
CPU milliseconds per result, beside inference and capture-to-result latency p50/p99. Spinning
workers answer a call a little sooner but busy-wait between frames; at camera rate that time
belongs to the application. A benchmark, not a test: it prints figures.
"""

import sys

from edge.benchmark.stats import summarize
from edge.cli import make_parser, run_main

SETTINGS = ((True, 1), (True, 2), (False, 1), (False, 2))   # (spinning, threads)


def measure(bundle, source, spinning, threads, seconds, runtime="onnxruntime", precision="auto"):
    """One row: the daemon over `source` for `seconds` with this setting."""
    from edge.benchmark.pipeline import run_daemon
    from edge.runners.select import make_runner
    from edge.sources.factory import open_source

    factory = lambda: make_runner(bundle, runtime, precision, threads=threads, spinning=spinning)[0]
    results, wall, grabber, cpu_seconds = run_daemon(
        bundle, factory, lambda: open_source(source, loop=True, realtime=True), duration=seconds)[:4]
    inference = summarize([r["latency_ms"]["inference"] for r in results])
    capture = summarize([r["latency_ms"]["capture_to_result"] for r in results])
    return {"spinning": spinning, "threads": threads, "results": len(results), "fps": len(results) / wall,
            "cpu_percent": 100.0 * cpu_seconds / wall, "cpu_ms_per_result": 1000.0 * cpu_seconds / len(results),
            "inference_ms": {"p50": inference["p50"], "p99": inference["p99"]},
            "capture_to_result_ms": {"p50": capture["p50"], "p99": capture["p99"]}, "runtime": results[0]["runtime"]}


def _main(argv):
    parser = make_parser("python -m edge.benchmark.camera_cpu", __doc__)
    parser.add_argument("bundle")
    parser.add_argument("--source", required=True, help="a video file (paced at its own frame rate)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per setting (default 10)")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    from edge.bundle.bundle import Bundle

    bundle = Bundle.load(args.bundle)
    rows = []
    print("{:<9} {:>7} {:>6} {:>8} {:>13} {:>16} {:>16}".format(
        "spinning", "threads", "fps", "CPU %", "CPU ms/result", "inference p50/99", "capture p50/99"))
    for spinning, threads in SETTINGS:
        row = measure(bundle, args.source, spinning, threads, args.seconds, precision=args.precision)
        rows.append(row)
        print("{:<9} {:>7} {:>6.1f} {:>8.0f} {:>13.2f} {:>7.2f}/{:<8.2f} {:>7.2f}/{:<8.2f}".format(
            "on" if spinning else "off", threads, row["fps"], row["cpu_percent"], row["cpu_ms_per_result"],
            row["inference_ms"]["p50"], row["inference_ms"]["p99"], row["capture_to_result_ms"]["p50"],
            row["capture_to_result_ms"]["p99"]))
        sys.stdout.flush()
    if args.json:
        from edge.util.atomic import write_json
        write_json(args.json, {"source": args.source, "seconds": args.seconds, "rows": rows})
    return 0


def main(argv=None):
    return run_main("python -m edge.benchmark.camera_cpu", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
