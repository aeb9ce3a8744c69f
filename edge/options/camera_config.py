"""edge-camera's configuration: a YAML file with the same keys as the flags; flags win.

Keys are the long flag names with dashes or underscores (`http-port` or `http_port`). Unknown
keys are refused, so a typo in a config file on a device is caught at start, not ignored. Numbers
are checked against edge.options.ranges, the table the flags use too; a value of the wrong type
is named ("source must be a string (a URI), got a list").
"""

import os

from edge.errors import EdgeError
from edge.options.ranges import check, type_name
from edge.options.yaml_file import load_options
from edge.tasks.tta import MODES as TTA_MODES

DEFAULTS = {
    "bundle": None,
    "source": None,
    # source options
    "width": None, "height": None, "fps": None, "flip": None, "codec": "auto", "capture_backend": "auto",
    "loop": False, "realtime": None,
    # runtime
    "runtime": "auto", "precision": "auto", "threads": None, "checkpoint": None, "build_engine": False,
    "tta": "none", "top_k": 3,
    # sinks
    "jsonl": None, "jsonl_max_mb": 100.0, "jsonl_keep": 5,
    "http_port": None, "http_host": "127.0.0.1", "token_file": None, "tls_cert": None, "tls_key": None,
    "mqtt_host": None, "mqtt_port": 1883, "mqtt_topic": "edge/camera/results", "mqtt_qos": 1,
    "mqtt_retain": False, "mqtt_client_id": None, "mqtt_username": None, "mqtt_password_file": None,
    "mqtt_tls_ca": None, "mqtt_tls_cert": None, "mqtt_tls_key": None, "mqtt_tls_insecure": False,
    # MQTT outbox (edge.sinks.outbox): relative to the current folder (the service's WorkingDirectory)
    "mqtt_queue": 200000, "mqtt_outbox": "mqtt-outbox.db", "mqtt_outbox_max_mb": 100.0,
    "mqtt_outbox_max_age_h": 24.0,
    "on_change": False, "min_confidence": None, "heartbeat": None,
    # run control
    "max_frames": None, "duration": None, "stall_timeout": 5.0, "reconnect_max": 10.0,
    "log_every": 10.0,
}

INTS = ("width", "height", "fps", "flip", "threads", "top_k", "http_port", "mqtt_port", "mqtt_qos", "mqtt_queue",
        "max_frames", "jsonl_keep")
FLOATS = ("jsonl_max_mb", "min_confidence", "heartbeat", "duration", "stall_timeout", "reconnect_max",
          "log_every", "mqtt_outbox_max_mb", "mqtt_outbox_max_age_h")
BOOLS = ("loop", "realtime", "build_engine", "mqtt_retain", "mqtt_tls_insecure", "on_change")
# Text options, with what they hold (for the message when YAML gives a list, a number...).
STRINGS = {"bundle": "the bundle folder", "source": "a URI", "codec": "auto, h264 or h265",
           "capture_backend": "auto, gstreamer or ffmpeg",
           "runtime": "a runtime name", "precision": "a precision name", "checkpoint": "a model.pt path",
           "tta": "none, hflip or d4",
           "jsonl": "a file path or -", "http_host": "an address", "token_file": "a file path",
           "tls_cert": "a file path", "tls_key": "a file path", "mqtt_host": "a host name or address",
           "mqtt_topic": "a topic", "mqtt_client_id": "a client id", "mqtt_username": "a user name",
           "mqtt_password_file": "a file path", "mqtt_tls_ca": "a file path", "mqtt_tls_cert": "a file path",
           "mqtt_tls_key": "a file path", "mqtt_outbox": "a file path"}


def _coerce(key, value, where):
    """`value` of option `key` as its type; `where` names it in errors ("--threads", "threads in FILE")."""
    if value is None:
        return None
    if key in INTS or key in FLOATS:
        return check(key, value, where, kind=int if key in INTS else float)
    if key in BOOLS:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise EdgeError("{} must be true or false, got {}".format(where, type_name(value)))
    if key in STRINGS and not isinstance(value, str):
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # `source: 0` (a camera index), `mqtt_client_id: 7`
        raise EdgeError("{} must be a string ({}), got {}".format(where, STRINGS[key], type_name(value)))
    return value


def resolve(flags, config_path=None):
    """Defaults < YAML < flags (None in flags = not given); validated."""
    config = dict(DEFAULTS)
    layers = [load_options(config_path)] if config_path else []
    layers.append(dict((k, v) for k, v in flags.items() if v is not None))
    for layer in layers:
        from_file = layer is not layers[-1]
        for key, value in layer.items():
            if key not in DEFAULTS:
                raise EdgeError("unknown option {!r} in {}".format(key, config_path if from_file else "flags"))
            name = key.replace("_", "-")
            config[key] = _coerce(key, value, "{} in {}".format(name, config_path) if from_file else "--" + name)
    validate(config)
    return config


def validate(config):
    if not config["bundle"]:
        raise EdgeError("no bundle given: edge-camera BUNDLE --source URI (or 'bundle:' in --config)")
    if not config["source"]:
        raise EdgeError("no --source given (or 'source:' in --config); see --help for the accepted URIs")
    for key in INTS + FLOATS:  # resolve checked them as read; a config built elsewhere is checked here
        if config[key] is not None:
            check(key, config[key], "--" + key.replace("_", "-"), kind=int if key in INTS else float)
    if config["tta"] not in TTA_MODES:
        raise EdgeError("tta must be one of {}, got {!r}".format(", ".join(TTA_MODES), config["tta"]))
    if config["mqtt_password_file"] and not os.path.isfile(config["mqtt_password_file"]):
        raise EdgeError("mqtt-password-file {} not found".format(config["mqtt_password_file"]))
    return config
