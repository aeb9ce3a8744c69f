"""edge-camera: classify a camera or stream continuously (or find its points) and publish the results.

Captures with OpenCV (CSI through GStreamer, USB, RTSP, HTTP MJPEG, files, image folders),
always on the newest frame; runs the bundle with TensorRT, ONNX Runtime or PyTorch; publishes JSON
lines, an HTTP server (/healthz /metrics /latest /stream.mjpg) and MQTT. A classifier's results
carry its top-k labels; a regression bundle's carry its points in pixels of the frame ("values"),
drawn on the preview. A lost source is
reopened with backoff while health reports "degraded"; SIGTERM, SIGHUP or Ctrl-C stops it within
two seconds with the sinks flushed (MQTT results not yet acknowledged stay in the outbox on disk
and go first at the next start). Options can come from a YAML file with the same keys (--config);
flags win.

Exit codes: 0 stopped cleanly (signal, --duration, --max-frames, end of a file source);
2 bad configuration or bundle; 3 a file or folder source that cannot be opened, or a source setting
that can never work (a live camera or stream that does not open is retried with backoff for as long as
the daemon runs, health "degraded"); 130 Ctrl-C before it started.
"""

from edge.cli import make_parser, progress_log, run_main
from edge.errors import EXIT_OK, EdgeError, Unusable


def build_parser():
    from edge.net.http_access import add_access_arguments
    from edge.options.mqtt_args import add_mqtt_arguments
    from edge.options.runner_args import add_runner_arguments, add_tta_argument
    from edge.options.source_args import add_source_arguments
    from edge.sources.uri import USAGE

    parser = make_parser("edge-camera", __doc__, USAGE + """
examples:
  edge-camera bundle/ --source csi://0 --width 1280 --height 720 --http-port 8080
  edge-camera bundle/ --source rtsp://10.0.0.5/stream --mqtt-host 127.0.0.1 --on-change
  edge-camera --config /etc/edge-toolkit/edge-camera.yaml
""")
    # Every default is None: unset flags fall through to --config, then built-in defaults.
    parser.add_argument("bundle", nargs="?", help="bundle folder written by edge-export")
    parser.add_argument("--config", help="YAML file with the same keys as these flags")
    source = add_source_arguments(parser)
    source.add_argument("--loop", action="store_const", const=True, help="repeat a file or folder")
    source.add_argument("--realtime", action="store_const", const=True,
                        help="play a video file at its frame rate, like a camera (frames are dropped when "
                             "inference is slower); default for files: every frame, as fast as possible")
    source.add_argument("--stall-timeout", type=float, help="reconnect a live source silent this long (default 5 s)")
    source.add_argument("--reconnect-max", type=float,
                        help="longest wait between attempts to reopen a lost live source; the wait doubles from "
                             "0.5 s up to this (default 10 s)")
    add_runner_arguments(parser)
    add_tta_argument(parser, default=None)
    parser.add_argument("--top-k", type=int, help="labels per result (default 3)")
    sinks = parser.add_argument_group("sinks")
    sinks.add_argument("--jsonl", help="append JSON lines to this file ('-' for stdout)")
    sinks.add_argument("--jsonl-max-mb", type=float,
                       help="rotate the JSON lines file at this size (default 100; 0 = never)")
    sinks.add_argument("--jsonl-keep", type=int, help="rotated JSON lines files kept as FILE.1 ... FILE.N (default 5)")
    sinks.add_argument("--http-port", type=int, help="serve /healthz /metrics /latest /stream.mjpg (0 = any free port)")
    sinks.add_argument("--http-host", help="address to bind (default 127.0.0.1: this machine only)")
    add_access_arguments(sinks, "/healthz")
    add_mqtt_arguments(sinks)
    sinks.add_argument("--mqtt-topic", help="default edge/camera/results")
    sinks.add_argument("--mqtt-retain", action="store_const", const=True, help="retain the last result")
    sinks.add_argument("--mqtt-queue", type=int,
                       help="results kept in the outbox while the broker is away, at most (default 200000)")
    sinks.add_argument("--mqtt-outbox",
                       help="SQLite file holding MQTT results until the broker acknowledges them, across "
                            "restarts and reboots (default mqtt-outbox.db in the current folder)")
    sinks.add_argument("--mqtt-outbox-max-mb", type=float,
                       help="outbox size bound: the oldest results are dropped beyond it (default 100)")
    sinks.add_argument("--mqtt-outbox-max-age-h", type=float,
                       help="results older than this many hours are dropped from the outbox (default 24)")
    sinks.add_argument("--on-change", action="store_const", const=True,
                       help="publish (JSON lines, MQTT) only when the top-1 label changes (classifiers)")
    sinks.add_argument("--min-confidence", type=float,
                       help="publish only results whose top-1 is at least this (classifiers)")
    sinks.add_argument("--heartbeat", type=float, help="with a filter: still publish at least every N seconds")
    run = parser.add_argument_group("run control")
    run.add_argument("--max-frames", type=int, help="stop after N results")
    run.add_argument("--duration", type=float, help="stop after N seconds")
    run.add_argument("--log-every", type=float, help="status line every N seconds (default 10)")
    return parser


