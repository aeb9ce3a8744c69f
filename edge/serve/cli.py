"""edge-serve: answer inference requests for a bundle, over HTTP, gRPC and MQTT.

HTTP, on 127.0.0.1:8000 by default: the KServe v2 REST protocol that Triton's clients speak
(tritonclient.http works unchanged: /v2/health/live, /v2/health/ready, /v2/models/NAME,
/v2/models/NAME/ready, /v2/models/NAME/infer with the model's input tensor as JSON or binary data,
answering the logits); POST /v1/predict with a JPEG or PNG (body or multipart form), answering the
top-k labels; /healthz and /metrics as edge-camera's. gRPC, on port 8001 by default (Triton's; any free
port with --port 0; --no-grpc turns it off): KServe v2's GRPCInferenceService with Triton's extensions, as
tritonclient.grpc calls it, on the same model and batcher (needs grpcio and protobuf: pip install
'jetson-edge-toolkit[grpc]'; without them, and without --grpc-port, edge-serve says so and serves HTTP
only). MQTT (--mqtt-host): requests on a topic,
answered on each request's Response Topic (MQTT 5) or on the reply_to of a JSON envelope
(MQTT 3.1.1).

Concurrent requests are batched: up to --max-batch images (within the bundle's batch range) in
one inference call, waiting at most --max-delay-ms for others to join. At most --max-queue
requests wait; more get 503 with Retry-After. SIGTERM or SIGINT drain: new requests get
503, those already taken are answered, and the server exits within two seconds. SIGHUP (systemctl reload)
swaps the model live: the bundle folder is loaded again beside the running model and golden-checked on this
machine (edge.daemon.swap); if it passes, new requests go to it while those already taken are answered by the
old model; if not, the old model goes on and /healthz "model.swap" says why.

Exit codes: 0 stopped by a signal, after draining; 2 bad options or bundle, the port in use, or --grpc-port
without grpcio (the default gRPC port in use only turns gRPC off, with a log line).
"""

import os
import re
import signal
import threading
import time

from edge.cli import make_parser, progress_log, run_main
from edge.errors import EXIT_OK, EdgeError
from edge.net.http_access import open_warning, read_token, tls_context
from edge.net.mqtt_client import PROTOCOLS
from edge.options.table import Option, add_flags, check_numbers

EPILOG = """examples:
  edge-serve bundle/                                   # http://127.0.0.1:8000, model 'bundle' (fp32) or 'bundle_int8'
  curl -s -H 'Content-Type: image/jpeg' --data-binary @photo.jpg http://127.0.0.1:8000/v1/predict
  curl -s -F image=@photo.jpg 'http://127.0.0.1:8000/v1/predict?top_k=3'
  edge-serve bundle/ --host 0.0.0.0 --token-file /etc/edge-toolkit/serve.token --max-batch 8 --max-delay-ms 5
  edge-serve bundle/ --host 0.0.0.0 --token-file serve.token --tls-cert cert.pem --tls-key key.pem   # https://
  edge-serve bundle/ --mqtt-host 127.0.0.1 --mqtt-request-topic factory/line1/classify
"""
DRAIN_S = 2.0            # from the signal to the exit
SERVE_PORT = 8000        # Triton's
GRPC_PORT = 8001         # Triton's (edge.serve.grpc_server.GRPC_PORT, which imports grpc lazily)

log = progress_log("edge-serve")


