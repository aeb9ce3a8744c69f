"""The range of every number an edge-* command takes: one table, read by flags and YAML alike.

A row names the option as its flag reads without dashes (and as a YAML key with underscores), its
type, the least and the greatest value it accepts, and what it means. Bounds are inclusive,
except that a row with `above=True` takes only values greater than its least (seconds, rates).
A value outside its row is one EdgeError line (exit code 2) naming the option, the range and the
value; `check` also names a YAML value of the wrong type ("got a list").
"""

from edge.errors import EdgeError

DAY = 86400.0
YEAR = 365 * DAY


class Range(object):
    """One row of the table: an option's name, type (int or float), least and greatest value, meaning."""

    def __init__(self, name, kind, low, high, meaning, above=False):
        self.name, self.kind, self.low, self.high, self.meaning, self.above = name, kind, low, high, meaning, above

    def __repr__(self):
        return "Range({!r}, {}, {})".format(self.name, self.kind.__name__, self.describe())

    def describe(self):
        """The range in words: "a whole number from 1 to 256", "a positive number up to 3600"."""
        kind = _KIND_WORDS[self.kind]
        if self.above and self.low == 0:
            return "a positive {} up to {}".format(kind[2:], _plain(self.high))
        if self.above:
            return "{} above {} and up to {}".format(kind, _plain(self.low), _plain(self.high))
        return "{} from {} to {}".format(kind, _plain(self.low), _plain(self.high))

    def holds(self, value):
        return (value > self.low if self.above else value >= self.low) and value <= self.high


ROWS = (
    # name             type   min  max         meaning
    # runners (edge-predict, edge-camera, edge-bench)
    Range("threads", int, 1, 256, "CPU threads for ONNX Runtime / PyTorch"),
    Range("top_k", int, 1, 1000, "labels per result"),
    Range("batch_size", int, 1, 1024, "images per inference call"),
    # sources (edge-camera, edge-collect, and edge.sources.uri for every caller of open_source)
    Range("width", int, 16, 8192, "capture width in pixels"),
    Range("height", int, 16, 8192, "capture height in pixels"),
    Range("fps", int, 1, 1000, "capture or pacing rate, frames per second"),  # cameras top out near 240; files
    Range("flip", int, 0, 7, "CSI nvvidconv flip-method"),                     # may be paced faster
    Range("latency", int, 0, 10000, "RTSP jitter buffer in milliseconds"),
    Range("stall_timeout", float, 0, 3600, "seconds without a frame before a live source is reopened", above=True),
    Range("reconnect_max", float, 0, 3600, "longest wait in seconds between reconnect attempts", above=True),
    # sinks (edge-camera)
    Range("jsonl_max_mb", float, 0, 1e6, "MB at which the JSON lines file rotates (0 = never)"),
    Range("jsonl_keep", int, 0, 1000, "rotated JSON lines files kept"),
    Range("http_port", int, 0, 65535, "HTTP port (0 = any free port)"),
    Range("mqtt_port", int, 1, 65535, "MQTT broker port"),
    Range("mqtt_qos", int, 0, 2, "MQTT quality of service"),
    Range("mqtt_queue", int, 1, 10 ** 7, "results kept while the broker is away"),
    Range("mqtt_outbox_max_mb", float, 0, 1e6, "MB the MQTT outbox on disk may hold", above=True),
    Range("mqtt_outbox_max_age_h", float, 0, 24 * 365, "hours a result may wait in the MQTT outbox", above=True),
    Range("min_confidence", float, 0, 1, "least top-1 confidence published"),
    Range("heartbeat", float, 0, DAY, "seconds after which a filtered result is published anyway", above=True),
    # edge-serve (its --port is checked against http_port)
    Range("max_batch", int, 1, 1024, "images per inference call at most, gathered from concurrent requests"),
    Range("max_delay_ms", float, 0, 10000, "milliseconds a request may wait for others to join its batch"),
    Range("max_queue", int, 1, 100000, "requests waiting for inference at most; more get 503"),
    Range("max_body_bytes", int, 1024, 2 ** 31, "largest request body in bytes; larger get 413"),
    Range("client_timeout", float, 0, 3600, "seconds a client may take to send its request", above=True),
    Range("grpc_port", int, 0, 65535, "gRPC port (0 = any free port)"),
    # run control (edge-camera, edge-bench --source, edge-collect)
    Range("max_frames", int, 1, 10 ** 12, "results before stopping"),
    Range("duration", float, 0, YEAR, "seconds to run", above=True),
    Range("log_every", float, 0, DAY, "seconds between status lines", above=True),
    # edge-bench
    Range("warmup", float, 0, 3600, "warm-up seconds per measurement"),
    Range("min_time", float, 0, 3600, "least measuring seconds per measurement"),
    Range("min_iters", int, 1, 10 ** 6, "least timed iterations per measurement"),
    Range("max_images", int, 1, 10 ** 7, "--data images used at most"),
    # edge-collect
    Range("interval", float, 0, DAY, "seconds between saved frames", above=True),
    Range("count", int, 1, 10 ** 7, "images to save before stopping"),
    Range("quality", int, 0, 100, "JPEG quality"),
    # edge-doctor
    Range("seconds", float, 0, 3600, "seconds to read --source", above=True),
    # edge-export --triton-repo (edge.triton.repo)
    Range("triton_max_delay_us", int, 0, 10 ** 7, "microseconds Triton's batcher waits for a fuller batch"),
    # edge-train (train/config.py checks a run's options against these before torch is imported)
    Range("epochs", int, 1, 100000, "training epochs"),
    Range("freeze_epochs", int, 0, 100000, "epochs training only the head"),
    Range("train_batch_size", int, 1, 65536, "images per optimizer step"),
    Range("workers", int, 0, 256, "data-loading processes"),
    Range("patience", int, 0, 100000, "epochs without improvement before stopping (0 = never)"),
    Range("keep_epochs", int, 0, 100000, "per-epoch checkpoints kept (0 = all)"),
    Range("size", int, 8, 4096, "model input side in pixels"),
    Range("seed", int, 0, 2 ** 32 - 1, "random seed"),
    Range("lr", float, 0, 10, "peak learning rate", above=True),
    Range("lr_spread", float, 1, 1e6, "head learning rate / earliest layer's"),
    Range("weight_decay", float, 0, 1, "AdamW weight decay"),
    Range("label_smoothing", float, 0, 0.99, "label smoothing"),
    Range("val_fraction", float, 0, 0.9, "share of DATA held out for validation", above=True),
    Range("crop_pct", float, 0.05, 1, "share of the shorter side kept by the centre crop"),   # less: a huge resize
    Range("hflip", float, 0, 1, "probability of a horizontal flip"),
    Range("vflip", float, 0, 1, "probability of a vertical flip"),
    Range("rotate", float, 0, 180, "largest rotation in degrees"),
    Range("shift", float, 0, 0.49, "largest shift, a fraction of the side"),
    Range("zoom", float, 0, 0.99, "largest relative zoom"),
    Range("jitter", float, 0, 0.99, "largest relative brightness, contrast and saturation change"),
)
RANGES = dict((row.name, row) for row in ROWS)

