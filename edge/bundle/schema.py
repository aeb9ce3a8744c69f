"""The bundle manifest's schema: the one table of what every key may hold, and the relations between keys.

edge.bundle.bundle.read_manifest calls `check_manifest` before anything uses a bundle, so every command
(edge-predict, edge-camera, edge-bench, edge-serve, edge-doctor, edge-export BUNDLE --engine or
--triton-repo) and the Python API refuse an edited or damaged manifest alike: one EdgeError line
(exit code 2) naming the key, the rule and the value found. The keys themselves are explained in
edge.bundle.bundle's docstring; a test holds the two together (every key of this table is named there).

    KEYS            "path.to.key" (a "*" is every item of a list or every value of a mapping), its
                    rule, and whether a bundle must have it (older bundles lack some keys)
    ARTIFACT_KEYS   the same for each artifact entry, by its kind
    relations       len(classes) == num_classes; batch min <= opt <= max; input.shape is the
                    opt batch of the preprocess size (NCHW, or NHWC when fused); a regression
                    bundle's targets are its classes, in (x, y) pairs; the golden set's recorded
                    frames are the model input's size and its outputs one per class; artifact
                    files are distinct; a verified INT8 record judges by a number it holds
    anywhere        no NaN or infinity (JSON lets Python write them; nothing valid holds one)

Artifact paths stay inside the bundle folder: relative, normalised, no '..' (and, checked on disk
by edge.bundle.bundle.read_manifest, no symbolic link leading out; labels.txt names model.classes). What
the manifest says about the model is checked against the model itself when it is loaded
(`check_model_io`: each runner's activate, the Triton repository writer and the doctor read the
model's input and output names and dims): the output width is the number of classes, the input
an image of the preprocess size. Numbers take their ranges from
edge.options.ranges where it has a row. Keys not in the table are data no reader relies on
(verification figures, training metrics) or newer additions, and are left alone. Python 3.6.
"""

import math
import posixpath

from edge.errors import EdgeError
from edge.options.ranges import RANGES, type_name

SCHEMA = "edge-toolkit/bundle"
SCHEMA_VERSION = 2              # the newest this code reads
# What a model file takes: the normalised float tensor edge.bundle.preprocess makes (a plain bundle's), or
# (a fused bundle's, the default) the resized BGR frame, normalised inside the graph: as uint8, or, for
# TensorRT 8.2 (no uint8 inputs), as float32 holding the same 0..255 values (the host only widens).
INPUT_FLOAT = "float32-nchw"
INPUT_UINT8 = "uint8-nhwc-bgr"
INPUT_PIXELS = "float32-nhwc-bgr"
INPUT_FORMATS = (INPUT_FLOAT, INPUT_UINT8, INPUT_PIXELS)
PIXEL_FORMATS = (INPUT_UINT8, INPUT_PIXELS)     # NHWC frames, normalised in the graph
# The INT8 QDQ flavors a bundle may carry: symmetric int8 as TensorRT reads it, and uint8
# activations, ONNX Runtime's fast x86 path (export.quantize makes both).
TENSORRT_INT8 = "tensorrt-qdq-s8s8"
ORT_INT8 = "ort-qdq-u8s8"
INT8_FLAVORS = (TENSORRT_INT8, ORT_INT8)
# The precisions a model file or an engine has ("precision" of onnx and tensorrt_engine entries), slowest first.
PRECISIONS = ("fp32", "fp16", "int8")
ARTIFACT_KINDS = ("onnx", "calibration_cache", "tensorrt_engine", "timing_cache", "labels", "golden")
# What a fused export records as input.fused_preprocess: the graph takes the resized uint8 BGR frame.
FUSED_INPUT = {"dtype": "uint8", "layout": "NHWC", "color_order": "BGR"}
MAX_CLASSES = 100000
FIX = "re-export the bundle (edge-export), or restore the manifest it wrote"


class Rule(object):
    """What a value must be: `words` for the message, `test(value)` -> bool (a TypeError counts as False)."""

    def __init__(self, words, test):
        self.words, self.test = words, test

    def holds(self, value):
        try:
            return bool(self.test(value))
        except (TypeError, ValueError, AttributeError):
            return False


