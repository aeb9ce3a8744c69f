"""What `edge-export` can start from, loaded into one `ModelSource`.

    source = load_source(path, arch=None, classes=None, trust_pickle=False, spec_overrides=None)

`classes` is a list of names, "a,b,c" or a labels.txt path; `spec_overrides` the PreprocessSpec
fields the user gave (export.options.ExportOptions.spec_overrides). Accepted inputs (`detect_kind`
tells them apart without importing torch):
    bundle       a directory with manifest.json: handed to the device half (engines only)
    onnx         an existing .onnx file; --classes and the preprocessing flags describe it
    torchscript  a torch.jit archive; --classes (and preprocessing flags)
    torch file   torch.load(weights_only=True) decides:
                   our model.pt (arch, classes or regression targets, and preprocessing inside)
                   a torchvision-layout state dict: --arch and --classes
                   anything holding pickled Python objects (a full nn.Module) is refused
                   unless --trust-pickle: loading it runs code from the file; a file that
                   would call os/sys functions is refused even then (no model needs them)
"""

import os
import pickle
import zipfile

from edge.bundle.bundle import MANIFEST
from edge.util.atomic import sha256_file
from edge.errors import EdgeError, first_line, path_error
from edge.bundle.finite import refuse_non_finite
from edge.bundle.preprocess import PreprocessSpec
from edge.util.lazy import require
from edge.tasks.registry import head_task


class ModelSource(object):
    """A loaded input: a torch model (or an ONNX file) plus what the manifest needs."""

    def __init__(self, kind, path, arch, classes, spec, model=None, onnx_path=None, onnx_info=None,
                 details=None, targets=None, task=None):
        self.kind = kind            # "checkpoint", "state_dict", "pickled_module", "torchscript", "onnx"
        self.path = path
        self.arch = arch
        self.classes = list(classes)
        self.spec = spec
        self.model = model          # torch.nn.Module in eval mode; None for "onnx"
        self.onnx_path = onnx_path  # the given file for "onnx"
        self.onnx_info = onnx_info  # export.onnx_export.describe_onnx of it
        self.details = details or {}
        self.targets = targets      # edge.tasks.points.RegressionTargets of a regression model.pt, else None
        self.task = task or head_task(targets)   # the edge.tasks task of its outputs

    @property
    def has_torch_model(self):
        return self.model is not None

    def manifest_source(self):
        """model.source in the manifest: where the weights came from."""
        # The path and hash let a desktop reference run (edge-predict/edge-bench --runtime pytorch)
        # find the exact weights the bundle came from.
        info = {"kind": self.kind, "file": os.path.basename(self.path), "path": os.path.abspath(self.path),
                "sha256": sha256_file(self.path)}
        info.update(self.details)
        return info


def detect_kind(path):
    """"bundle", "onnx", "torchscript" or "torch" (decided later by torch.load); no torch import."""
    path = str(path)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, MANIFEST)):
            return "bundle"
        raise EdgeError("{} is a directory without {}: pass a model file (model.pt, a state dict, "
                        "TorchScript, .onnx) or a bundle folder".format(path, MANIFEST))
    if not os.path.isfile(path):
        raise EdgeError("input {} not found".format(path))
    if path.lower().endswith(".onnx"):
        return "onnx"
    if zipfile.is_zipfile(path):
        try:
            names = zipfile.ZipFile(path).namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise EdgeError("{} is a damaged archive ({})".format(path, exc))
        # torch.jit.save archives carry code/ and constants.pkl; torch.save ones carry data.pkl only.
        if any(name.split("/", 1)[-1] == "constants.pkl" for name in names):
            return "torchscript"
    return "torch"


