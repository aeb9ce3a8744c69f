"""edge-camera's options: one table (edge.options.table) giving the flags, the YAML keys, the types, the
defaults and, by name, the limits (edge.options.ranges).

A YAML file (--config) takes the same keys as the flags (`http-port` or `http_port`); flags win over it,
and it wins over the built-in defaults. Unknown keys are refused, so a typo in a config file on a device
is caught at start, not ignored; a value of the wrong type is named ("source must be a string (a URI),
got a list").
"""

from edge.errors import EdgeError
from edge.options.mqtt_args import MQTT_OPTIONS
from edge.options.sink_args import HTTP_OPTIONS, JSONL_OPTIONS, MQTT_SINK_OPTIONS, SINKS
from edge.options.source_args import SOURCE_OPTIONS
from edge.options.table import Option, OptionTable
from edge.tasks.tta import MODES as TTA_MODES

RUNNER = "edge.options.runner_args"
ACCESS = "edge.net.http_access"

TOP = (
    Option("bundle", str, what="the bundle folder", declared_by="edge.camera (the positional argument)"),
    Option("source", str, what="a URI", declared_by="edge.options.source_args"),
)
SOURCE = (
    Option("loop", bool, False, help="repeat a file or folder"),
    Option("realtime", bool, help="play a video file at its frame rate, like a camera (frames are dropped when "
                                  "inference is slower); default for files: every frame, as fast as possible"),
    Option("stall_timeout", float, 5.0, help="reconnect a live source silent this long (default 5 s)"),
    Option("reconnect_max", float, 10.0, help="longest wait between attempts to reopen a lost live source; the wait "
                                              "doubles from 0.5 s up to this (default 10 s)"),
)
RUNTIME = (
    Option("runtime", str, "auto", what="a runtime name", declared_by=RUNNER),
    Option("precision", str, "auto", what="a precision name", declared_by=RUNNER),
    Option("threads", int, declared_by=RUNNER),
    Option("checkpoint", str, what="a model.pt path", declared_by=RUNNER),
    Option("build_engine", bool, False, declared_by=RUNNER),
    Option("tta", str, "none", what="none, hflip or d4", declared_by=RUNNER),
    Option("top_k", int, 3, help="labels per result (default 3)"),
)
ACCESS_OPTIONS = (
    Option("token_file", str, what="a file path", declared_by=ACCESS),
    Option("tls_cert", str, what="a file path", declared_by=ACCESS),
    Option("tls_key", str, what="a file path", declared_by=ACCESS),
)
FILTER = (
    Option("on_change", bool, False,
           help="publish (JSON lines, MQTT) only when the top-1 label changes (classifiers)"),
    Option("min_confidence", float, help="publish only results whose top-1 is at least this (classifiers)"),
    Option("heartbeat", float, help="with a filter: still publish at least every N seconds"),
)
RUN_CONTROL = (
    Option("max_frames", int, help="stop after N results"),
    Option("duration", float, help="stop after N seconds"),
    Option("log_every", float, 10.0, help="status line every N seconds (default 10)"),
    Option("swap", str, "auto", choices=("auto", "beside", "stop-then-load"),
           help="how SIGHUP swaps the model: beside the running one, stop-then-load (memory for one model only: "
                "results stop while it loads), or auto (stop-then-load when free memory is short; default)"),
)
SINK_OPTIONS = (SINKS,) + JSONL_OPTIONS + HTTP_OPTIONS + ACCESS_OPTIONS + MQTT_OPTIONS + MQTT_SINK_OPTIONS + FILTER
CAMERA_OPTIONS = OptionTable(TOP + SOURCE_OPTIONS + SOURCE + RUNTIME + SINK_OPTIONS + RUN_CONTROL)


def resolve(flags, config_path=None):
    """Defaults < YAML < flags (None in flags = not given); validated (edge.options.table.Resolved)."""
    return validate(CAMERA_OPTIONS.resolve(flags, config_path))


def validate(config):
    if not config["bundle"]:
        raise EdgeError("no bundle given: edge-camera BUNDLE --source URI (or 'bundle:' in --config)")
    if not config["source"]:
        raise EdgeError("no --source given (or 'source:' in --config); see --help for the accepted URIs")
    CAMERA_OPTIONS.check_numbers(config)   # resolve checked them as read; a config built elsewhere is checked here
    if config["tta"] not in TTA_MODES:
        raise EdgeError("tta must be one of {}, got {!r}".format(", ".join(TTA_MODES), config["tta"]))
    return config