class OutputKind(Rule):
    """output.kind: one a task is registered under (edge.tasks.registry), read when a manifest is checked."""

    def __init__(self):
        pass

    @property
    def words(self):
        from edge.tasks.registry import known_kinds
        return "{} (another kind needs a newer edge-toolkit: upgrade it)".format(
            " or ".join("'{}'".format(kind) for kind in known_kinds()))

    def test(self, value):
        from edge.tasks.registry import TASKS
        return value in TASKS


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def whole(low, high):
    return Rule("a whole number from {} to {}".format(low, high), lambda v: _whole(v) and low <= v <= high)


def number(low, high, above=False):
    words = "a number {} {} and up to {}".format("above" if above else "from", low, high)
    return Rule(words, lambda v: _finite(v) and (v > low if above else v >= low) and v <= high)


def ranged(name):
    """The rule of edge.options.ranges' row `name` (a JSON number of its type: no strings, no booleans)."""
    row = RANGES[name]
    return Rule(row.describe(), lambda v: (_whole(v) if row.kind is int else _finite(v)) and row.holds(v))


def one_of(*choices):
    return Rule("one of {}".format(", ".join(repr(c) for c in choices)),
                lambda v: isinstance(v, (str, bool, type(None))) and v in choices)


def items(rule, low, high, distinct=False):
    words = "a list of {} to {} items, each {}{}".format(low, high, rule.words, ", all different" if distinct else "")
    return Rule(words, lambda v: isinstance(v, list) and low <= len(v) <= high and all(rule.holds(i) for i in v)
                and (not distinct or len(set(v)) == len(v)))


def nullable(rule):
    return Rule(rule.words + " or null", lambda v: v is None or rule.holds(v))


def _inside(value):
    """A normalised relative path that stays in its folder ("model.onnx", "engines/x.plan")."""
    return (isinstance(value, str) and value != "" and "\x00" not in value and "\\" not in value
            and not posixpath.isabs(value) and posixpath.normpath(value) == value
            and ".." not in value.split("/") and value != ".")


TEXT = Rule("a non-empty string", lambda v: isinstance(v, str) and v.strip() != "")
MAPPING = Rule("a mapping", lambda v: isinstance(v, dict))
BOOLEAN = Rule("true or false", lambda v: isinstance(v, bool))
HEX64 = Rule("64 hex digits (a sha256)", lambda v: isinstance(v, str) and len(v) == 64 and
             all(c in "0123456789abcdef" for c in v))
FILE = Rule("a path inside the bundle folder (relative, no '..')", _inside)
MEAN = items(number(0.0, 1.0), 3, 3)           # on the 0..1 scale of edge.bundle.preprocess
STD = items(number(0.001, 10.0), 3, 3)          # never 0: it divides (1/255 makes raw 0..255 inputs)
SIZE = items(ranged("size"), 2, 2)
BATCH = whole(1, RANGES["batch_size"].high)
SHAPE = items(whole(1, 100000), 1, 8)
FUSED = Rule("false, or {}".format(FUSED_INPUT), lambda v: v in (False, None) or v == FUSED_INPUT)

