"""A Triton model repository for a bundle: `edge-export ... --triton-repo DIR`.

    write_repository("bundle", "triton", name="digits") -> Repository (path, models, left_out)

    DIR/digits/config.pbtxt, 1/model.onnx, labels.txt       the fp32 ONNX model (onnxruntime backend)
    DIR/digits_int8/...                                      the INT8 model made for ONNX Runtime (ort-qdq-u8s8)
    DIR/digits_image/, DIR/digits_int8_image/                each ONNX model's raw-image twin (edge.triton.image_graph)
    DIR/digits_trt_fp16/config.pbtxt, 1/model.plan, ...      each TensorRT engine built for THIS machine
    DIR/edge-toolkit-repository.json                         what was written, from which bundle, what was left out

Precisions are separate models, not versions of one: Triton serves only a model's newest version
by default, and versions stand for a model's history; a client picks fp32, INT8 or an engine by
name, and all of them can be loaded side by side. The bundle's TensorRT INT8 flavor
(tensorrt-qdq-s8s8) and a fused bundle's TensorRT 8.2 family (float32 pixels, or an older bundle's float
input) are what engines are built from, not models to serve, so they are left out; an engine built from
that family is served as it was built (FP32 NHWC BGR pixels, or the normalised NCHW tensor).

An engine runs only on the GPU model and TensorRT version that built it (edge.tensorrt.matching,
with the GPU as edge.cuda.gpu names it): engines for another machine, and every engine where TensorRT
cannot be imported, are left out with the reason, in the log and in edge-toolkit-repository.json.
Triton must also use that TensorRT version (a Triton release for this JetPack).

Names follow edge.triton.names, as edge-serve's do: one name, one precision. The image input declares its
format: FORMAT_NCHW for the float tensor, FORMAT_NHWC for pixels (a fused model takes BGR,
a twin RGB, the order Triton's image clients send; the twins need the onnx package, else they are left out),
where Triton allows one: with batching (3 dims); a model without (max_batch_size 0) states none.

Each configuration is read off its model file (edge.bundle.onnx_io: names, element types, dims) because
Triton's backends compare them with the file: batching (max_batch_size = the bundle's or engine's
batch maximum, and dynamic_batching) only where the batch axis is dynamic; otherwise
max_batch_size 0 and the full shape. The logits output names labels.txt (the classes in output
order) as its label_filename, for Triton's classification extension.

The repository is built in a staging folder beside DIR and swapped in whole (edge.util.staging): a crash
leaves the previous repository or none, never half of one. DIR must be missing, empty, or a
repository edge-export wrote (it holds edge-toolkit-repository.json), which is replaced; anything
else is refused, as -o refuses a folder that is not a bundle. Triton takes several
--model-repository folders, so this one needs no other models in it. Python 3.6 compatible.
"""

import os
import re
import sys

from edge.version import __version__
from edge.util import text_table
from edge.util.atomic import copy_file, make_folder, sha256_file, write_json, write_text
from edge.bundle.bundle import LABELS, Bundle, labels_text
from edge.bundle.schema import INPUT_UINT8, ORT_INT8, PIXEL_FORMATS
from edge.cli import refuse_given
from edge.errors import EdgeError, MissingDependency
from edge.util.lazy import available, require
from edge.bundle.schema import check_model_io
from edge.bundle.onnx_io import graph_io
from edge.options.ranges import check, help_text
from edge.runners.registry import triton_platform
from edge.util.staging import Kind, StagedFolder, recover
from edge.tensorrt import compat
from edge.tensorrt.matching import build_command, mismatch
from edge.util.timestamps import utc_timestamp
from edge.triton.config import ModelConfig, NoTritonShape, TensorConfig, batching, config_text, data_type, image_layout
from edge.triton.image_graph import image_config, write_image_graph
from edge.triton.names import precision_suffix

MARKER = "edge-toolkit-repository.json"
SCHEMA = "edge-toolkit/triton-repository"
SCHEMA_VERSION = 1
REPOSITORY = Kind(marker=MARKER, inner="repository", noun="Triton repository")
VERSION = "1"
CONFIG = "config.pbtxt"
# Triton's own default: requests that queue while the model is busy are batched, none is held back.
DEFAULT_MAX_DELAY_US = 0
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PlannedModel(object):
    """One model of the repository: its configuration, the bundle artifact it serves, its file name; image:
    True for a raw-image twin (edge.triton.image_graph), written from that artifact rather than copied."""

    def __init__(self, config, entry, file_name, what, image=False):
        self.config = config
        self.entry = entry
        self.file_name = file_name
        self.what = what
        self.image = image
        self.sha256 = entry["sha256"]   # of the file written (a twin's is set when it is written)

    @property
    def path(self):
        """The model file, relative to the repository."""
        return "/".join((self.config.name, VERSION, self.file_name))


