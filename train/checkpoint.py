"""Self-describing checkpoints that load with `torch.load(..., weights_only=True)`.

Only tensors, numbers, strings, lists and dicts are stored: no pickled code, so a tampered or
foreign file is refused by the unpickler instead of executing anything.

model.pt ("kind": "model") holds what export and evaluation need:
    format, format_version, kind, arch, classes, num_classes, preprocess (PreprocessSpec dict),
    state_dict, metrics, epoch, config, versions, created
A training-state checkpoint ("kind": "train-state", last.pt / interrupted.pt) adds what --resume
needs: optimizer, scheduler, scaler, rng, history, best, epochs_without_improvement, phase.
"""

import io
import os
import pickle
import platform

import torch

from edge import __version__
from edge.atomic import write_bytes
from edge.bundle import utc_now
from edge.errors import EdgeError
from edge.preprocess import PreprocessSpec
from train.resnet import ARCHS, build_resnet

FORMAT = "edge-toolkit/model"
FORMAT_VERSION = 1
KINDS = ("model", "train-state")


def versions():
    import numpy

    return {"edge_toolkit": __version__, "torch": str(torch.__version__), "numpy": str(numpy.__version__),
            "python": platform.python_version()}


def unpickling_reason(exc):
    """The informative part of torch's long weights_only refusal."""
    text = str(exc)
    marker = "Unsupported global:"
    if marker in text:
        return text[text.index(marker):].split(" was not")[0]
    return text.splitlines()[0][:160] if text else type(exc).__name__


def model_record(model, arch, classes, spec, metrics=None, epoch=None, config=None):
    """The model.pt dictionary for `model` (weights copied to CPU)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
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
        "created": utc_now(),
    }


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
        raise EdgeError("{} contains objects that are not plain weights and was refused for safety "
                        "({}); only edge-toolkit checkpoints or plain state dicts are accepted".format(
                            path, unpickling_reason(exc)))
    except Exception as exc:  # foreign bytes fail in many ways (KeyError, EOFError, zip errors...)
        raise EdgeError("{} is not a PyTorch checkpoint ({}: {})".format(
            path, type(exc).__name__, (str(exc).splitlines() or [""])[0][:160]))
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
    if problems:
        raise EdgeError("{} is damaged: {}".format(path, "; ".join(problems)))
    PreprocessSpec.from_dict(record.get("preprocess"))
    return record


def model_from_record(record):
    """Rebuild the network from a checkpoint record (eval mode, CPU)."""
    model = build_resnet(record["arch"], record["num_classes"])
    try:
        model.load_state_dict(record["state_dict"], strict=True)
    except RuntimeError as exc:
        raise EdgeError("checkpoint weights do not fit {} with {} classes: {}".format(
            record["arch"], record["num_classes"], str(exc).splitlines()[0][:200]))
    return model.eval()


def spec_from_record(record):
    return PreprocessSpec.from_dict(record["preprocess"])
