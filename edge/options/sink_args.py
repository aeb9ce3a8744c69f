"""edge-camera's sink options: --sink URIs (edge.sinks.uri) and the flags they replace.

The flags --jsonl, --http-port and --mqtt-host (with --http-host and --mqtt-topic) name a sink the old
way; they are aliases of --sink until 0.2 and fill the same settings. The others tune every sink of
their kind, whichever way it is named: a URI's query keys are these options without their prefix
(mqtt://HOST/TOPIC?qos=1&outbox=FILE is --mqtt-qos 1 --mqtt-outbox FILE).
"""

from edge.options.mqtt_args import MQTT_OPTIONS
from edge.options.table import Option

SINK_ALIAS_UNTIL = "0.2"

JSONL_OPTIONS = (
    Option("jsonl", str, what="a file path or -", help="append JSON lines to this file ('-' for stdout); "
                                                       "alias of --sink jsonl:PATH until 0.2"),
    Option("jsonl_max_mb", float, 100.0, help="rotate the JSON lines file at this size (default 100; 0 = never)"),
    Option("jsonl_keep", int, 5, help="rotated JSON lines files kept as FILE.1 ... FILE.N (default 5)"),
)
HTTP_OPTIONS = (
    Option("http_port", int, help="serve /healthz /metrics /latest /stream.mjpg (0 = any free port); "
                                  "alias of --sink http://HOST:PORT until 0.2"),
    Option("http_host", str, "127.0.0.1", what="an address",
           help="address to bind (default 127.0.0.1: this machine only)"),
    Option("dataset", str, what="a folder path",
           help="the folder the page tags and records frames into, in edge-collect's layout (created if needed; "
                "default: none, no recording)"),
)
# MQTT_OPTIONS (the broker) and these: the results topic and the outbox (edge.sinks.outbox). The outbox
# path is relative to the current folder (the service's WorkingDirectory).
MQTT_SINK_OPTIONS = (
    Option("mqtt_topic", str, "edge/camera/results", what="a topic", help="default edge/camera/results"),
    Option("mqtt_retain", bool, False, help="retain the last result"),
    Option("mqtt_queue", int, 200000,
           help="results kept in the outbox while the broker is away, at most (default 200000)"),
    Option("mqtt_outbox", str, "mqtt-outbox.db", what="a file path",
           help="SQLite file holding MQTT results until the broker acknowledges them, across restarts and "
                "reboots (default mqtt-outbox.db in the current folder)"),
    Option("mqtt_outbox_max_mb", float, 100.0,
           help="outbox size bound: the oldest results are dropped beyond it (default 100)"),
    Option("mqtt_outbox_max_age_h", float, 24.0,
           help="results older than this many hours are dropped from the outbox (default 24)"),
)
SINKS = Option("sinks", list, (), what="sink URIs", flag="--sink", metavar="URI",
               help="where results go, repeatable: jsonl:PATH, http://HOST:PORT, mqtt://HOST[:PORT]/TOPIC "
                    "(the list below)")
# kind: (the option whose flag names such a sink the old way, the options a URI of the kind sets, by query key)
SINK_KINDS = {
    "jsonl": ("jsonl", JSONL_OPTIONS),
    "http": ("http_port", HTTP_OPTIONS),
    "mqtt": ("mqtt_host", MQTT_OPTIONS + MQTT_SINK_OPTIONS),
}