def parse_classes(value):
    """--classes: a list of names, a comma list or the path of a labels.txt (one class per line)."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) and os.path.isfile(value):
        try:
            with open(value, "r", encoding="utf-8") as handle:
                classes = [line.strip() for line in handle if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:  # no permission; a labels file saved as Latin-1
            raise path_error("read", value, exc, "--classes")
        where = value
    else:
        names = value if isinstance(value, (list, tuple)) else value.split(",")
        classes = [str(name).strip() for name in names]
        where = "--classes"
        if any(not name for name in classes):
            raise EdgeError("--classes {!r} has an empty name; give a comma list or a labels.txt path".format(
                value))
    if not classes:
        raise EdgeError("{} lists no classes".format(where))
    if len(set(classes)) != len(classes):
        raise EdgeError("{} lists a class twice".format(where))
    return classes


class _Description(object):
    """What the user said about the input: arch, classes, trust_pickle, the spec fields given."""

    def __init__(self, arch, classes, trust_pickle, spec_overrides):
        self.arch = arch
        self.classes = classes      # as given: parse_classes reads it where the input needs it
        self.trust_pickle = bool(trust_pickle)
        self.spec_overrides = dict(spec_overrides or {})

    def spec(self):
        """PreprocessSpec from the defaults overridden by the fields given."""
        return PreprocessSpec(**self.spec_overrides)


def load_source(path, arch=None, classes=None, trust_pickle=False, spec_overrides=None):
    """Load a non-bundle input (see the module docstring)."""
    kind = detect_kind(path)
    if kind == "bundle":
        raise ValueError("bundles go to edge.tensorrt (engines), not load_source")
    given = _Description(arch, classes, trust_pickle, spec_overrides)
    if kind == "onnx":
        source = _from_onnx(path, given)
    elif kind == "torchscript":
        source = _from_torchscript(path, given)
    else:
        source = _from_torch_file(path, given)
    _refuse_non_finite(source)
    return source


def _refuse_non_finite(source):
    """NaN or Inf in any input's weights (a checkpoint, state dict, TorchScript, ONNX file): Unusable, exit 3."""
    if source.model is not None:
        from train.checkpoint import tensor_arrays
        named = tensor_arrays(source.model.state_dict())
    else:
        onnx = require("onnx", "exporting an ONNX model")
        from onnx import numpy_helper
        model = onnx.load(source.onnx_path)
        named = ((tensor.name, numpy_helper.to_array(tensor)) for tensor in model.graph.initializer)
    refuse_non_finite(source.path, named)


def _require_classes(given, what):
    classes = parse_classes(given.classes)
    if classes is None:
        raise EdgeError("{} does not name its classes: pass --classes a,b,c or --classes labels.txt".format(what))
    return classes


def _from_torch_file(path, given):
    torch = require("torch", "exporting a PyTorch model")
    from train.checkpoint import library_reason, refused_code
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if refused_code(exc) is None:  # damaged or foreign bytes, not refused objects
            raise EdgeError("{} is not a PyTorch checkpoint, state dict, TorchScript or ONNX file: it is damaged "
                            "or another kind of file".format(path))
        return _from_pickled_module(path, given, exc)
    except Exception as exc:  # foreign bytes fail in many ways (KeyError, EOFError, zip errors...)
        raise EdgeError("{} is not a PyTorch checkpoint, state dict, TorchScript or ONNX file ({})".format(
            path, library_reason(exc)))
    from train.checkpoint import FORMAT
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return _from_checkpoint(path, given)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if isinstance(obj, dict) and obj and all(torch.is_tensor(v) for v in obj.values()):
        return _from_state_dict(path, obj, given)
    raise EdgeError("{} holds a {} that is neither an edge-toolkit model.pt nor a state dict of tensors".format(
        path, type(obj).__name__))


def _from_checkpoint(path, given):
    from train.checkpoint import load_checkpoint, model_from_record, spec_from_record, targets_of
    flags = sorted("--" + name.replace("_", "-") for name in given.spec_overrides)
    if flags:
        raise EdgeError("{} carries its own preprocessing (the spec it was trained and evaluated with); "
                        "drop {}".format(path, " ".join(flags)))
    record = load_checkpoint(path, kinds=("model",))
    if given.arch and given.arch != record["arch"]:
        raise EdgeError("{} is a {} checkpoint, not {}; drop --arch".format(path, record["arch"], given.arch))
    classes = parse_classes(given.classes)
    if classes is not None and classes != record["classes"]:
        raise EdgeError("--classes does not match the classes stored in {} ({}); drop --classes".format(
            path, ",".join(record["classes"])))
    details = {"epoch": record.get("epoch"), "metrics": record.get("metrics") or {}}
    return ModelSource("checkpoint", path, record["arch"], record["classes"], spec_from_record(record),
                       model=model_from_record(record), details=details, targets=targets_of(record))