# edge-serve's own options (edge.options.table rows; the flags' defaults are the built-in ones).
HTTP_OPTIONS = (
    Option("host", str, "127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"),
    Option("http_port", int, SERVE_PORT, flag="--port",
           help="default {} (Triton's); 0 = any free port".format(SERVE_PORT)),
    Option("model_name", str, help="the model's base name in /v2/models/NAME (default: the bundle folder's name); "
                                   "as in edge-export's Triton repository, the precision adds _int8 or _trt_fp16 "
                                   "(fp32 ONNX nothing), and NAME_image takes RGB pixels (README: Triton)"),
)
GRPC_OPTIONS = (
    Option("grpc_port", int, help="KServe v2 gRPC port; default {} (Triton's), or any free port when --port is 0; "
                                  "0 = any free port".format(GRPC_PORT)),
    Option("no_grpc", bool, help="serve no gRPC"),
)
LIMIT_OPTIONS = (
    Option("max_body_bytes", int, 8 * 2 ** 20, help="larger request bodies get 413 (default 8 MiB)"),
    Option("client_timeout", float, 10.0, help="seconds a client may take to send its request, and a body a "
                                               "second more per 64 KiB (default 10)"),
)
BATCHING_OPTIONS = (
    Option("max_batch", int, 8, help="images per inference call, within the bundle's batch range; 1 turns "
                                     "batching off (default 8)"),
    Option("max_delay_ms", float, 0.0, help="how long a request may wait for others; default 0: a batch takes "
                                            "the requests that queued while the model was busy, so a lone "
                                            "request never waits"),
    Option("max_queue", int, 64, help="requests waiting at most; more get 503 (default 64)"),
)
TOP_K = (Option("top_k", int, 5, help="labels per /v1/predict and MQTT answer (default 5; /v1/predict?top_k=K)"),)
MQTT_REQUEST_OPTIONS = (
    Option("mqtt_request_topic", str, "edge/serve/requests",
           help="topic (filter) of the requests (default edge/serve/requests)"),
    Option("mqtt_protocol", str, "5", choices=PROTOCOLS,
           help="5 (default): answers on each request's Response Topic with its Correlation Data, and 3.1.1 "
                "envelopes too; 3.1.1: envelopes only (paho-mqtt before 1.5, old brokers)"),
)
SERVE_OPTIONS = HTTP_OPTIONS + GRPC_OPTIONS + LIMIT_OPTIONS + BATCHING_OPTIONS + TOP_K + MQTT_REQUEST_OPTIONS


def build_parser():
    from edge.net.http_access import add_access_arguments
    from edge.options.mqtt_args import add_mqtt_arguments
    from edge.options.runner_args import add_runner_arguments

    parser = make_parser("edge-serve", __doc__, EPILOG)
    parser.add_argument("bundle", help="bundle folder written by edge-export")
    http = add_flags(parser.add_argument_group("http"), HTTP_OPTIONS, with_defaults=True)
    add_access_arguments(http, "the health checks")
    add_flags(http, LIMIT_OPTIONS, with_defaults=True)
    add_flags(parser.add_argument_group("grpc (the same token, TLS and --max-body-bytes)"), GRPC_OPTIONS,
              with_defaults=True)
    add_flags(parser.add_argument_group("batching"), BATCHING_OPTIONS, with_defaults=True)
    add_flags(parser, TOP_K, with_defaults=True)
    add_runner_arguments(parser)
    mqtt = add_mqtt_arguments(parser.add_argument_group("mqtt (requests and answers)"))
    add_flags(mqtt, MQTT_REQUEST_OPTIONS, with_defaults=True)
    return parser


def model_name_for(bundle_path, given):
    name = given if given is not None else os.path.basename(os.path.normpath(bundle_path))
    if given is None:
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "model"
    if not re.match(r"^[A-Za-z0-9_.-]+$", name):
        raise EdgeError("--model-name {!r}: use letters, digits, '_', '.' and '-' only".format(name))
    return name


class StopSignal(object):
    """SIGTERM and SIGINT set it; `at` says when. SIGHUP asks for a model reload (reload_asked), as in
    edge-camera: the main loop starts it (edge.daemon.swap)."""

    def __init__(self):
        self.event = threading.Event()
        self.at = None
        self.reload_asked = False

    def install(self):
        for name in ("SIGTERM", "SIGINT"):
            signal.signal(getattr(signal, name), self._set)
        if hasattr(signal, "SIGHUP"):  # no SIGHUP on Windows
            signal.signal(signal.SIGHUP, self._reload)

    def _reload(self, signum, frame):
        log("signal {}: reloading the model".format(signum))
        self.reload_asked = True

    def _set(self, signum, frame):
        if not self.event.is_set():
            self.at = time.time()
            log("signal {}: draining".format(signum))
        self.event.set()