# path, rule, required. Ranges: edge.options.ranges (size, crop_pct, batch_size); the choices: edge.bundle.preprocess.
KEYS = (
    ("schema", one_of(SCHEMA), True),
    ("schema_version", whole(1, SCHEMA_VERSION), True),
    ("created", TEXT, False),
    ("producer", MAPPING, False),
    ("producer.tool", TEXT, False),
    ("producer.version", TEXT, False),
    ("model", MAPPING, True),
    ("model.arch", nullable(TEXT), False),
    ("model.classes", items(TEXT, 1, MAX_CLASSES, distinct=True), True),
    ("model.num_classes", whole(1, MAX_CLASSES), True),
    ("model.source", MAPPING, False),
    ("model.source.kind", one_of("checkpoint", "state_dict", "pickled_module", "torchscript", "onnx"), False),
    ("model.source.file", nullable(TEXT), False),
    ("model.source.path", nullable(TEXT), False),
    ("model.source.sha256", nullable(HEX64), False),
    ("model.source.epoch", nullable(whole(0, 10 ** 9)), False),
    ("model.source.metrics", nullable(MAPPING), False),
    ("input", MAPPING, True),
    ("input.name", TEXT, True),
    ("input.shape", items(whole(1, 100000), 4, 4), True),
    ("input.batch", MAPPING, True),
    ("input.batch.min", BATCH, True),
    ("input.batch.opt", BATCH, True),
    ("input.batch.max", BATCH, True),
    ("input.preprocess", MAPPING, True),
    ("input.preprocess.size", SIZE, True),
    ("input.preprocess.resize", one_of("center_crop", "stretch"), True),
    ("input.preprocess.crop_pct", ranged("crop_pct"), True),
    ("input.preprocess.interpolation", one_of("nearest", "bilinear", "bicubic", "area"), True),
    ("input.preprocess.mean", MEAN, True),
    ("input.preprocess.std", STD, True),
    ("input.preprocess.color_order", one_of("RGB", "BGR"), True),
    ("input.preprocess.layout", one_of("NCHW"), True),
    ("input.preprocess.dtype", one_of("float32"), True),
    ("input.fused_preprocess", FUSED, False),
    ("output", MAPPING, True),
    ("output.name", TEXT, True),
    ("output.kind", OutputKind(), False),
    ("output.targets", items(TEXT, 2, MAX_CLASSES, distinct=True), False),
    ("output.points", items(items(TEXT, 2, 2), 1, MAX_CLASSES), False),
    ("output.units", one_of("pixels of the input image"), False),
    ("output.normalization", MAPPING, False),
    ("artifacts", items(MAPPING, 0, 10000), True),
    ("verification", MAPPING, False),
    ("verification.fp32", MAPPING, False),
    ("verification.int8", MAPPING, False),
    ("verification.int8.*", MAPPING, False),
    ("verification.int8.*.top1_agreement", number(0, 1), False),
    ("verification.int8.*.min_agreement", number(0, 1), False),
    ("verification.int8.*.max_mae_increase_px", number(0, 1e9), False),
    ("verification.int8.*.judged_by", one_of("mae_delta_px", "mean_abs_diff_px"), False),
    ("verification.int8.*.mae_delta_px", nullable(number(-1e9, 1e9)), False),
    ("verification.int8.*.mean_abs_diff_px", nullable(number(0, 1e9)), False),
)

BATCH_RANGE = Rule("a mapping of min, opt and max", lambda v: isinstance(v, dict) and
                   all(BATCH.holds(v.get(k)) for k in ("min", "opt", "max")) and v["min"] <= v["opt"] <= v["max"])
# kinds, key, rule, required: the keys each artifact entry has (beside file, kind, sha256, bytes).
ARTIFACT_KEYS = (
    (ARTIFACT_KINDS, "file", FILE, True),
    (ARTIFACT_KINDS, "kind", one_of(*ARTIFACT_KINDS), True),
    (ARTIFACT_KINDS, "sha256", HEX64, True),
    (ARTIFACT_KINDS, "bytes", whole(0, 2 ** 50), True),
    (("onnx",), "precision", one_of("fp32", "int8"), True),
    (("onnx",), "opset", whole(1, 100), False),
    (("onnx",), "flavor", one_of(*INT8_FLAVORS), False),
    (("onnx", "tensorrt_engine"), "input_format", one_of(*INPUT_FORMATS), False),
    (("onnx",), "calibration", MAPPING, False),
    (("tensorrt_engine",), "precision", one_of(*PRECISIONS), True),
    (("tensorrt_engine",), "requested_precision", nullable(one_of(*PRECISIONS)), False),
    (("tensorrt_engine",), "also_requested", nullable(items(one_of(*PRECISIONS), 0, 3)), False),
    (("tensorrt_engine",), "batch", BATCH_RANGE, False),
    (("tensorrt_engine",), "input_shape", nullable(SHAPE), False),
    (("tensorrt_engine",), "int8_mode", one_of("explicit-qdq", "implicit-calibration", None), False),
    (("tensorrt_engine", "calibration_cache"), "onnx_file", nullable(FILE), False),
    (("tensorrt_engine", "calibration_cache"), "onnx_sha256", nullable(HEX64), False),
    (("tensorrt_engine",), "key", nullable(TEXT), False),
    (("calibration_cache",), "method", TEXT, False),
    (("golden",), "count", whole(1, 10 ** 6), True),
    (("golden",), "reference", one_of("pytorch", "onnxruntime-fp32"), False),
    (("golden",), "source", one_of("images", "random"), False),
    (("golden",), "frames_shape", items(whole(1, 10 ** 6), 4, 4), True),
    (("golden",), "reference_shape", items(whole(1, 10 ** 6), 2, 2), True),
    (("golden",), "inputs_sha256", HEX64, True),
)


