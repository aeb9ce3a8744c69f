"""One MQTT settings object (edge.net.mqtt_settings), built once from flags, YAML keys or a sink URI, for
edge-camera's results sink and edge-serve's requests: the same flags give the same settings, and edge-serve
reaches its broker through them end to end."""

import base64
import os
import signal
import time

from edge.net.mqtt_settings import MqttSettings
from tests.edge.realparts import Broker, free_port, needs_mosquitto

FLAGS = ["--mqtt-host", "broker", "--mqtt-port", "1884", "--mqtt-qos", "2", "--mqtt-client-id", "cam-1",
         "--mqtt-username", "edge", "--mqtt-tls-ca", "ca.pem", "--mqtt-tls-insecure"]
FIELDS = ("host", "port", "qos", "client_id", "username", "password_file", "tls_ca", "tls_cert", "tls_key",
          "tls_insecure")


def _fields(settings):
    return dict((name, getattr(settings, name)) for name in FIELDS)


def test_the_camera_and_serve_flags_give_the_same_settings():
    from edge.camera import build_parser as camera_parser
    from edge.options.camera_config import CAMERA_OPTIONS, resolve
    from edge.serve.cli import build_parser as serve_parser

    camera = resolve(CAMERA_OPTIONS.flags_of(camera_parser().parse_args(["b", "--source", "s.mp4"] + FLAGS)))
    serve = vars(serve_parser().parse_args(["b"] + FLAGS))
    expected = {"host": "broker", "port": 1884, "qos": 2, "client_id": "cam-1", "username": "edge",
                "password_file": None, "tls_ca": "ca.pem", "tls_cert": None, "tls_key": None, "tls_insecure": True}
    assert _fields(MqttSettings.from_options(camera)) == expected
    assert _fields(MqttSettings.from_options(serve)) == expected


def test_unset_port_and_qos_are_the_defaults_and_a_given_client_id_stays():
    settings = MqttSettings.from_options({"mqtt_host": "h"})
    assert (settings.port, settings.qos, settings.tls_insecure) == (1883, 1, False)
    assert settings.with_client_id("edge-serve-x").client_id == "edge-serve-x"
    assert MqttSettings("h", client_id="mine").with_client_id("edge-serve-x").client_id == "mine"


@needs_mosquitto
def test_edge_serve_answers_mqtt_requests_through_its_flags(export_fused_int8_bundle, export_images):
    from tests.edge.test_serve_cli import start_server
    from tests.edge.test_serve_mqtt import Client

    broker = Broker(free_port()).start()
    server = start_server([export_fused_int8_bundle, "--port", free_port(), "--runtime", "onnxruntime",
                           "--precision", "fp32", "--threads", "1", "--mqtt-host", "127.0.0.1", "--mqtt-port",
                           broker.port, "--mqtt-qos", "1", "--mqtt-request-topic", "settings/requests",
                           "--mqtt-protocol", "3.1.1", "--mqtt-client-id", "settings-test-serve"])
    client = None
    try:
        client = Client(broker.port, "settings/answers", "3.1.1", "settings-test-client")
        with open(os.path.join(export_images, "red", "red_000.png"), "rb") as handle:
            image = base64.b64encode(handle.read()).decode("ascii")
        envelope = '{{"reply_to": "settings/answers", "id": "7", "image": "{}"}}'.format(image)
        deadline = time.time() + 60
        while not client.answers and time.time() < deadline:   # until edge-serve has subscribed
            assert server.poll() is None, server.stderr.read()
            client.client.publish("settings/requests", envelope, qos=1)
            client.wait_for(1, timeout=2)
        answers = client.wait_for(1, timeout=1)
        assert answers and answers[0][1]["id"] == "7" and answers[0][1]["prediction"] == "red", answers
    finally:
        if client is not None:
            client.close()
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=20)
        broker.cleanup()
    assert server.returncode == 0, err
    assert "MQTT connected to 127.0.0.1:{} (MQTT 3.1.1); requests on settings/requests".format(broker.port) in err, err