def _main(argv):
    args = build_parser().parse_args(argv)
    from edge.options.mqtt_args import MQTT_OPTIONS
    from edge.options.runner_args import RUNNER_NUMBERS
    from edge.options.ranges import check_args

    check_numbers(args, SERVE_OPTIONS + MQTT_OPTIONS)
    check_args(args, RUNNER_NUMBERS)
    grpc_port(args)   # --grpc-port with --no-grpc: refused before the model loads
    token, tls = read_token(args.token_file, log), tls_context(args.tls_cert, args.tls_key)
    model_name = model_name_for(args.bundle, args.model_name)

    from edge.bundle.bundle import Bundle
    from edge.runners.select import make_runner
    from edge.serve.http import ServeHttp
    from edge.serve.metrics import ServeTelemetry
    from edge.serve.service import InferenceService
    from edge.triton.names import served_name

    bundle = Bundle.load(args.bundle)
    # Requests arrive apart: idle worker threads sleep instead of spinning, as in edge-camera.
    runner, why = make_runner(bundle, args.runtime or "auto", args.precision or "auto", threads=args.threads,
                              checkpoint=args.checkpoint, build_engine=bool(args.build_engine), log=log, spinning=False)
    model_name = served_name(model_name, runner)   # one name, one precision: the repository's model of that name
    telemetry = ServeTelemetry()
    service = InferenceService(bundle, runner, model_name, telemetry, max_batch=args.max_batch,
                               max_delay_ms=args.max_delay_ms, max_queue=args.max_queue, top_k=args.top_k, log=log)
    http = ServeHttp(service, telemetry, host=args.host, port=args.http_port, token=token,
                     max_body_bytes=args.max_body_bytes, client_timeout=args.client_timeout, log=log, tls=tls)
    mqtt = mqtt_front_end(args, service, telemetry)
    grpc = grpc_front_end(args, service, telemetry, token)
    warning = open_warning(args.host, token, "use the model")
    if warning:
        log(warning)
    return serve(args, service, http, mqtt, why, grpc)


def grpc_port(args):
    """(the gRPC port to serve, whether it was asked for), or (None, ...) with --no-grpc."""
    if args.no_grpc:
        if args.grpc_port is not None:
            raise EdgeError("give --grpc-port or --no-grpc, not both")
        return None, False
    if args.grpc_port is not None:
        return args.grpc_port, True
    return (0 if args.http_port == 0 else GRPC_PORT), False


def grpc_front_end(args, service, telemetry, token):
    """The gRPC front end (not started), or None with --no-grpc, or when grpcio is missing and gRPC was not
    asked for by --grpc-port (a log line says so; asked for, it is an EdgeError)."""
    from edge.errors import MissingDependency

    port, asked = grpc_port(args)
    if port is None:
        return None
    try:
        from edge.serve.grpc_server import ServeGrpc

        front = ServeGrpc(service, telemetry, host=args.host, port=port, token=token,
                          tls_files=(args.tls_cert, args.tls_key) if args.tls_cert else None,
                          max_message_bytes=args.max_body_bytes, log=log)
    except MissingDependency as exc:
        if asked:
            raise
        log("gRPC off: {}".format(exc))
        return None
    return front


def start_grpc(grpc, asked):
    """Start the gRPC front end; True when it serves. A port in use is an EdgeError when --grpc-port `asked` for
    it, else a log line and no gRPC."""
    try:
        grpc.start()
    except EdgeError as exc:
        if asked:
            raise
        log("gRPC off: {} (or --no-grpc)".format(exc))
        return False
    log("serving gRPC (KServe v2, tritonclient.grpc) on {}".format(grpc.address))
    return True