_KIND_WORDS = {int: "a whole number", float: "a number"}


def _plain(number):
    return str(int(number)) if float(number).is_integer() else str(number)


def type_name(value):
    """How a YAML value's type reads in a message."""
    if isinstance(value, bool):
        return "{} (a boolean)".format("true" if value else "false")
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str):
        return "a string ({!r})".format(value)
    if isinstance(value, (int, float)):
        return "a number ({})".format(value)
    return "a {}".format(type(value).__name__)


def _as_kind(kind, value):
    """`value` as `kind`, or None when it is not one (numeric strings count; booleans never do)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number != number:  # NaN passes every comparison
        return None
    if kind is int:
        return int(number) if number.is_integer() else None
    return number


def check(name, value, where=None, kind=None):
    """`value` as the option's type, inside its range; else one EdgeError line.

    where: how the user wrote it ("--threads", "threads in camera.yaml"); default "--name".
    kind: the type for an option without a row (then only the type is checked).
    """
    row = RANGES.get(name)
    where = where or "--" + name.replace("_", "-")
    kind = row.kind if row is not None else kind
    number = _as_kind(kind, value)
    meaning = " ({})".format(row.meaning) if row is not None else ""
    if number is None:
        raise EdgeError("{} must be {}{}, got {}".format(where, _KIND_WORDS[kind], meaning, type_name(value)))
    if row is not None and not row.holds(number):
        raise EdgeError("{} must be {}{}, got {}".format(where, row.describe(), meaning, _plain(number)))
    return number


def check_args(args, names):
    """Check the parsed flags `names` (argparse dests) that were given; returns `args`."""
    for name in names:
        value = getattr(args, name)
        if value is not None:
            setattr(args, name, check(name, value))
    return args


def help_text(name, text):
    """`text` with the row's range appended, for a flag's --help."""
    return "{} ({})".format(text, RANGES[name].describe())
