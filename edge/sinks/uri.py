"""Sink URIs: parsed and validated before anything starts, as source URIs are (edge.sources.uri).

A URI names a sink and sets some of its options (edge.options.sink_args): jsonl:PATH the file,
http://HOST:PORT the address, mqtt://[USER@]HOST[:PORT]/TOPIC the broker and the topic; query keys set
the rest, each the option's name without its kind's prefix, checked against the same limits as the flag.
A bad URI is one EdgeError line saying what is wrong and what to write.
"""

import re
from urllib.parse import unquote

from edge.errors import EdgeError
from edge.options.sink_args import SINK_KINDS

USAGE = """result sinks (--sink URI, repeatable; YAML: sinks: [URI, ...]):
  jsonl:///var/log/edge/results.jsonl, jsonl:results.jsonl, jsonl:-
                               JSON lines file (- for stdout); ?max_mb=100&keep=5 rotate it
  http://HOST:PORT             /healthz /metrics /latest /stream.mjpg (HOST 0.0.0.0: every interface;
                               PORT 0: any free one); --token-file --tls-cert --tls-key guard it
  mqtt://[USER@]HOST[:PORT]/TOPIC
                               MQTT results (port 1883, topic edge/camera/results by default); query
                               keys: qos retain client_id password_file tls_ca tls_cert tls_key
                               tls_insecure queue outbox outbox_max_mb outbox_max_age_h
  --jsonl, --http-port and --mqtt-host name a sink the old way (aliases of --sink until 0.2); the other
  --jsonl-*, --http-* and --mqtt-* flags set their option for every sink of their kind whose URI does
  not (a kind named both ways, or an option set both ways, is refused).
"""
FORMS = "jsonl:PATH, http://HOST:PORT or mqtt://HOST[:PORT]/TOPIC"
# The options a URI sets with its own parts, never with a query key.
_URI_PARTS = {"jsonl": ("jsonl",), "http": ("http_host", "http_port"), "mqtt": ("mqtt_host", "mqtt_port", "mqtt_topic")}
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$")
_AUTHORITY = re.compile(r"^(?:(?P<user>[^@:/]+)(?P<password>:[^@]*)?@)?(?P<host>\[[^\]]*\]|[^:/\[\]]*)"
                        r"(?::(?P<port>[^/]*))?$")


class SinkSpec(object):
    """kind: jsonl | http | mqtt; uri as written; settings: {option name: value} the URI sets."""

    def __init__(self, kind, uri, settings):
        self.kind, self.uri, self.settings = kind, uri, settings

    def __repr__(self):
        return "SinkSpec({}, {!r})".format(self.kind, self.uri)


def _refuse(uri, what, write):
    return EdgeError("sink {!r}: {}; write {}".format(uri, what, write))


def _query(uri, kind, text):
    """{option name: value} from a query string, each value checked as its option's flag would be."""
    prefix = kind + "_"
    rows = dict((row.name[len(prefix):], row) for row in SINK_KINDS[kind][1]
                if row.name.startswith(prefix) and row.name not in _URI_PARTS[kind])
    settings = {}
    for pair in text.split("&") if text else ():
        key, _, value = pair.partition("=")
        if key not in rows:
            raise _refuse(uri, "unknown query key {!r}".format(key),
                          "one of: " + ", ".join(sorted(rows)) if rows else "no query")
        if rows[key].name in settings:
            raise _refuse(uri, "{} given twice".format(key), "it once")
        settings[rows[key].name] = rows[key].coerce(unquote(value), "{} in sink {!r}".format(key, uri))
    return settings


def _authority(uri, kind, authority):
    """(user, host, port or None) of a network URI; host names and addresses only, nothing else."""
    match = _AUTHORITY.match(authority)
    if not match or not _HOST.match(match.group("host") or ""):
        raise _refuse(uri, "no valid host", "{}://HOST:PORT with a host name or address".format(kind))
    if match.group("password") is not None:
        raise _refuse(uri, "a password in a URI shows in ps and in logs", "mqtt://USER@HOST/TOPIC?password_file=FILE")
    port = match.group("port")
    if port is not None and not port.isdigit():
        raise _refuse(uri, "port {!r} is not a number".format(port), "{}://HOST:PORT".format(kind))
    return match.group("user"), match.group("host").strip("[]"), None if port is None else int(port)


def _jsonl(uri, rest, query):
    if rest.startswith("//"):
        if not rest.startswith("///"):
            raise _refuse(uri, "a file has no host", "jsonl:///absolute/path.jsonl or jsonl:relative/path.jsonl")
        rest = rest[2:]
    if not rest:
        raise _refuse(uri, "no file", "jsonl:PATH (jsonl:- for stdout)")
    return dict(_query(uri, "jsonl", query), jsonl=rest)


def _http(uri, rest, query):
    authority, _, path = rest[2:].partition("/")
    user, host, port = _authority(uri, "http", authority)
    if port is None or path or user or query:
        raise _refuse(uri, "the HTTP sink takes an address and a port only",
                      "http://HOST:PORT (PORT 0: any free one)")
    return _with_parts(uri, "http", {}, (("http_host", host), ("http_port", port)))


def _mqtt(uri, rest, query):
    authority, _, topic = rest[2:].partition("/")
    user, host, port = _authority(uri, "mqtt", authority)
    if "#" in topic or "+" in topic:
        raise _refuse(uri, "topic {!r} has a wildcard".format(topic),
                      "a publish topic: mqtt://HOST/edge/camera/results")
    settings = _query(uri, "mqtt", query)
    parts = (("mqtt_host", host), ("mqtt_port", port), ("mqtt_topic", topic or None), ("mqtt_username", user))
    return _with_parts(uri, "mqtt", settings, parts)


def _with_parts(uri, kind, settings, parts):
    """`settings` with the URI's own parts (host, port...), each checked as its option's flag would be."""
    rows = dict((row.name, row) for row in SINK_KINDS[kind][1])
    for name, value in parts:
        if value is None:
            continue
        key = name[len(kind) + 1:]
        if name in settings:
            raise _refuse(uri, "{} given twice".format(key), "it once")
        settings[name] = rows[name].coerce(value, "{} in sink {!r}".format(key, uri))
    return settings


_PARSERS = {"jsonl": _jsonl, "http": _http, "mqtt": _mqtt}


def parse_sink(uri):
    """Validate `uri` into a SinkSpec; one EdgeError line if anything is off."""
    if not isinstance(uri, str) or not uri.strip():
        raise EdgeError("empty sink URI; write {}".format(FORMS))
    uri = uri.strip()
    scheme, colon, rest = uri.partition(":")
    if not colon or scheme not in _PARSERS:
        hint = " (serve HTTPS with http://HOST:PORT and --tls-cert, --tls-key)" if scheme == "https" else ""
        raise EdgeError("sink {!r} is not a sink URI{}; write {}".format(uri, hint, FORMS))
    if scheme != "jsonl" and not rest.startswith("//"):
        raise _refuse(uri, "no //", "{}://HOST:PORT{}".format(scheme, "/TOPIC" if scheme == "mqtt" else ""))
    rest, _, query = rest.partition("?")
    return SinkSpec(scheme, uri, _PARSERS[scheme](uri, rest, query))