FLAG_KEYS = ("bundle", "source", "width", "height", "fps", "flip", "loop", "realtime", "stall_timeout", "reconnect_max",
             "runtime", "precision", "threads", "checkpoint", "build_engine", "tta", "top_k", "jsonl", "jsonl_max_mb",
             "jsonl_keep", "http_port", "http_host", "mqtt_host", "mqtt_port", "mqtt_topic", "mqtt_qos", "mqtt_retain",
             "mqtt_client_id", "mqtt_username", "mqtt_password_file", "mqtt_tls_ca", "mqtt_tls_cert", "mqtt_tls_key",
             "mqtt_tls_insecure", "mqtt_queue", "mqtt_outbox", "mqtt_outbox_max_mb", "mqtt_outbox_max_age_h",
             "on_change", "min_confidence", "heartbeat", "max_frames", "duration", "log_every", "codec",
             "capture_backend", "token_file", "tls_cert", "tls_key")


log = progress_log("edge-camera")


def open_options(config, bundle):
    """The open_source keywords for `bundle`: the source flags, and the capture scaling it allows."""
    from edge.options.source_args import source_options
    from edge.sources.scaling import demand_for

    if bundle.targets is not None and (config["on_change"] or config["min_confidence"] is not None):
        raise EdgeError("--on-change and --min-confidence filter on a classifier's top-1; {} is a regression bundle "
                        "(its results are points): drop them".format(config["bundle"]))
    return dict(source_options(config), loop=config["loop"], realtime=config["realtime"],
                scale_to=demand_for(bundle))   # a GStreamer capture scales to the model's box


def http_access(config):
    """The HTTP port's token and TLS (edge.net.http_access.Access), with edge-serve's rules, or None without
    --http-port; read before anything starts, so an unreadable file is one line and exit code 2."""
    if config["http_port"] is None:
        return None
    from edge.net.http_access import Access, open_warning, read_token, tls_context

    token = read_token(config["token_file"], log)
    access = Access(token, tls_context(config["tls_cert"], config["tls_key"]), realm="edge-camera")
    warning = open_warning(config["http_host"], token, "watch the camera and read its results")
    if warning:
        log(warning)
    return access


