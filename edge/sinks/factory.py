"""One factory from sink URIs (edge.sinks.uri) and edge-camera's options to sinks, as edge.sources.factory
is for sources.

The sinks are those --sink (or YAML `sinks:`) names, and the one each alias flag names (--jsonl,
--http-port, --mqtt-host: aliases until 0.2). The other options of a kind (--jsonl-max-mb, --mqtt-qos,
--mqtt-outbox...) apply to every sink of the kind, where its URI does not set them. Refused, in one line,
before anything starts: a kind named both by --sink and by its alias flag, an option set both in a URI
and by its flag or YAML key, and two sinks writing the same file or port.
"""

import os

from edge.errors import EdgeError
from edge.options.sink_args import SINK_ALIAS_UNTIL, SINK_KINDS
from edge.sinks.uri import SinkSpec, parse_sink

ORDER = ("http", "jsonl", "mqtt")   # the preview and health first: they report on the others


def _flag(name):
    return "--" + name.replace("_", "-")


def _named_by_alias(config, kind):
    value = config[SINK_KINDS[kind][0]]
    return value is not None if kind == "http" else bool(value)


def sink_specs(config):
    """The SinkSpecs that resolved options name (edge.options.table.Resolved: `given` says which were set)."""
    specs = [parse_sink(uri) for uri in config["sinks"] or ()]
    given = getattr(config, "given", frozenset())
    for spec in specs:
        if _named_by_alias(config, spec.kind):
            raise EdgeError("the {} sink is named twice, by sink {!r} and by {} (an alias of --sink until {}): name "
                            "it one way".format(spec.kind, spec.uri, _flag(SINK_KINDS[spec.kind][0]), SINK_ALIAS_UNTIL))
        both = sorted(set(spec.settings) & set(given))
        if both:
            raise EdgeError("{} is set twice, by sink {!r} and by {} (or {}: in --config): set it one way".format(
                both[0].split("_", 1)[1], spec.uri, _flag(both[0]), both[0]))
    specs.extend(SinkSpec(kind, _flag(SINK_KINDS[kind][0]), {}) for kind in ORDER if _named_by_alias(config, kind))
    specs.sort(key=lambda spec: ORDER.index(spec.kind))
    _check_targets(specs, config)
    return specs


def _check_targets(specs, config):
    """Each MQTT password file there; no two sinks on one file (JSON lines, MQTT outbox) or one fixed port."""
    seen = {}
    for spec in specs:
        values = dict(config, **spec.settings)
        if spec.kind == "mqtt" and values["mqtt_password_file"] and not os.path.isfile(values["mqtt_password_file"]):
            raise EdgeError("mqtt-password-file {} not found".format(values["mqtt_password_file"]))
        target = _target(spec.kind, values)
        if target is None:
            continue
        if (spec.kind, target) in seen:
            fix = {"jsonl": "a file each", "http": "a port each", "mqtt": "an outbox each (?outbox=FILE)"}[spec.kind]
            raise EdgeError("sinks {!r} and {!r} would share {}: give them {}".format(
                seen[spec.kind, target], spec.uri, target, fix))
        seen[spec.kind, target] = spec.uri


def _target(kind, values):
    """What a sink holds for itself: its file, its outbox, its port (None: a free port, nothing)."""
    if kind == "jsonl":
        return values["jsonl"] if values["jsonl"] == "-" else os.path.abspath(values["jsonl"])
    if kind == "mqtt":
        return os.path.abspath(values["mqtt_outbox"])
    return values["http_port"] or None


def http_access(config, specs, log):
    """The HTTP sinks' token and TLS (edge.net.http_access.Access), with edge-serve's rules, or None without
    one; read before anything starts, so an unreadable file is one line and exit code 2."""
    hosts = [dict(config, **spec.settings)["http_host"] for spec in specs if spec.kind == "http"]
    if not hosts:
        return None
    from edge.net.http_access import Access, open_warning, read_token, tls_context

    token = read_token(config["token_file"], log)
    access = Access(token, tls_context(config["tls_cert"], config["tls_key"]), realm="edge-camera")
    for warning in sorted(set(open_warning(host, token, "watch the camera and read its results") for host in hosts)):
        if warning:
            log(warning)
    return access


def build_sinks(specs, config, telemetry, viewers=None, access=None, log=None):
    """The sinks of `specs` (not started), the publishing ones behind the camera's publish filter."""
    from edge.sinks.filters import FilteredSink, PublishPolicy

    policy = PublishPolicy(config["on_change"], config["min_confidence"], config["heartbeat"])
    sinks = []
    for spec in specs:
        values = dict(config, **spec.settings)
        if spec.kind == "http":
            from edge.sinks.http import HttpSink
            sinks.append(HttpSink(telemetry, host=values["http_host"], port=values["http_port"], viewers=viewers,
                                  access=access, dataset=values["dataset"]))
            continue
        sink = _jsonl_sink(values) if spec.kind == "jsonl" else _mqtt_sink(values, log)
        sinks.append(FilteredSink(sink, policy) if policy.active else sink)
    return sinks


def _jsonl_sink(values):
    from edge.sinks.jsonl import JsonLinesSink

    return JsonLinesSink(values["jsonl"], max_bytes=int(values["jsonl_max_mb"] * 2 ** 20), keep=values["jsonl_keep"])


def _mqtt_sink(values, log):
    from edge.net.mqtt_settings import MqttSettings
    from edge.sinks.mqtt import MqttSink
    from edge.sinks.outbox import Outbox

    outbox = Outbox(values["mqtt_outbox"], max_bytes=int(values["mqtt_outbox_max_mb"] * 2 ** 20),
                    max_age_s=values["mqtt_outbox_max_age_h"] * 3600.0, max_rows=values["mqtt_queue"], log=log)
    return MqttSink(MqttSettings.from_options(values), values["mqtt_topic"], values["mqtt_retain"], outbox=outbox,
                    log=log)
