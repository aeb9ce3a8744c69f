"""edge-camera: classify a camera or stream continuously (or find its points) and publish the results.

Captures with OpenCV (CSI through GStreamer, USB, RTSP, HTTP MJPEG, files, image folders),
always on the newest frame; runs the bundle with TensorRT, ONNX Runtime or PyTorch; publishes JSON
lines, an HTTP server (/healthz /metrics /latest /stream.mjpg) and MQTT, each sink named by a URI
(--sink jsonl:PATH, http://HOST:PORT, mqtt://HOST/TOPIC; the older sink flags are aliases until 0.2).
A classifier's results carry its top-k labels; a regression bundle's carry its points in pixels of the
frame ("values"), drawn on the preview. A lost source is reopened with backoff while health reports
"degraded"; SIGHUP (systemctl reload) swaps the model live: the bundle folder is loaded again beside the
running model, golden-checked on this machine and taken between two results only if it passes (else the
old model goes on, and /healthz "model" says why); SIGTERM or Ctrl-C stops it within two seconds with the sinks flushed (MQTT results
not yet acknowledged stay in the outbox on disk and go first at the next start). Options can come from a YAML file with the same keys (--config);
flags win.

Exit codes: 0 stopped cleanly (signal, --duration, --max-frames, end of a file source); 1 a stop-then-load
model swap whose new model was refused could not load the old one again; 2 bad configuration or bundle; 3 a file or folder source that cannot be opened, or a source setting
that can never work (a live camera or stream that does not open is retried with backoff for as long as
the daemon runs, health "degraded"); 130 Ctrl-C before it started.
"""

from edge.cli import make_parser, progress_log, run_main
from edge.errors import EXIT_OK, EdgeError, Unusable


def build_parser():
    from edge.net.http_access import add_access_arguments
    from edge.options import camera_config as options
    from edge.options.mqtt_args import add_mqtt_arguments
    from edge.options.runner_args import add_runner_arguments, add_tta_argument
    from edge.options.sink_args import HTTP_OPTIONS, JSONL_OPTIONS, MQTT_SINK_OPTIONS, SINKS
    from edge.options.source_args import add_source_arguments
    from edge.options.table import add_flags
    from edge.sinks.uri import USAGE as SINK_USAGE
    from edge.sources.uri import USAGE

    parser = make_parser("edge-camera", __doc__, USAGE + "\n" + SINK_USAGE + """
examples:
  edge-camera bundle/ --source csi://0 --width 1280 --height 720 --sink http://127.0.0.1:8080
  edge-camera bundle/ --source rtsp://10.0.0.5/stream --sink mqtt://127.0.0.1/edge/camera/results --on-change
  edge-camera bundle/ --source video.mp4 --sink jsonl:- --sink 'mqtt://10.0.0.2:1883/line1/results?qos=1&retain=1'
  edge-camera --config /etc/edge-toolkit/edge-camera.yaml
""")
    # Every default is None: unset flags fall through to --config, then built-in defaults.
    parser.add_argument("bundle", nargs="?", help="bundle folder written by edge-export")
    parser.add_argument("--config", help="YAML file with the same keys as these flags")
    add_flags(add_source_arguments(parser), options.SOURCE)
    add_runner_arguments(parser)
    add_tta_argument(parser, default=None)
    add_flags(parser, options.RUNTIME)
    sinks = add_flags(parser.add_argument_group("sinks"), (SINKS,) + JSONL_OPTIONS + HTTP_OPTIONS)
    add_access_arguments(sinks, "/healthz")
    add_mqtt_arguments(sinks)
    add_flags(sinks, MQTT_SINK_OPTIONS + options.FILTER)
    add_flags(parser.add_argument_group("run control"), options.RUN_CONTROL)
    return parser


log = progress_log("edge-camera")


def open_options(config, bundle):
    """The open_source keywords for `bundle`: the source flags, and the capture scaling it allows."""
    from edge.options.source_args import source_options
    from edge.sources.scaling import demand_for

    problem = bundle.task.filters_problem(config["bundle"])
    if problem and (config["on_change"] or config["min_confidence"] is not None):
        raise EdgeError(problem)
    return dict(source_options(config), loop=config["loop"], realtime=config["realtime"],
                scale_to=demand_for(bundle))   # a GStreamer capture scales to the model's box


