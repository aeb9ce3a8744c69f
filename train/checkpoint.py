"""Self-describing checkpoints that load with `torch.load(..., weights_only=True)`.

Only tensors, numbers, strings, lists and dicts are stored: no pickled code, so a tampered or
foreign file is refused by the unpickler instead of executing anything.

model.pt ("kind": "model") holds what export and evaluation need:
    format, format_version, kind, arch, classes, num_classes, preprocess (PreprocessSpec dict),
    state_dict, metrics, epoch, config, versions, created
A task other than classification adds its own fields (train.tasks: a regression model is
format_version 2 with "task": "regression", its targets, and its "classes" the target names);
a classification model stays format_version 1, which every earlier edge-toolkit reads.
A training-state checkpoint ("kind": "train-state", last.pt / interrupted.pt) adds what --resume
needs: optimizer, scheduler, scaler, rng, history, best, epochs_without_improvement, phase.
"""

import io
import os
import pickle
import platform
import re

import torch

from edge import __version__
from edge.util.atomic import write_bytes
from edge.errors import EdgeError, first_line
from edge.bundle.finite import refuse_non_finite
from edge.bundle.preprocess import PreprocessSpec
from edge.util.timestamps import utc_timestamp
from train import tasks
from train.resnet import ARCHS, build_resnet

FORMAT = "edge-toolkit/model"
FORMAT_VERSION = 2           # the newest this code reads; a record says the lowest that describes it
KINDS = ("model", "train-state")


def versions():
    import numpy

    return {"edge_toolkit": __version__, "torch": str(torch.__version__), "numpy": str(numpy.__version__),
            "python": platform.python_version()}


# What torch's weights_only loader says when it refuses a pickled object, and the object it names.
_REFUSED = (
    (re.compile(r"unsupported GLOBAL (\S+) whose module \S+ is blocked"), True),
    (re.compile(r"GLOBAL (\S+) was not an allowed global"), False),
    (re.compile(r"reduce for unrecognized function (\S+)"), False),
    (re.compile(r"new object for .* but got <class '([^']+)'>"), False),
)


def refused_code(exc):
    """(name, blocked) of the Python object a weights_only refusal names, or None when it names none.

    `blocked` is true for what torch never loads from weights (os, sys: `posix.system`, say): no
    model needs those, so the file was tampered with or is not a model. None means the bytes were
    not refused for holding code: a damaged or foreign file.
    """
    text = str(exc)
    for pattern, blocked in _REFUSED:
        match = pattern.search(text)
        if match:
            return match.group(1).rstrip(".,;"), blocked
    return None


def refused_for_safety(path, exc, remedy):
    """One whole sentence for a file refused because it holds pickled code, ending with `remedy`."""
    name, blocked = refused_code(exc) or ("an unknown object", False)
    if blocked:
        what = "it holds pickled code that would call {} while loading, which no model needs".format(name)
    else:
        what = "it holds pickled Python code ({}), not only weights, and loading it would run that code".format(
            name)
    return "{} was refused for safety: {}; {}".format(path, what, remedy)


def library_reason(exc, limit=200):
    """A library error as a whole phrase: its first line, cut only at a sentence end, else its type."""
    text = first_line(exc, limit=None, empty="")
    if len(text) > limit:
        end = text.rfind(". ", 0, limit)
        text = text[:end + 1] if end > 0 else ""
    return "{}: {}".format(type(exc).__name__, text) if text else type(exc).__name__


def model_record(model, arch, classes, spec, metrics=None, epoch=None, config=None, targets=None):
    """The model.pt dictionary for `model` (weights copied to CPU).

    targets: what a task other than classification records of its outputs (a regression model's
    RegressionTargets, and then `classes` are ignored: its outputs are the targets); None for a classifier.
    """
    record = {
        "format": FORMAT,
        "format_version": 1,
        "kind": "model",
        "arch": arch,
        "classes": list(classes),
        "num_classes": len(classes),
        "preprocess": spec.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "metrics": metrics or {},
        "epoch": epoch,
        "config": config or {},
        "versions": versions(),
        "created": utc_timestamp(),
    }
    record.update(tasks.for_outputs(targets).record_fields(classes, targets))
    return record


