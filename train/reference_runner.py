"""PyTorch runner: the checkpoint the bundle came from, as the desktop reference.

The bundle records the checkpoint's path and sha256 (model.source); `checkpoint=` overrides
the path. The file must still hash to what export saw, so the reference is the exact weights.
edge/ finds this runner through the "edge_toolkit.runners" entry point (edge.runners.plugins):
it lives here, with the model definitions, so that edge/ never imports the training package.
"""

import os
import time

import numpy as np

from edge.util.atomic import sha256_file
from edge.errors import EdgeError
from edge.util.lazy import require
from edge.bundle.preprocess import normalize_batch
from edge.runners.base import Runner


def checkpoint_path(bundle, override=None):
    source = bundle.manifest["model"].get("source") or {}
    path = override or source.get("path")
    if not path:
        raise EdgeError("bundle {} does not record its PyTorch checkpoint; pass --checkpoint model.pt".format(
            bundle.path))
    if not os.path.isfile(path):
        raise EdgeError("the PyTorch checkpoint {} is not here (PyTorch runs on the desktop); "
                        "pass --checkpoint PATH or choose another --runtime".format(path))
    expected = source.get("sha256")
    if expected and override is None and sha256_file(path) != expected:
        raise EdgeError("{} changed since the bundle was exported (sha256 differs); re-export, or pass "
                        "--checkpoint to use it anyway".format(path))
    return path


class PyTorchRunner(Runner):
    name = "pytorch"

    def __init__(self, bundle, checkpoint=None, device="cpu", threads=None):
        super(PyTorchRunner, self).__init__()
        self.bundle = bundle
        self.checkpoint = checkpoint
        self.device_name = device
        self.threads = threads
        self.model = None
        self.model_path = checkpoint_path(bundle, checkpoint)   # the reason, before any work, when it is not here

    def _activate_impl(self):
        torch = require("torch", "the PyTorch runner")
        from train.checkpoint import load_checkpoint, model_from_record

        record = load_checkpoint(self.model_path)
        if list(record["classes"]) != self.bundle.classes:
            raise EdgeError("the checkpoint's classes differ from the bundle's; it is not this bundle's model")
        if self.threads:
            torch.set_num_threads(int(self.threads))
        self.device = torch.device(self.device_name)
        self.model = model_from_record(record).to(self.device)
        self.torch = torch

    def _infer_impl(self, batch):
        torch = self.torch
        started = time.perf_counter()
        if self.bundle.fused_preprocess:   # callers feed a fused bundle uint8 frames; the checkpoint takes floats
            batch = normalize_batch(batch, self.bundle.spec)
        with torch.no_grad():
            tensor = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
            copied = time.perf_counter()
            logits = self.model(tensor)
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            computed = time.perf_counter()
            out = logits.float().cpu().numpy()
        done = time.perf_counter()
        self.timings = {"h2d": (copied - started) * 1000.0, "compute": (computed - copied) * 1000.0,
                        "d2h": (done - computed) * 1000.0}
        return out

    def gpu_memory_mb(self):
        if self.model is None or self.device.type != "cuda":
            return None
        return self.torch.cuda.max_memory_allocated(self.device) / 2.0 ** 20

    def _deactivate_impl(self):
        self.model = None

    def describe(self):
        return "pytorch fp32 ({})".format(self.device_name)