def _got(value):
    text = type_name(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _refuse(path, text):
    return EdgeError("{}: {}; {}".format(path, text, FIX))


def _walk(data, parts, where=""):
    """(where, value, present) at the path `parts` below `data`; a missing last key gives (where, None, False),
    a missing or mistyped parent nothing (its own row reports it)."""
    if not parts:
        yield where, data, True
        return
    head, rest = parts[0], parts[1:]
    if head == "*":
        pairs = enumerate(data) if isinstance(data, list) else data.items() if isinstance(data, dict) else ()
        for key, value in pairs:
            for found in _walk(value, rest, "{}.{}".format(where, key)):
                yield found
        return
    if not isinstance(data, dict):
        return
    inner = head if not where else where + "." + head
    if head not in data:
        if not rest:
            yield inner, None, False
        return
    for found in _walk(data[head], rest, inner):
        yield found


def _non_finite(value, where=""):
    """The first place holding NaN or an infinity, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "(the manifest)"
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found = _non_finite(child, "{}.{}".format(where, key) if where else str(key))
        if found:
            return found
    return None


def _check_rows(data, rows, path, prefix=""):
    for key, rule, required in rows:
        for where, value, present in _walk(data, key.split(".")):
            if not present:
                if required:
                    raise _refuse(path, "{}lacks {}".format(prefix or "the manifest ", where))
            elif not rule.holds(value):
                raise _refuse(path, "{}{} must be {}, got {}".format(prefix, where, rule.words, _got(value)))


def check_manifest(manifest, path="manifest.json"):
    """Refuse (EdgeError, one line) a manifest that breaks a rule of KEYS, ARTIFACT_KEYS or the relations."""
    if not isinstance(manifest, dict):
        raise _refuse(path, "the manifest must be a mapping, got {}".format(_got(manifest)))
    where = _non_finite(manifest)
    if where:
        raise _refuse(path, "{} is not a finite number (a manifest holds no NaN or infinity)".format(where))
    _check_rows(manifest, KEYS, path)
    for index, entry in enumerate(manifest["artifacts"]):
        kind = entry.get("kind")
        rows = [(key, rule, required) for kinds, key, rule, required in ARTIFACT_KEYS
                if kinds is ARTIFACT_KINDS or kind in kinds]
        _check_rows(entry, rows, path, "artifacts[{}] ({}) ".format(index, entry.get("file")))
    for relation in (_classes, _input_shape, _task_output, _artifact_relations, _verification):
        relation(manifest, path)
    return manifest


def _classes(manifest, path):
    model = manifest["model"]
    if model["num_classes"] != len(model["classes"]):
        raise _refuse(path, "model.num_classes is {} but model.classes names {}".format(
            model["num_classes"], len(model["classes"])))


def _input_shape(manifest, path):
    batch, height_width = manifest["input"]["batch"], manifest["input"]["preprocess"]["size"]
    if not batch["min"] <= batch["opt"] <= batch["max"]:
        raise _refuse(path, "input.batch must keep min <= opt <= max, got {}".format(batch))
    fused = bool(manifest["input"].get("fused_preprocess"))
    expected = [batch["opt"]] + (list(height_width) + [3] if fused else [3] + list(height_width))
    if manifest["input"]["shape"] != expected:
        raise _refuse(path, "input.shape is {} but the opt batch and the preprocess size make {} ({})".format(
            manifest["input"]["shape"], expected, "NHWC, fused" if fused else "NCHW"))


def _task_output(manifest, path):
    """The output section against the rest, as the manifest's task (edge.tasks) reads it."""
    from edge.tasks.registry import task_for

    problem = task_for(manifest).manifest_problem(manifest)
    if problem:
        raise _refuse(path, problem)


def _artifact_relations(manifest, path):
    files = [entry["file"] for entry in manifest["artifacts"]]
    twice = sorted(set(name for name in files if files.count(name) > 1))
    if twice:
        raise _refuse(path, "artifacts list {} more than once".format(", ".join(twice)))
    height, width = manifest["input"]["preprocess"]["size"]
    classes = len(manifest["model"]["classes"])
    for entry in manifest["artifacts"]:
        if entry["kind"] == "onnx" and entry["precision"] == "int8" and entry.get("flavor") not in INT8_FLAVORS:
            raise _refuse(path, "{} is an INT8 model without its flavor ({})".format(
                entry["file"], ", ".join(INT8_FLAVORS)))
        if entry["kind"] != "golden":
            continue
        frames, outputs = [entry["count"], height, width, 3], [entry["count"], classes]
        if entry["frames_shape"] != frames:
            raise _refuse(path, "the golden set records frames {} but {} frames of the model input are {}".format(
                entry["frames_shape"], entry["count"], frames))
        if entry["reference_shape"] != outputs:
            raise _refuse(path, "the golden set records outputs {} but {} images of {} outputs are {}".format(
                entry["reference_shape"], entry["count"], classes, outputs))


def _verification(manifest, path):
    for flavor, record in sorted(((manifest.get("verification") or {}).get("int8") or {}).items()):
        judged_by = record.get("judged_by")
        if judged_by is not None and not _finite(record.get(judged_by)):
            raise _refuse(path, "verification.int8.{} is judged by {} but holds {}".format(
                flavor, judged_by, _got(record.get(judged_by))))


def _dims_text(dims):
    return "x".join(str(d) if _whole(d) and d > 0 else "?" for d in dims)


def model_io_problem(bundle, inputs, outputs, input_format):
    """What the model's input and output (as the runtime states them) say against the manifest, or None.

    inputs, outputs: [(name, dims)], dims with the batch axis first, a dim that is not a positive whole
    number dynamic, None for an unknown shape; input_format: what the model takes (edge.bundle.bundle).
    """
    found = dict(inputs)
    if bundle.input_name not in found:
        return "the model's input is {}, the manifest's input.name {!r}".format(sorted(found), bundle.input_name)
    dims, item = found[bundle.input_name], bundle.item_shape(input_format)
    if dims is not None and (len(dims) != len(item) + 1 or
                             any(_whole(got) and got > 0 and got != want for got, want in zip(dims[1:], item))):
        return "the model takes {} inputs, the manifest's preprocessing makes {} (input.preprocess.size)".format(
            _dims_text(list(dims)[1:]), _dims_text(item))
    found = dict(outputs)
    if bundle.output_name not in found:
        return "the model's output is {}, the manifest's output.name {!r}".format(sorted(found), bundle.output_name)
    dims, width = found[bundle.output_name], len(bundle.classes)
    if dims is not None and (len(dims) != 2 or (_whole(dims[1]) and dims[1] > 0 and dims[1] != width)):
        return "the model gives {} outputs an image, the manifest names {} (model.classes)".format(
            _dims_text(list(dims)[1:]), width)
    return None


def check_model_io(bundle, inputs, outputs, input_format, what):
    """Refuse (EdgeError) a model `what` (its file) whose input or output disagrees with the manifest."""
    problem = model_io_problem(bundle, inputs, outputs, input_format)
    if problem:
        raise EdgeError("{} does not fit the manifest of {}: {}; {}".format(what, bundle.path, problem, FIX))