def targets_of(record):
    """What a record's task records of its outputs (a regression model's RegressionTargets), None for a
    classifier."""
    return tasks.for_record(record).targets_of(record)


def save_checkpoint(path, record):
    """Serialise in memory, then write atomically: a crash never leaves half a checkpoint."""
    buffer = io.BytesIO()
    torch.save(record, buffer)
    write_bytes(path, buffer.getvalue())


def load_checkpoint(path, kinds=KINDS):
    """Load and validate one of our checkpoints; a clear EdgeError for anything else."""
    path = str(path)
    if not os.path.isfile(path):
        raise EdgeError("checkpoint {} not found".format(path))
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses anything that would run code (pickled classes, functions).
        if refused_code(exc) is None:
            raise EdgeError("{} is not a PyTorch checkpoint: it is damaged or another kind of file".format(path))
        raise EdgeError(refused_for_safety(path, exc, "only edge-toolkit checkpoints are loaded here; for a model "
                                           "from elsewhere save a plain state dict (torch.save(model.state_dict(), "
                                           "PATH)) and give it to edge-export with --arch and --classes"))
    except Exception as exc:  # foreign bytes fail in many ways (KeyError, EOFError, zip errors...)
        raise EdgeError("{} is not a PyTorch checkpoint ({})".format(path, library_reason(exc)))
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise EdgeError("{} is not an edge-toolkit model checkpoint (for a plain torchvision state dict "
                        "use edge-export with --arch and --classes)".format(path))
    if record.get("format_version", 0) > FORMAT_VERSION:
        raise EdgeError("{} was written by a newer edge-toolkit (format {}); upgrade".format(
            path, record.get("format_version")))
    if record.get("kind") not in kinds:
        raise EdgeError("{} is a {!r} checkpoint, expected {}".format(path, record.get("kind"), " or ".join(kinds)))
    problems = []
    if record.get("arch") not in ARCHS:
        problems.append("unknown arch {!r}".format(record.get("arch")))
    classes = record.get("classes")
    if not isinstance(classes, list) or not classes or len(classes) != record.get("num_classes"):
        problems.append("classes missing or inconsistent with num_classes")
    if not isinstance(record.get("state_dict"), dict):
        problems.append("no state_dict")
    task = tasks.for_record(record)
    if task is None:
        problems.append("unknown task {!r}".format(record.get("task")))
    else:
        problems += task.record_problems(record)
    if problems:
        raise EdgeError("{} is damaged: {}".format(path, "; ".join(problems)))
    PreprocessSpec.from_dict(record.get("preprocess"))
    refuse_non_finite(path, tensor_arrays(record["state_dict"]))  # a diverged run's NaN: every runtime refuses it
    return record


def tensor_arrays(state):
    """(name, numpy array) of a state dict's floating-point tensors, for edge.bundle.finite (no copy on the CPU)."""
    return [(name, value.detach().cpu().float().numpy())  # float32 as it is; half and bfloat16 widened
            for name, value in state.items() if torch.is_tensor(value) and value.is_floating_point()]


def model_from_record(record):
    """Rebuild the network from a checkpoint record (eval mode, CPU)."""
    model = build_resnet(record["arch"], record["num_classes"])
    try:
        model.load_state_dict(record["state_dict"], strict=True)
    except RuntimeError as exc:
        raise EdgeError("checkpoint weights do not fit {} with {} classes: {}".format(
            record["arch"], record["num_classes"], first_line(exc)))
    return model.eval()


def spec_from_record(record):
    return PreprocessSpec.from_dict(record["preprocess"])
