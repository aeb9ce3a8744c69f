"""edge-camera's configuration: a YAML file with the same keys as the flags; flags win.

Keys are the long flag names with dashes or underscores (`http-port` or `http_port`). Unknown
keys are refused, so a typo in a config file on a device is caught at start, not ignored.
"""

import os

from edge.errors import EdgeError
from edge.options_file import load_options

DEFAULTS = {
    "bundle": None,
    "source": None,
    # source options
    "width": None, "height": None, "fps": None, "flip": None, "codec": "auto", "loop": False, "realtime": None,
    # runtime
    "runtime": "auto", "precision": "auto", "threads": None, "checkpoint": None, "build_engine": False,
    "top_k": 3,
    # sinks
    "jsonl": None, "jsonl_max_mb": 100.0, "jsonl_keep": 5,
    "http_port": None, "http_host": "127.0.0.1",
    "mqtt_host": None, "mqtt_port": 1883, "mqtt_topic": "edge/camera/results", "mqtt_qos": 1,
    "mqtt_retain": False, "mqtt_client_id": None, "mqtt_username": None, "mqtt_password_file": None,
    "mqtt_tls_ca": None, "mqtt_tls_cert": None, "mqtt_tls_key": None, "mqtt_tls_insecure": False,
    "mqtt_queue": 10000,
    "on_change": False, "min_confidence": None, "heartbeat": None,
    # run control
    "max_frames": None, "duration": None, "stall_timeout": 5.0, "reconnect_max": 10.0,
    "log_every": 10.0,
}

INTS = ("width", "height", "fps", "flip", "threads", "top_k", "http_port", "mqtt_port", "mqtt_qos", "mqtt_queue",
        "max_frames", "jsonl_keep")
FLOATS = ("jsonl_max_mb", "min_confidence", "heartbeat", "duration", "stall_timeout", "reconnect_max",
          "log_every")
BOOLS = ("loop", "realtime", "build_engine", "mqtt_retain", "mqtt_tls_insecure", "on_change")


def _coerce(key, value):
    if value is None:
        return None
    try:
        if key in INTS:
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise ValueError
            return int(float(value))
        if key in FLOATS:
            return float(value)
    except (TypeError, ValueError):
        raise EdgeError("{} must be a number, got {!r}".format(key.replace("_", "-"), value))
    if key in BOOLS:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise EdgeError("{} must be true or false, got {!r}".format(key.replace("_", "-"), value))
    return value


def resolve(flags, config_path=None):
    """Defaults < YAML < flags (None in flags = not given); validated."""
    config = dict(DEFAULTS)
    layers = [load_options(config_path)] if config_path else []
    layers.append(dict((k, v) for k, v in flags.items() if v is not None))
    for layer in layers:
        for key, value in layer.items():
            if key not in DEFAULTS:
                raise EdgeError("unknown option {!r} in {}".format(key, config_path if layer is not layers[-1]
                                                                     else "flags"))
            config[key] = _coerce(key, value)
    validate(config)
    return config


def validate(config):
    if not config["bundle"]:
        raise EdgeError("no bundle given: edge-camera BUNDLE --source URI (or 'bundle:' in --config)")
    if not config["source"]:
        raise EdgeError("no --source given (or 'source:' in --config); see --help for the accepted URIs")
    if config["mqtt_qos"] not in (0, 1, 2):
        raise EdgeError("mqtt-qos must be 0, 1 or 2")
    if config["min_confidence"] is not None and not 0.0 <= config["min_confidence"] <= 1.0:
        raise EdgeError("min-confidence must be between 0 and 1")
    if config["http_port"] is not None and not 0 <= config["http_port"] <= 65535:
        raise EdgeError("http-port must be between 0 and 65535")
    for key in ("top_k", "mqtt_queue"):
        if config[key] < 1:
            raise EdgeError("{} must be at least 1".format(key.replace("_", "-")))
    if config["jsonl_max_mb"] < 0 or config["jsonl_keep"] < 0:
        raise EdgeError("jsonl-max-mb and jsonl-keep cannot be negative (jsonl-max-mb 0 turns rotation off)")
    for key in ("max_frames", "duration"):
        if config[key] is not None and config[key] <= 0:
            raise EdgeError("{} must be positive".format(key.replace("_", "-")))
    if config["mqtt_password_file"] and not os.path.isfile(config["mqtt_password_file"]):
        raise EdgeError("mqtt-password-file {} not found".format(config["mqtt_password_file"]))
    return config
