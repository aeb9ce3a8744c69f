"""edge-serve: answer inference requests for a bundle, over HTTP and MQTT.

HTTP, on 127.0.0.1:8000 by default: the KServe v2 REST protocol that Triton's clients speak
(tritonclient.http works unchanged: /v2/health/live, /v2/health/ready, /v2/models/NAME,
/v2/models/NAME/ready, /v2/models/NAME/infer with the model's input tensor as JSON or binary data,
answering the logits); POST /v1/predict with a JPEG or PNG (body or multipart form), answering the
top-k labels; /healthz and /metrics as edge-camera's. MQTT (--mqtt-host): requests on a topic,
answered on each request's Response Topic (MQTT 5) or on the reply_to of a JSON envelope
(MQTT 3.1.1).

Concurrent requests are batched: up to --max-batch images (within the bundle's batch range) in
one inference call, waiting at most --max-delay-ms for others to join. At most --max-queue
requests wait; more get 503 with Retry-After. SIGTERM, SIGINT or SIGHUP drain: new requests get
503, those already taken are answered, and the server exits within two seconds.

Exit codes: 0 stopped by a signal, after draining; 2 bad options or bundle, or the port in use.
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
  edge-serve bundle/                                   # http://127.0.0.1:8000, model name 'bundle'
  curl -s -H 'Content-Type: image/jpeg' --data-binary @photo.jpg http://127.0.0.1:8000/v1/predict
  curl -s -F image=@photo.jpg 'http://127.0.0.1:8000/v1/predict?top_k=3'
  edge-serve bundle/ --host 0.0.0.0 --token-file /etc/edge-toolkit/serve.token --max-batch 8 --max-delay-ms 5
  edge-serve bundle/ --host 0.0.0.0 --token-file serve.token --tls-cert cert.pem --tls-key key.pem   # https://
  edge-serve bundle/ --mqtt-host 127.0.0.1 --mqtt-request-topic factory/line1/classify
"""
DRAIN_S = 2.0            # from the signal to the exit
SERVE_PORT = 8000        # Triton's

log = progress_log("edge-serve")


# edge-serve's own options (edge.options.table rows; the flags' defaults are the built-in ones).
HTTP_OPTIONS = (
    Option("host", str, "127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"),
    Option("http_port", int, SERVE_PORT, flag="--port",
           help="default {} (Triton's); 0 = any free port".format(SERVE_PORT)),
    Option("model_name", str, help="the model's name in /v2/models/NAME (default: the bundle folder's name)"),
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
SERVE_OPTIONS = HTTP_OPTIONS + LIMIT_OPTIONS + BATCHING_OPTIONS + TOP_K + MQTT_REQUEST_OPTIONS


def build_parser():
    from edge.net.http_access import add_access_arguments
    from edge.options.mqtt_args import add_mqtt_arguments
    from edge.options.runner_args import add_runner_arguments

    parser = make_parser("edge-serve", __doc__, EPILOG)
    parser.add_argument("bundle", help="bundle folder written by edge-export")
    http = add_flags(parser.add_argument_group("http"), HTTP_OPTIONS, with_defaults=True)
    add_access_arguments(http, "the health checks")
    add_flags(http, LIMIT_OPTIONS, with_defaults=True)
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
    """SIGTERM, SIGINT and SIGHUP set it (a closed terminal is a stop, as in edge-camera); `at` says when."""

    def __init__(self):
        self.event = threading.Event()
        self.at = None

    def install(self):
        for name in ("SIGTERM", "SIGINT", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), self._set)

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
    token, tls = read_token(args.token_file, log), tls_context(args.tls_cert, args.tls_key)
    model_name = model_name_for(args.bundle, args.model_name)

    from edge.bundle.bundle import Bundle
    from edge.runners.select import make_runner
    from edge.serve.http import ServeHttp
    from edge.serve.metrics import ServeTelemetry
    from edge.serve.service import InferenceService

    bundle = Bundle.load(args.bundle)
    # Requests arrive apart: idle worker threads sleep instead of spinning, as in edge-camera.
    runner, why = make_runner(bundle, args.runtime or "auto", args.precision or "auto", threads=args.threads,
                              checkpoint=args.checkpoint, build_engine=bool(args.build_engine), log=log, spinning=False)
    telemetry = ServeTelemetry()
    service = InferenceService(bundle, runner, model_name, telemetry, max_batch=args.max_batch,
                               max_delay_ms=args.max_delay_ms, max_queue=args.max_queue, top_k=args.top_k, log=log)
    http = ServeHttp(service, telemetry, host=args.host, port=args.http_port, token=token,
                     max_body_bytes=args.max_body_bytes, client_timeout=args.client_timeout, log=log, tls=tls)
    mqtt = mqtt_front_end(args, service, telemetry)
    warning = open_warning(args.host, token, "use the model")
    if warning:
        log(warning)
    return serve(args, service, http, mqtt, why)


def mqtt_front_end(args, service, telemetry):
    """The MQTT request/response front end (not started), or None without --mqtt-host."""
    if not args.mqtt_host:
        return None
    from edge.net.mqtt_settings import MqttSettings
    from edge.serve.mqtt import MqttFrontEnd

    return MqttFrontEnd(service, telemetry, MqttSettings.from_options(vars(args)), args.mqtt_request_topic,
                        args.mqtt_protocol, log=log)


def serve(args, service, http, mqtt, why):
    """Start the service, HTTP and MQTT, answer until a signal, then drain; the exit code."""
    stop = StopSignal()
    stop.install()
    started = []
    try:
        service.start()
        started.append(service)
        log("runtime: {} ({})".format(service.runner.describe(), why))
        try:
            http.start()
        except (OSError, IOError) as exc:
            raise EdgeError("cannot serve HTTP on {}:{} ({}); choose another --port".format(args.host, args.http_port,
                                                                                            exc))
        started.append(http)
        log("serving {} as model {!r}: /v2/models/{}/infer (KServe v2), /v1/predict, /healthz, /metrics; "
            "batches of up to {} within {:g} ms".format(http.url, service.model_name, service.model_name,
                                                      service.max_batch, args.max_delay_ms))
        if mqtt is not None:
            service.telemetry.sinks = [mqtt]
            service.telemetry.mqtt = mqtt
            mqtt.start()
            started.append(mqtt)
        while not stop.event.wait(0.5):
            pass
        drain(service, http, mqtt, (stop.at or time.time()) + DRAIN_S)
        started = []
    finally:
        for part in reversed(started):   # a failed start: free what did start
            if part is mqtt:
                mqtt.close(time.time() + 0.5)
            else:
                part.close()
    return EXIT_OK


def drain(service, http, mqtt, deadline):
    """New requests get 503, queued ones are answered, by `deadline` (time.time())."""
    deadline -= 0.2   # what closing takes after it
    service.draining = True
    http.stop_accepting()
    if mqtt is not None:
        mqtt.stop_taking()
    failed = service.drain(deadline)
    idle = http.wait_idle(deadline)
    if mqtt is not None:
        mqtt.close(deadline)
    http.close()
    service.close()
    log("stopped{}{}".format("; {} queued requests answered 503".format(failed) if failed else "",
                             "" if idle else "; some answers were still being written"))


def main(argv=None):
    return run_main("edge-serve", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
