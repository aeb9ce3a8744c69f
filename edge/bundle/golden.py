"""The golden set: a few real inputs and the desktop's reference outputs, carried in every bundle.

edge-export writes it; edge-doctor reads it on the device (numpy only, no torch) and runs every
runtime it can against it. `golden.npz` holds:

    frames     uint8 N x H x W x 3: the images resized and cropped by the bundle's spec (BGR), what
               a fused model takes (its TensorRT 8.2 engine: the same, widened to float32 by its runner)
    reference  float32 N x outputs: PyTorch's outputs for them (ONNX Runtime fp32's when the bundle
               was made from an ONNX file: the manifest entry says which)

The float inputs the unfused model saw are edge.bundle.preprocess.normalize_batch(frames, spec): plain float32
arithmetic, the same bits on any machine. Their sha256 is in the manifest entry, so a device
proves its own preprocessing matches the desktop's before anything is compared, and the file
stays a few MB where float inputs at 224 px would be 19.
"""

import hashlib
import io
import os
import zipfile

import numpy as np

from edge.util.atomic import write_bytes
from edge.errors import EdgeError
from edge.bundle.preprocess import finish_input, normalize_batch
from edge.bundle.schema import INPUT_PIXELS, INPUT_UINT8

FILE = "golden.npz"
DEFAULT_COUNT = 32


def inputs_sha256(inputs):
    """sha256 of a float32 C-ordered input batch, as the manifest records it."""
    return hashlib.sha256(np.ascontiguousarray(inputs, dtype=np.float32).tobytes()).hexdigest()


def frames_as(frames, spec, input_format):
    """Resized uint8 BGR `frames` (N,H,W,3) as a model taking `input_format` takes them: normalised float32 NCHW
    (INPUT_FLOAT), the frames (INPUT_UINT8), or the frames widened to float32, 0..255 (INPUT_PIXELS)."""
    if input_format == INPUT_PIXELS:
        return np.asarray(frames, dtype=np.float32)
    return finish_input(frames, spec, fused=input_format == INPUT_UINT8)


class GoldenSet(object):
    """frames (uint8 NHWC BGR at the spec size) and the reference outputs for them."""

    def __init__(self, frames, reference=None, reference_name="pytorch", source="images"):
        self.frames = np.ascontiguousarray(frames, dtype=np.uint8)
        self.reference = None if reference is None else np.asarray(reference, dtype=np.float32)
        self.reference_name = reference_name   # "pytorch" | "onnxruntime-fp32"
        self.source = source                   # "images" | "random"

    def __len__(self):
        return int(self.frames.shape[0])

    def inputs(self, spec):
        """The float32 NCHW tensors the model saw."""
        return normalize_batch(self.frames, spec)

    def model_inputs(self, bundle):
        """What the bundle's runners take: the frames for a fused bundle, else the float inputs."""
        return self.inputs_as(bundle.spec, bundle.input_format)

    def inputs_as(self, spec, input_format):
        """What a model file taking `input_format` (edge.bundle.schema) takes for these frames."""
        return frames_as(self.frames, spec, input_format)

    def save(self, bundle_dir, spec):
        """Write golden.npz atomically; returns the manifest entry's extra keys."""
        if self.reference is None or len(self.reference) != len(self):
            raise ValueError("a golden set needs one reference output per frame")
        buffer = io.BytesIO()
        np.savez_compressed(buffer, frames=self.frames, reference=self.reference)
        write_bytes(os.path.join(str(bundle_dir), FILE), buffer.getvalue())
        return {"count": len(self), "reference": self.reference_name, "source": self.source,
                "frames_shape": list(self.frames.shape), "reference_shape": list(self.reference.shape),
                "inputs_sha256": inputs_sha256(self.inputs(spec))}

    @classmethod
    def load(cls, bundle):
        """(GoldenSet, manifest entry) of a bundle; EdgeError when it has none or it is damaged."""
        entry = bundle.artifact("golden")
        if entry is None:
            raise EdgeError("bundle {} has no golden set (an older edge-export made it): re-export it to check "
                            "this machine against the desktop's outputs".format(bundle.path))
        path = bundle.check(entry)
        try:
            with np.load(path, allow_pickle=False) as data:
                golden = cls(data["frames"], data["reference"], entry.get("reference", "pytorch"),
                             entry.get("source", "images"))
        except (IOError, OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise EdgeError("{} cannot be read ({}); re-export the bundle".format(path, exc))
        problem = golden.mismatch(bundle, entry)
        if problem:
            raise EdgeError("{} {}: not what the bundle's model takes and gives; re-export the bundle".format(
                path, problem))
        return golden, entry

    def mismatch(self, bundle, entry):
        """What is wrong with these arrays for `bundle` and against what its manifest `entry` recorded, or None:
        frames N x H x W x 3 at the preprocess size, one reference row of one output per class for each."""
        height, width = bundle.spec.size
        frames, reference = tuple(self.frames.shape), tuple(self.reference.shape)
        if frames[1:] != (height, width, 3):
            return "holds frames {}, the model takes {}x{}x3 (input.preprocess.size)".format(frames, height, width)
        if reference != (len(self), len(bundle.classes)):
            return "holds outputs {} for {} frames, the bundle names {} outputs (model.classes)".format(
                reference, len(self), len(bundle.classes))
        recorded = (entry.get("count"), entry.get("frames_shape"), entry.get("reference_shape"))
        if recorded != (len(self), list(frames), list(reference)):
            return "holds frames {} and outputs {}, the manifest records {} frames {} and outputs {}".format(
                frames, reference, *recorded)
        if not np.isfinite(self.reference).all():
            return "holds reference outputs that are not finite"
        return None