class Repository(object):
    """A written repository: its path, its PlannedModels, and [(bundle file, why it was left out)]."""

    def __init__(self, path, models, left_out):
        self.path = path
        self.models = models
        self.left_out = left_out


# ----------------------------------------------------------------------------- the target folder

def default_name(bundle_dir):
    """The bundle folder's name, as a model name (other characters become '_')."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(os.path.abspath(str(bundle_dir)))).lstrip("._-")
    return name or "model"


def check_name(name):
    if not _MODEL_NAME.match(name or ""):
        raise EdgeError("--triton-name {!r} is not a model name: use letters, digits, '_', '.' and '-', starting "
                        "with a letter or digit".format(name))
    return name


def check_target(target):
    """Refuse a file, or a folder with other things in it than a repository edge-export wrote."""
    target = os.path.abspath(str(target))
    if os.path.isfile(target):
        raise EdgeError("--triton-repo {} is a file; it takes a folder".format(target))
    if os.path.isdir(target) and os.listdir(target) and not os.path.isfile(os.path.join(target, MARKER)):
        raise EdgeError("--triton-repo {} exists and is not a Triton repository edge-export wrote (no {}); choose "
                        "another folder or empty it".format(target, MARKER))
    return target


def _within(path, folder):
    relative = os.path.relpath(os.path.realpath(path), os.path.realpath(folder))
    return relative == os.curdir or not (relative == os.pardir or relative.startswith(os.pardir + os.sep))


def prepare_target(target, bundle_dir, log=print):
    """Before any work: `target` may be replaced and lies apart from the bundle; what interrupted exports left
    beside it is tidied. Returns the absolute target."""
    target = os.path.abspath(str(target))
    if _within(target, bundle_dir) or _within(bundle_dir, target):
        raise EdgeError("--triton-repo {} and the bundle {} must be separate folders, neither inside the "
                        "other".format(target, os.path.abspath(str(bundle_dir))))
    return check_target(recover(check_target(target), REPOSITORY, log))


# ----------------------------------------------------------------------------- which models

def this_device():
    """(this machine as engine matching describes it, None), or (None, why no engine can be matched here)."""
    try:
        trt = require("tensorrt", "matching engines to this machine")
        return compat.device_description(trt), None
    except MissingDependency:
        return None, ("TensorRT cannot be imported here, and an engine runs only on the GPU and TensorRT that "
                      "built it: run edge-export BUNDLE --triton-repo DIR on that machine")
    except EdgeError as exc:
        return None, str(exc)


def plan_models(bundle, name, max_delay_us=DEFAULT_MAX_DELAY_US, device=None, no_device_reason=None):
    """([PlannedModel], [(bundle file, why left out)]) for the bundle's models.

    device: this machine for engine matching (this_device()); None leaves every engine out with
    `no_device_reason`.
    """
    models, left_out = [], []
    fp32 = bundle.onnx("fp32")
    if fp32 is None:
        raise EdgeError("bundle {} has no fp32 ONNX model; re-run edge-export".format(bundle.path))
    candidates = [(fp32, name, "fp32 ONNX")]
    int8 = bundle.onnx("int8", flavor=ORT_INT8)
    if int8 is not None:
        candidates.append((int8, name + precision_suffix("onnx", "int8"), "int8 ONNX ({})".format(ORT_INT8)))
    for entry, model_name, what in candidates:
        try:
            models.append(_model(bundle, entry, model_name, what, triton_platform("onnx"),
                                 graph_io(bundle.file(entry)), bundle.batch_range, max_delay_us))
        except NoTritonShape as exc:
            left_out.append((entry["file"], "{}: {}".format(entry["file"], exc)))
            continue
        twin, why = image_twin(bundle, models[-1])
        models.extend([twin] if twin is not None else [])
        left_out.extend([(entry["file"], why)] if why else [])
    engines, skipped = _engines_here(bundle, device, no_device_reason)
    left_out.extend(skipped)
    for entry in engines:
        source = bundle.artifact("onnx", file=entry.get("onnx_file"))
        batch = entry["batch"]
        what = "{} TensorRT {} engine, {}".format(entry["precision"], entry.get("tensorrt_version"), entry.get("gpu"))
        try:
            models.append(_model(bundle, entry, name + precision_suffix("tensorrt_engine", entry["precision"]), what,
                                 triton_platform("tensorrt_engine"),
                                 graph_io(bundle.file(source)), (batch["min"], batch["opt"], batch["max"]),
                                 max_delay_us))
        except NoTritonShape as exc:
            left_out.append((entry["file"], "{}: {}".format(entry["file"], exc)))
    return models, left_out


def _engines_here(bundle, device, no_device_reason):
    """(engines that run on `device`, the newest of each precision; [(file, why)] for the others)."""
    chosen, left_out = {}, []
    for entry in bundle.artifacts("tensorrt_engine"):
        if device is None:
            left_out.append((entry["file"], "{}: {}".format(entry["file"], no_device_reason)))
            continue
        problem = mismatch(bundle, entry, device)
        if problem is not None:
            precision = entry.get("requested_precision") or entry.get("precision")
            left_out.append((entry["file"], "{}; rebuild it here with: {}".format(
                problem, build_command(bundle, precision))))
            continue
        earlier = chosen.get(entry["precision"])
        if earlier is not None:  # the manifest lists engines in build order: the later one is newer
            left_out.append((earlier["file"], "{}: {} is a newer {} engine for this machine".format(
                earlier["file"], entry["file"], entry["precision"])))
        chosen[entry["precision"]] = entry
    return [entry for entry in bundle.artifacts("tensorrt_engine") if entry in chosen.values()], left_out


def image_twin(bundle, model):
    """(the raw-image twin of an ONNX PlannedModel: NAME_image, uint8 RGB NHWC at the model's size, or None;
    why it is left out, or None). The twin's graph is written by edge.triton.image_graph (needs onnx)."""
    config = image_config(bundle, model.config)
    if config is None:
        return None, None
    if not available("onnx"):
        return None, "{}: not written: the onnx package, which writes its graph, is not installed: {}".format(
            config.name, "pip install onnx")
    return PlannedModel(config, model.entry, model.file_name, model.what + ", RGB image input", image=True), None