def build_sinks(config, telemetry, viewers=None, access=None):
    from edge.sinks.filters import FilteredSink, PublishPolicy

    sinks = []
    if config["http_port"] is not None:
        from edge.sinks.http import HttpSink
        sinks.append(HttpSink(telemetry, host=config["http_host"], port=config["http_port"], viewers=viewers,
                              access=access))
    filtered = []
    if config["jsonl"]:
        from edge.sinks.jsonl import JsonLinesSink
        filtered.append(JsonLinesSink(config["jsonl"], max_bytes=int(config["jsonl_max_mb"] * 2 ** 20),
                                      keep=config["jsonl_keep"]))
    if config["mqtt_host"]:
        from edge.net.mqtt_client import read_password
        from edge.sinks.mqtt import MqttSink
        from edge.sinks.outbox import Outbox
        outbox = Outbox(config["mqtt_outbox"], max_bytes=int(config["mqtt_outbox_max_mb"] * 2 ** 20),
                        max_age_s=config["mqtt_outbox_max_age_h"] * 3600.0, max_rows=config["mqtt_queue"], log=log)
        password = read_password(config["mqtt_password_file"])
        filtered.append(MqttSink(
            config["mqtt_host"], config["mqtt_port"], config["mqtt_topic"], config["mqtt_qos"], config["mqtt_retain"],
            config["mqtt_client_id"], config["mqtt_username"], password, config["mqtt_tls_ca"], config["mqtt_tls_cert"],
            config["mqtt_tls_key"], config["mqtt_tls_insecure"], outbox=outbox, log=log))
    for sink in filtered:
        policy = PublishPolicy(config["on_change"], config["min_confidence"], config["heartbeat"])
        sinks.append(FilteredSink(sink, policy) if policy.active else sink)
    return sinks


def _main(argv):
    args = build_parser().parse_args(argv)
    from edge.options import camera_config
    config = camera_config.resolve(dict((key, getattr(args, key)) for key in FLAG_KEYS), args.config)
    access = http_access(config)

    from edge.bundle.bundle import Bundle
    from edge.daemon.loop import CameraDaemon
    from edge.tasks.registry import model_for
    from edge.runners.select import make_runner
    from edge.sources.factory import open_source
    from edge.sources.grabber import LatestFrameGrabber
    from edge.daemon.telemetry import Telemetry
    from edge.tasks.tta import DihedralViews

    bundle = Bundle.load(config["bundle"])
    views = DihedralViews.for_bundle(bundle, config["tta"])
    source_options = open_options(config, bundle)
    open_source(config["source"], **source_options)  # validate the URI before starting anything
    # A camera delivers frames far apart: idle worker threads sleep instead of spinning (CPU per result).
    runner, why = make_runner(bundle, config["runtime"], config["precision"], threads=config["threads"],
                              checkpoint=config["checkpoint"], build_engine=config["build_engine"], log=log,
                              spinning=False)
    telemetry = Telemetry()
    sinks = build_sinks(config, telemetry, viewers=source_options["scale_to"], access=access)
    telemetry.sinks = sinks
    grabber = LatestFrameGrabber(lambda: open_source(config["source"], **source_options),
                                 stall_timeout=config["stall_timeout"], reconnect_max=config["reconnect_max"], log=log)
    started = []
    try:
        with runner:
            log("runtime: {} ({})".format(runner.describe(), why))
            if views.count > 1:
                log(views.describe(runner.batch_limit()))
            for sink in sinks:
                sink.start()
                started.append(sink)
                if getattr(sink, "url", None):
                    log("serving {} (/healthz /metrics /latest /stream.mjpg)".format(sink.url))
            daemon = CameraDaemon(model_for(bundle, runner, k=config["top_k"], views=views), grabber, sinks,
                                  telemetry, views.label(runner.describe()), max_frames=config["max_frames"],
                                  duration=config["duration"], log_every=config["log_every"], log=log)
            daemon.install_signal_handlers()
            log("reading {}".format(config["source"]))
            grabber.start()
            reason = daemon.run()
            log("{}: {} frames, {} dropped, {} reconnects".format(reason, daemon.frames, grabber.frames_dropped,
                                                                  grabber.reconnects))
    finally:
        grabber.stop(timeout=0.5)
        for sink in started:
            try:
                sink.close(timeout=1.0)
            except Exception as exc:  # closing must not hide why we stopped
                log("closing {} failed: {}".format(sink.name, exc))
    if grabber.fatal is not None:
        raise Unusable(str(grabber.fatal))
    return EXIT_OK


def main(argv=None):
    return run_main("edge-camera", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