def _main(argv):
    args = build_parser().parse_args(argv)
    from edge.options.camera_config import CAMERA_OPTIONS, resolve
    from edge.sinks.factory import http_access, sink_specs

    config = resolve(CAMERA_OPTIONS.flags_of(args), args.config)
    specs = sink_specs(config)
    access = http_access(config, specs, log)

    from edge.bundle.bundle import Bundle
    from edge.sources.factory import open_source
    from edge.tasks.tta import DihedralViews

    bundle = Bundle.load(config["bundle"])
    views = DihedralViews.for_bundle(bundle, config["tta"])
    source_options = open_options(config, bundle)
    open_source(config["source"], **source_options)  # validate the URI before starting anything
    runner, why = daemon_runner(config, bundle)
    return run_daemon(config, bundle, runner, why, views, specs, access, source_options)


def daemon_runner(config, bundle, checkpoint=True):
    """(runner, why) for `bundle` with the runtime options of `config` (edge.runners.select.camera_runner: no spinning,
    threads fitted to the frame rate without --threads); checkpoint=False: a swap's new bundle, which has its own."""
    from edge.runners.select import camera_runner
    from edge.tasks.tta import DihedralViews

    return camera_runner(bundle, config["runtime"], config["precision"], threads=config["threads"],
                         checkpoint=config["checkpoint"] if checkpoint else None, build_engine=config["build_engine"],
                         log=log, fps=config["fps"], views=DihedralViews.for_bundle(bundle, config["tta"]).count)


def model_swap(config, bundle, runner, why, views):
    """The daemon's ModelSwap: its first model, and new bundles made as that one was (same runtime options)."""
    from edge.daemon.swap import LoadedModel, ModelSwap
    from edge.tasks.registry import model_for
    from edge.tasks.tta import DihedralViews

    def make(new_bundle):
        return daemon_runner(config, new_bundle, checkpoint=new_bundle.path == bundle.path)

    def wrap(new_bundle, new_runner, new_why):
        new_views = views if new_bundle is bundle else DihedralViews.for_bundle(new_bundle, config["tta"])
        return (model_for(new_bundle, new_runner, k=config["top_k"], views=new_views),
                new_views.label(new_runner.describe()))

    model, label = wrap(bundle, runner, why)
    return ModelSwap(LoadedModel(bundle, runner, why, model, label), make, wrap, log=log, mode=config["swap"])


def run_daemon(config, bundle, runner, why, views, specs, access, source_options):
    """Start the sinks and the capture, classify until a stop, then close everything; the exit code."""
    from edge.daemon.loop import CameraDaemon
    from edge.daemon.telemetry import Telemetry
    from edge.sinks.factory import build_sinks
    from edge.sources.factory import open_source
    from edge.sources.grabber import LatestFrameGrabber

    telemetry = Telemetry()
    swap = None
    sinks = build_sinks(specs, config, telemetry, viewers=source_options["scale_to"], access=access, log=log)
    telemetry.sinks = sinks
    grabber = LatestFrameGrabber(lambda: open_source(config["source"], **source_options),
                                 stall_timeout=config["stall_timeout"], reconnect_max=config["reconnect_max"], log=log)
    started = []
    try:
        runner.activate()
        log("runtime: {} ({})".format(runner.describe(), why))
        if views.count > 1:
            log(views.describe(runner.batch_limit()))
        swap = telemetry.reloader = model_swap(config, bundle, runner, why, views)
        for sink in sinks:
            sink.start()
            started.append(sink)
            if getattr(sink, "url", None):
                log("serving {} (/healthz /metrics /latest /stream.mjpg)".format(sink.url))
        daemon = CameraDaemon(swap.current.model, grabber, sinks, telemetry, swap.current.label,
                              max_frames=config["max_frames"], duration=config["duration"],
                              log_every=config["log_every"], log=log, swap=swap)
        daemon.install_signal_handlers()
        log("reading {}".format(config["source"]))
        grabber.start()
        reason = daemon.run()
        log("{}: {} frames, {} dropped, {} reconnects".format(reason, daemon.frames, grabber.frames_dropped,
                                                              grabber.reconnects))
    finally:
        if swap is not None:
            swap.wait(timeout=1.0)   # a swap under way may end first; the stop stays within two seconds
        (swap.current.runner if swap is not None else runner).deactivate()
        grabber.stop(timeout=0.5)
        for sink in started:
            try:
                sink.close(timeout=1.0)
            except Exception as exc:  # closing must not hide why we stopped
                log("closing {} failed: {}".format(sink.name, exc))
    if grabber.fatal is not None:
        raise Unusable(str(grabber.fatal))
    if swap is not None and swap.fatal:
        from edge.daemon.swap import ModelLost
        raise ModelLost(swap.fatal)
    return EXIT_OK


def main(argv=None):
    return run_main("edge-camera", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