def _fill(dims, item):
    """`dims` with dynamic image axes (-1) given the bundle's image shape `item` (the batch axis, if any, kept)."""
    offset = len(dims) - len(item)
    if offset not in (0, 1):
        return dims
    return dims[:offset] + [size if dim == -1 else dim for dim, size in zip(dims[offset:], item)]


def _model(bundle, entry, name, what, platform, io, batch_range, max_delay_us):
    check_model_io(bundle, [(t.name, t.dims) for t in io.inputs], [(t.name, t.dims) for t in io.outputs],
                   bundle.model_input_format(entry), bundle.file(entry))   # the manifest against the model file
    tensors = list(io.inputs) + list(io.outputs)
    max_batch_size, dims = batching(tensors, batch_range)
    item = bundle.item_shape(bundle.model_input_format(entry))
    labels = bundle.task.labels_output   # the output scores the classes: it names labels.txt
    configs = []
    for index, (tensor, tensor_dims) in enumerate(zip(tensors, dims)):
        is_output = index >= len(io.inputs)
        image_format = None
        if not is_output and tensor.name == bundle.input_name:
            tensor_dims = _fill(tensor_dims, item)
            image_format = image_layout(bundle.model_input_format(entry) in PIXEL_FORMATS, tensor_dims)
        label_file = LABELS if is_output and labels and tensor.name == bundle.output_name else None
        configs.append(TensorConfig(tensor.name, data_type(tensor.dtype), tensor_dims, label_file, image_format))
    comments = ["{} written by edge-export {}: {}, {} (sha256 {})".format(CONFIG, __version__, what, entry["file"],
                                                                          entry["sha256"])]
    config = ModelConfig(name, platform[0], platform[1], max_batch_size, configs[:len(io.inputs)],
                         configs[len(io.inputs):], max_delay_us if max_batch_size > 1 else None, comments)
    return PlannedModel(config, entry, platform[2], what)


# ----------------------------------------------------------------------------- writing

def write_repository(bundle_dir, repo_dir, name=None, max_delay_us=DEFAULT_MAX_DELAY_US, log=print):
    """Write the Triton model repository for the bundle at `bundle_dir` into `repo_dir`, whole or not at all.

    name: the fp32 model's name (default: the bundle folder's); the others add _int8, _trt_<precision>.
    max_delay_us: dynamic_batching's max_queue_delay_microseconds. Returns a Repository.
    """
    bundle = Bundle.load(bundle_dir)
    name = check_name(name or default_name(bundle_dir))
    max_delay_us = check("triton_max_delay_us", max_delay_us)
    target = prepare_target(repo_dir, bundle.path, log)
    device, no_device_reason = this_device() if bundle.artifacts("tensorrt_engine") else (None, None)
    models, left_out = plan_models(bundle, name, max_delay_us, device, no_device_reason)
    for _, why in left_out:
        log("left out of the Triton repository: " + why)
    if not models:
        raise EdgeError("no model of {} can be written as a Triton model; nothing was written".format(bundle.path))
    with StagedFolder(target, REPOSITORY, check_target, log=log) as stage:
        for model in models:
            _write_model(bundle, model, stage.path)
        write_json(os.path.join(stage.path, MARKER), _record(bundle, models, left_out))
        stage.commit()
    log("wrote the Triton repository {} ({} model{})".format(target, len(models), "" if len(models) == 1 else "s"))
    return Repository(target, models, left_out)


