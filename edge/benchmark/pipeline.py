"""edge-bench --source: the camera pipeline end to end, through the daemon's own loop.

Frames per second and capture-to-result latency as the daemon sees them (newest frame only),
with the per-stage split, for the runtime --runtime/auto picks.
"""

import time

from edge.benchmark.stats import summarize
from edge.cpu import CpuMeter


def run_daemon(bundle, runner_factory, source, frames=None, duration=None):
    """(results, wall seconds, grabber, process CPU seconds) of the real daemon loop over `source`, null sink."""
    from edge.classifier import Classifier
    from edge.daemon import CameraDaemon
    from edge.sinks.base import Sink
    from edge.sources.grabber import LatestFrameGrabber
    from edge.telemetry import Telemetry

    class Collect(Sink):
        name = "collect"

        def __init__(self):
            super(Collect, self).__init__()
            self.results = []

        def publish(self, result, frame=None):
            self.results.append(result)
            self.published += 1

    sink = Collect()
    runner = runner_factory()
    with runner:
        grabber = LatestFrameGrabber(source)
        daemon = CameraDaemon(Classifier(bundle, runner, k=3), grabber, [sink], Telemetry(), runner.describe(),
                              max_frames=frames, duration=duration, log_every=1e9, log=lambda text: None)
        started = time.perf_counter()
        grabber.start()
        meter = CpuMeter()
        daemon.run()
        wall = time.perf_counter() - started
        cpu_seconds = meter.since_start()[0]
        grabber.stop()
    return sink.results, wall, grabber, cpu_seconds


def bench_pipeline(bundle, args):
    """Run the daemon loop on args.source for args.duration seconds and report; returns an exit code."""
    from edge.atomic import write_json
    from edge.benchmark.environment import environment
    from edge.runners.select import make_runner
    from edge.sources.factory import open_source
    from edge.timestamps import utc_timestamp

    open_source(args.source)  # validate before starting
    runtime = "auto"
    if args.runtimes:
        runtime = args.runtimes.split(",")[0].strip()
    # As the daemon runs it: ONNX Runtime's idle threads sleep between camera frames.
    factory = lambda: make_runner(bundle, runtime, "auto", threads=args.threads, checkpoint=args.checkpoint,
                                  spinning=False)[0]
    results, wall, grabber, cpu_seconds = run_daemon(bundle, factory, lambda: open_source(args.source, loop=True, realtime=True),
                                        duration=args.duration)
    if len(results) < 2:
        from edge.errors import EdgeError
        raise EdgeError("the pipeline produced {} results from {} in {:.0f} s".format(len(results), args.source, wall))
    stages = ("capture_wait", "preprocess", "inference", "postprocess", "publish", "capture_to_result")
    latency = dict((stage, summarize([r["latency_ms"][stage] for r in results])) for stage in stages)
    document = {"schema": "edge-toolkit/bench-pipeline", "schema_version": 1, "created": utc_timestamp(),
                "source": args.source, "runtime": results[0]["runtime"], "seconds": wall, "results": len(results),
                "fps": len(results) / wall, "dropped": grabber.frames_dropped, "reconnects": grabber.reconnects,
                "latency_ms": latency, "cpu_percent": 100.0 * cpu_seconds / wall,
                "cpu_ms_per_result": 1000.0 * cpu_seconds / len(results), "environment": environment()}
    print("pipeline: {} on {}: {} results in {:.1f} s = {:.1f} fps, {} frames dropped (newest frame only)".format(
        document["runtime"], args.source, len(results), wall, document["fps"], grabber.frames_dropped))
    print("cpu: {:.0f}% of one core, {:.2f} ms of CPU per result".format(document["cpu_percent"],
                                                                       document["cpu_ms_per_result"]))
    print("{:<18} {:>9} {:>9} {:>9} {:>9}".format("stage", "p50 ms", "p90 ms", "p99 ms", "max ms"))
    for stage in stages:
        row = latency[stage]
        print("{:<18} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f}".format(stage, row["p50"], row["p90"], row["p99"], row["max"]))
    if args.json:
        write_json(args.json, document)
        print("wrote {}".format(args.json))
    return 0
