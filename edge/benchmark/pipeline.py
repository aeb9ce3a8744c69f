"""edge-bench --source: the camera pipeline end to end, through the daemon's own loop.

Frames per second and capture-to-result latency as the daemon sees them (newest frame only),
with the per-stage split, and the CPU a result costs split into the inference's and the rest's
(edge.benchmark.cpu_account): one measurement per runtime and precision --runtimes and --precisions
ask for (auto, the runner edge-camera would pick, when none), run as edge-camera runs it
(edge.runners.select.camera_runner: no spinning, threads fitted to the frame rate unless --threads).
"""

import collections
import time

from edge.benchmark.cpu_account import CountedRunner, cpu_section, cpu_text, marks, replay_calls, replay_inference
from edge.benchmark.stats import summarize
from edge.util.cpu import CpuMeter

# marks: edge.benchmark.cpu_account.Marks at the first and the last result; inference: replay_inference's
# (process, calling thread) CPU seconds per call and replay its (calls, interval s), or None.
DaemonRun = collections.namedtuple("DaemonRun", "results wall grabber cpu_seconds daemon marks inference replay")


def run_daemon(bundle, runner_factory, source, frames=None, duration=None, views=None, replay=False):
    """A DaemonRun (results, wall seconds, grabber, process CPU seconds, ...) of the real daemon loop over `source`,
    null sink; `views`: edge.tasks.tta's views of each frame (--tta). replay: then infer the last frame again on the
    same runner for the inference's CPU (edge.benchmark.cpu_account)."""
    from edge.daemon.loop import CameraDaemon
    from edge.tasks.registry import model_for
    from edge.sinks.base import Sink
    from edge.sources.grabber import LatestFrameGrabber
    from edge.daemon.telemetry import Telemetry

    class Collect(Sink):
        name = "collect"

        def __init__(self):
            super(Collect, self).__init__()
            self.results = []
            self.last_frame = None
            self.first = None   # the counters at the first result

        def publish(self, result, frame=None):
            if not self.results:
                self.first = marks(daemon, grabber, counted)
            self.results.append(result)
            self.last_frame = frame
            self.published += 1

    sink = Collect()
    runner = runner_factory()
    with runner:
        grabber = LatestFrameGrabber(source)
        counted = CountedRunner(runner)
        model = model_for(bundle, counted, k=3, views=views)
        daemon = CameraDaemon(model, grabber, [sink], Telemetry(), model.views.label(runner.describe()),
                              max_frames=frames, duration=duration, log_every=1e9, log=lambda text: None)
        started = time.perf_counter()
        grabber.start()
        meter = CpuMeter()
        daemon.run()
        wall = time.perf_counter() - started
        cpu_seconds = meter.since_start()[0]
        last = marks(daemon, grabber, counted)
        grabber.stop()
        inference, pacing = None, None
        if replay and len(sink.results) > 1:
            batch = model.views.expand(model.prepare(sink.last_frame.image)[None])
            interval = (last.wall - sink.first.wall) / (len(sink.results) - 1)
            pacing = (replay_calls(interval), interval)
            inference = replay_inference(lambda: runner.infer(batch), interval, pacing[0])
    return DaemonRun(sink.results, wall, grabber, cpu_seconds, daemon, (sink.first, last), inference, pacing)


STAGES = ("capture_wait", "preprocess", "inference", "postprocess", "publish", "capture_to_result")


def measure_pipeline(bundle, source, duration, runtime="auto", precision="auto", threads=None, checkpoint=None,
                     tta="none", capture=None, log=None):
    """One measurement of the daemon loop over `source` for `duration` seconds with one runner: a dict.

    capture: the source options (edge.options.source_args.source_options); the frames are scaled for the
    bundle as edge-camera scales them. log: where the runner's thread choice is said."""
    from edge.errors import EdgeError
    from edge.runners.select import camera_runner
    from edge.sources.factory import open_source
    from edge.sources.scaling import demand_for
    from edge.tasks.tta import DihedralViews

    options = dict(capture or {}, loop=True, realtime=True, scale_to=demand_for(bundle))
    views = DihedralViews.for_bundle(bundle, tta)
    factory = lambda: camera_runner(bundle, runtime, precision, threads=threads, checkpoint=checkpoint, log=log,
                                    fps=options.get("fps"), views=views.count)[0]
    run = run_daemon(bundle, factory, lambda: open_source(source, **options), duration=duration, views=views,
                     replay=True)
    results, wall = run.results, run.wall
    if len(results) < 2:
        raise EdgeError("the pipeline produced {} results from {} in {:.0f} s".format(len(results), source, wall))
    cpu = cpu_section(run.marks[0], run.marks[1], len(results) - 1, run.grabber.drain_cpu_s, run.inference,
                      run.replay[0], run.replay[1])
    return {"requested": {"runtime": runtime, "precision": precision}, "runtime": results[0]["runtime"], "tta": tta,
            "seconds": wall, "results": len(results), "fps": len(results) / wall,
            "dropped": run.grabber.frames_dropped, "reconnects": run.grabber.reconnects,
            "latency_ms": dict((stage, summarize([r["latency_ms"][stage] for r in results])) for stage in STAGES),
            "cpu_percent": cpu["percent_of_one_core"], "cpu_ms_per_result": cpu["ms_per_result"], "cpu": cpu}


def measurement_text(measurement, source):
    """The lines edge-bench --source prints for one measurement."""
    lines = ["pipeline: {} on {}: {} results in {:.1f} s = {:.1f} fps, {} frames dropped (newest frame only)".format(
                 measurement["runtime"], source, measurement["results"], measurement["seconds"], measurement["fps"],
                 measurement["dropped"]),
             cpu_text(measurement["cpu"]),
             "{:<18} {:>9} {:>9} {:>9} {:>9}".format("stage", "p50 ms", "p90 ms", "p99 ms", "max ms")]
    for stage in STAGES:
        row = measurement["latency_ms"][stage]
        lines.append("{:<18} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f}".format(
            stage, row["p50"], row["p90"], row["p99"], row["max"]))
    return "\n".join(lines)


def bench_pipeline(bundle, source, duration, runtimes=None, precisions=None, threads=None, checkpoint=None,
                   log=None, tta="none", capture=None):
    """One measurement per runtime x precision asked (auto when none): the result document."""
    from edge.benchmark.environment import environment
    from edge.sources.factory import open_source
    from edge.util.timestamps import utc_timestamp

    from edge.tasks.tta import check_mode

    open_source(source, **(capture or {}))  # validate before starting
    check_mode(tta, bundle.spec.size)
    log = log or (lambda text: None)
    measurements = []
    for runtime in runtimes or ["auto"]:
        for precision in precisions or ["auto"]:
            log("measuring the pipeline on {} for {:g} s: runtime {}, precision {}".format(
                source, duration, runtime, precision))
            measurements.append(measure_pipeline(bundle, source, duration, runtime, precision, threads, checkpoint,
                                                 tta, capture, log))
    return {"schema": "edge-toolkit/bench-pipeline", "schema_version": 3, "created": utc_timestamp(),
            "source": source, "duration_s": duration, "measurements": measurements, "environment": environment()}