def _write_model(bundle, model, root):
    folder = os.path.join(root, model.config.name)
    source = bundle.file(model.entry)
    if not os.path.isfile(source):
        bundle.check(model.entry)  # says which file is missing
    if model.image:
        bundle.check(model.entry)
        make_folder(os.path.dirname(os.path.join(root, model.path)))
        write_image_graph(source, os.path.join(root, model.path), bundle.input_name, bundle.spec,
                          bundle.model_input_format(model.entry) == INPUT_UINT8)
        model.sha256 = sha256_file(os.path.join(root, model.path))
    else:
        bundle.check(model.entry, digest=copy_file(source, os.path.join(root, model.path)))
    write_text(os.path.join(folder, CONFIG), config_text(model.config))
    if any(tensor.label_file for tensor in model.config.outputs):
        write_text(os.path.join(folder, LABELS), labels_text(bundle.classes))


def _record(bundle, models, left_out):
    """edge-toolkit-repository.json: marks the folder as ours and says what it holds."""
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "created": utc_timestamp(),
        "producer": {"tool": "edge-export", "version": __version__},
        "bundle": {"path": os.path.abspath(bundle.path), "created": bundle.manifest.get("created"),
                   "arch": bundle.arch},
        "models": [{"name": model.config.name, "platform": model.config.platform, "file": model.path,
                    "sha256": model.sha256, "from": model.entry["file"], "what": model.what}
                   for model in models],
        "left_out": [{"file": file_name, "reason": why} for file_name, why in left_out],
    }


# ----------------------------------------------------------------------------- the command line

def add_triton_arguments(parser):
    """The --triton-repo flags of edge-export (desktop and device)."""
    group = parser.add_argument_group("Triton model repository")
    group.add_argument("--triton-repo", metavar="DIR",
                       help="also write a Triton model repository for the bundle into DIR (a repository "
                            "edge-export wrote there is replaced)")
    group.add_argument("--triton-name", metavar="NAME",
                       help="model name (default: the bundle folder's name); INT8 and engines add _int8, _trt_fp16")
    group.add_argument("--triton-max-delay-us", type=int, metavar="US",
                       help=help_text("triton_max_delay_us", "dynamic batching's max_queue_delay_microseconds "
                                      "(default {}: batch what queues while the model is busy)".format(
                                          DEFAULT_MAX_DELAY_US)))
    return group


class TritonRequest(object):
    """--triton-repo and its options: checked before the export or engine build, written after it."""

    def __init__(self, repo, name=None, max_delay_us=None):
        self.repo = repo
        self.name = name
        self.max_delay_us = DEFAULT_MAX_DELAY_US if max_delay_us is None else max_delay_us

    @classmethod
    def from_args(cls, parser, args):
        """The request the flags make (None without --triton-repo; its options alone are refused)."""
        if not args.triton_repo:
            refuse_given(parser, args, ("triton_name", "triton_max_delay_us"), "only apply with --triton-repo")
            return None
        return cls(args.triton_repo, args.triton_name, args.triton_max_delay_us)

    def prepare(self, bundle_dir, log=print):
        """Every check that needs no bundle yet (the bundle may be about to be written at `bundle_dir`)."""
        self.name = check_name(self.name or default_name(bundle_dir))
        self.max_delay_us = check("triton_max_delay_us", self.max_delay_us)
        self.repo = prepare_target(self.repo, bundle_dir, log)
        return self

    def write(self, bundle_dir, log=print):
        return write_repository(bundle_dir, self.repo, self.name, self.max_delay_us, log)


def _shape_text(tensor):
    return "{} {} [{}]".format(tensor.name, tensor.data_type, ", ".join(str(d) for d in tensor.dims))


def summary_rows(repository):
    """One row per model: (model, platform, serves, input, batching)."""
    rows = []
    for model in repository.models:
        config = model.config
        if config.max_batch_size > 1:
            batch = "up to {}, dynamic batching (delay {} us)".format(config.max_batch_size, config.max_queue_delay_us)
        elif config.max_batch_size == 1:
            batch = "1 image a request"
        else:
            batch = "none: full shape"
        rows.append((config.name, config.platform, model.what, _shape_text(config.inputs[0]), batch))
    return rows


def print_repository(repository):
    """The repository's table on stdout, after a blank line and its path."""
    print()
    print("Triton model repository {} (tritonserver --model-repository {})".format(repository.path,
                                                                                  repository.path))
    print(text_table.format_table(summary_rows(repository), ("model", "platform", "serves", "input", "batching")))
    sys.stdout.flush()