def _from_state_dict(path, state, given):
    from train.resnet import ARCHS, build_resnet
    if not given.arch:
        raise EdgeError("{} is a plain state dict: say which network it fits with --arch ({})".format(
            path, ", ".join(ARCHS)))
    classes = _require_classes(given, "{} (a plain state dict)".format(path))
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module."):]: value for key, value in state.items()}
    fc = state.get("fc.weight")
    if fc is not None and fc.ndim == 2 and fc.shape[0] != len(classes):
        raise EdgeError("{} has a {}-class head (fc.weight {}), but --classes lists {}".format(
            path, fc.shape[0], tuple(fc.shape), len(classes)))
    model = build_resnet(given.arch, len(classes))
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise EdgeError("{} does not fit {}: {} missing keys (e.g. {}), {} unexpected (e.g. {}); check --arch".format(
            path, given.arch, len(missing), missing[:2], len(unexpected), unexpected[:2]))
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise EdgeError("{} does not fit {}: {} has shape {}, expected {}; check --arch".format(
                path, given.arch, key, tuple(value.shape), tuple(own[key].shape)))
    model.load_state_dict(state, strict=True)
    return ModelSource("state_dict", path, given.arch, classes, given.spec(), model=model.eval())


PLAIN_WEIGHTS = ("save a plain state dict instead (torch.save(model.state_dict(), PATH)) and export it with "
                 "--arch and --classes")


def _from_pickled_module(path, given, exc):
    from train.checkpoint import library_reason, refused_code, refused_for_safety
    if refused_code(exc)[1]:  # os/sys calls: never a model, --trust-pickle or not
        raise EdgeError(refused_for_safety(path, exc, "it is not loaded even with --trust-pickle; " + PLAIN_WEIGHTS))
    if not given.trust_pickle:
        raise EdgeError(refused_for_safety(path, exc, "if it is a whole nn.Module from a source you trust, pass "
                                           "--trust-pickle to load it anyway; otherwise " + PLAIN_WEIGHTS))
    torch = require("torch", "exporting a PyTorch model")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as load_exc:  # any error from foreign pickled code: report it as one line
        raise EdgeError("{} could not be unpickled ({})".format(path, library_reason(load_exc)))
    if not isinstance(obj, torch.nn.Module):
        raise EdgeError("{} holds a pickled {}, not an nn.Module".format(path, type(obj).__name__))
    classes, spec, model = _checked_foreign_model(path, obj, given, "a pickled module")
    return ModelSource("pickled_module", path, given.arch or type(obj).__name__, classes, spec, model=model,
                       details={"class": type(obj).__name__})


def _from_torchscript(path, given):
    torch = require("torch", "exporting a TorchScript model")
    try:
        model = torch.jit.load(path, map_location="cpu")
    except Exception as exc:  # damaged archives fail in many ways
        raise EdgeError("{} is not a loadable TorchScript archive ({})".format(
            path, first_line(exc, limit=160)))
    classes, spec, model = _checked_foreign_model(path, model, given, "TorchScript")
    return ModelSource("torchscript", path, given.arch or "torchscript", classes, spec, model=model)


def _checked_foreign_model(path, model, given, what):
    """(classes, spec, model in eval mode) for a model that names neither: from the user, checked to fit."""
    classes = _require_classes(given, "{} ({})".format(path, what))
    spec = given.spec()
    model = model.eval()
    _check_output_width(model, spec, classes, path)
    return classes, spec, model


def _check_output_width(model, spec, classes, path):
    """Run one zero input: the model must give (1, len(classes)) logits at the spec size."""
    torch = require("torch")
    height, width = spec.size
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, 3, height, width))
    except Exception as exc:  # a foreign model failing on our input shape is a user error
        raise EdgeError("{} does not run on a 1x3x{}x{} input ({}); check --size".format(
            path, height, width, first_line(exc, limit=160)))
    if not torch.is_tensor(out) or out.ndim != 2 or out.shape[1] != len(classes):
        raise EdgeError("{} gives output {} but --classes lists {} classes".format(
            path, tuple(out.shape) if torch.is_tensor(out) else type(out).__name__, len(classes)))


def _from_onnx(path, given):
    from export.onnx_export import describe_onnx
    info = describe_onnx(path)
    classes = _require_classes(given, "{} (ONNX)".format(path))
    if info["num_outputs"] is not None and info["num_outputs"] != len(classes):
        raise EdgeError("{} has {} outputs per image but --classes lists {}".format(
            path, info["num_outputs"], len(classes)))
    spec = given.spec()
    if info["size"] is not None and tuple(info["size"]) != spec.size:
        if given.spec_overrides.get("size") is not None:
            raise EdgeError("{} takes {}x{} inputs but --size says {}x{}".format(
                path, info["size"][0], info["size"][1], spec.size[0], spec.size[1]))
        spec = PreprocessSpec(**dict(spec.to_dict(), size=list(info["size"])))
    return ModelSource("onnx", path, given.arch or "onnx", classes, spec, onnx_path=path,
                       onnx_info=info, details={"opset": info["opset"]})