def mqtt_front_end(args, service, telemetry):
    """The MQTT request/response front end (not started), or None without --mqtt-host."""
    if not args.mqtt_host:
        return None
    from edge.net.mqtt_settings import MqttSettings
    from edge.serve.mqtt import MqttFrontEnd

    return MqttFrontEnd(service, telemetry, MqttSettings.from_options(vars(args)), args.mqtt_request_topic,
                        args.mqtt_protocol, log=log)


def serve(args, service, http, mqtt, why, grpc=None):
    """Start the service, HTTP, gRPC and MQTT, answer until a signal, then drain; the exit code."""
    stop = StopSignal()
    stop.install()
    started = []
    try:
        service.start()
        started.append(service)
        swap = service.telemetry.reloader = model_swap(args, service, why)
        log("runtime: {} ({})".format(service.runner.describe(), why))
        try:
            http.start()
        except (OSError, IOError) as exc:
            raise EdgeError("cannot serve HTTP on {}:{} ({}); choose another --port".format(args.host, args.http_port,
                                                                                            exc))
        started.append(http)
        log("serving {} as model {!r} (and {!r}, RGB pixels): /v2/models/{}/infer (KServe v2), /v1/predict, "
            "/healthz, /metrics; batches of up to {} within {:g} ms".format(
                http.url, service.model_name, service.image_model_name, service.model_name, service.max_batch,
                args.max_delay_ms))
        if grpc is not None and not start_grpc(grpc, grpc_port(args)[1]):
            grpc = None
        if grpc is not None:
            started.append(grpc)
        if mqtt is not None:
            service.telemetry.sinks = [mqtt]
            service.telemetry.mqtt = mqtt
            mqtt.start()
            started.append(mqtt)
        while not stop.event.wait(0.25):
            if stop.reload_asked:
                stop.reload_asked = False
                accepted, message = swap.request_reload()
                if not accepted:
                    log("reload not started: " + message)
        drain(service, http, mqtt, (stop.at or time.time()) + DRAIN_S, grpc)
        started = []
    finally:
        for part in reversed(started):   # a failed start: free what did start
            if part is mqtt:
                mqtt.close(time.time() + 0.5)
            else:
                part.close()
    return EXIT_OK


def model_swap(args, service, why):
    """edge-serve's ModelSwap (edge.daemon.swap): new bundles made as the first one was, switched by the service."""
    from edge.daemon.swap import LoadedModel, ModelSwap
    from edge.runners.select import make_runner
    from edge.tasks.registry import model_for

    first = service.bundle

    def make(bundle):
        return make_runner(bundle, args.runtime or "auto", args.precision or "auto", threads=args.threads,
                           checkpoint=args.checkpoint if bundle.path == first.path else None,
                           build_engine=bool(args.build_engine), log=log, spinning=False)

    def wrap(bundle, runner, runner_why):
        return model_for(bundle, runner, k=service.top_k), runner.describe()

    current = LoadedModel(first, service.runner, why, service.model, service.runner.describe())
    return ModelSwap(current, make, wrap, log=log, switch=service.switch_model)


def drain(service, http, mqtt, deadline, grpc=None):
    """New requests get 503 (gRPC: UNAVAILABLE), queued ones are answered, by `deadline` (time.time())."""
    deadline -= 0.2   # what closing takes after it
    service.draining = True
    http.stop_accepting()
    if grpc is not None:
        grpc.stop_accepting(deadline)
    if mqtt is not None:
        mqtt.stop_taking()
    failed = service.drain(deadline)
    idle = http.wait_idle(deadline) and (grpc is None or grpc.wait_idle(deadline))
    if mqtt is not None:
        mqtt.close(deadline)
    http.close()
    if grpc is not None:
        grpc.close()
    service.close()
    log("stopped{}{}".format("; {} queued requests answered 503".format(failed) if failed else "",
                             "" if idle else "; some answers were still being written"))


def main(argv=None):
    return run_main("edge-serve", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
