"""The one preprocessing spec and the one function that applies it.

Training evaluation, INT8 calibration, export verification and the on-device runtime all call
`preprocess(image, spec)` on an OpenCV BGR uint8 image, so a camera frame gets exactly the numbers
a validation image got. The spec travels with the model (checkpoint and bundle manifest) as JSON.
"""

import numpy as np

from edge.errors import EdgeError
from edge.util.lazy import require

RESIZE_MODES = ("center_crop", "stretch")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area")
COLOR_ORDERS = ("RGB", "BGR")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_SIZE = 224      # the default side of the model input, in pixels (training's --size too)


class PreprocessSpec(object):
    """How an image becomes the model's input tensor.

    size:          (height, width) of the model input.
    resize:        "center_crop": scale the shorter side to size / crop_pct, then crop the centre;
                   "stretch": resize straight to size (aspect ratio not kept).
    crop_pct:      fraction of the resized image kept by center_crop (timm's convention).
    mean, std:     per channel, in the model's colour order, on the 0..1 scale.
    color_order:   channel order the model expects ("RGB" for torchvision-style weights).
    interpolation: OpenCV interpolation for resizing.
    layout/dtype:  the tensor layout and element type ("NCHW", "float32").
    """

    FIELDS = ("size", "resize", "crop_pct", "mean", "std", "color_order", "interpolation",
              "layout", "dtype")

    def __init__(self, size=(INPUT_SIZE, INPUT_SIZE), resize="center_crop", crop_pct=0.875,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, color_order="RGB",
                 interpolation="bilinear", layout="NCHW", dtype="float32"):
        if isinstance(size, int):
            size = (size, size)
        self.size = tuple(int(v) for v in size)
        self.resize = resize
        self.crop_pct = float(crop_pct)
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self.color_order = color_order
        self.interpolation = interpolation
        self.layout = layout
        self.dtype = dtype
        self.validate()

    def validate(self):
        problems = []
        if len(self.size) != 2 or min(self.size) < 8:
            problems.append("size must be (height, width), each at least 8, got {}".format(self.size))
        if self.resize not in RESIZE_MODES:
            problems.append("resize must be one of {}, got {!r}".format(RESIZE_MODES, self.resize))
        if not 0.0 < self.crop_pct <= 1.0:
            problems.append("crop_pct must be in (0, 1], got {}".format(self.crop_pct))
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            problems.append("mean and std need 3 values each, std positive")
        if self.color_order not in COLOR_ORDERS:
            problems.append("color_order must be RGB or BGR, got {!r}".format(self.color_order))
        if self.interpolation not in INTERPOLATIONS:
            problems.append("interpolation must be one of {}, got {!r}".format(
                INTERPOLATIONS, self.interpolation))
        if self.layout != "NCHW" or self.dtype != "float32":
            problems.append("only NCHW float32 inputs are supported, got {} {}".format(
                self.layout, self.dtype))
        if problems:
            raise EdgeError("invalid preprocessing spec: " + "; ".join(problems))

    def to_dict(self):
        return {
            "size": list(self.size), "resize": self.resize, "crop_pct": self.crop_pct,
            "mean": list(self.mean), "std": list(self.std), "color_order": self.color_order,
            "interpolation": self.interpolation, "layout": self.layout, "dtype": self.dtype,
        }

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict):
            raise EdgeError("preprocessing spec must be a mapping, got {}".format(type(data).__name__))
        unknown = sorted(set(data) - set(cls.FIELDS))
        if unknown:
            raise EdgeError("preprocessing spec has unknown keys {}: written by a newer version?".format(
                unknown))
        return cls(**data)

    def resized_size(self):
        """(height, width) of the image after resizing, before cropping."""
        height, width = self.size
        if self.resize == "stretch":
            return height, width
        return int(round(height / self.crop_pct)), int(round(width / self.crop_pct))

    def __eq__(self, other):
        return isinstance(other, PreprocessSpec) and self.to_dict() == other.to_dict()

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return "PreprocessSpec({})".format(", ".join(
            "{}={!r}".format(key, value) for key, value in sorted(self.to_dict().items())))


def cv2_interpolation(name):
    cv2 = require("cv2", "image preprocessing")
    return {
        "nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR,
        "bicubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA,
    }[name]


def read_image(path):
    """Decode an image file as BGR uint8 HxWx3. Returns None when it cannot be decoded."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except (IOError, OSError, ValueError):
        return None
    return decode_image(data)


def decode_image(data, reduce=1):
    """Decode an encoded image (bytes or a uint8 array: a file's contents, a request body) as BGR
    uint8 HxWx3. Returns None when it cannot be decoded. reduce: 2, 4 or 8 decodes at that fraction
    of each side (OpenCV's IMREAD_REDUCED_COLOR_*: a JPEG is scaled inside libjpeg, never held whole)."""
    cv2 = require("cv2", "decoding images")
    data = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if data.size == 0:
        return None
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
             8: cv2.IMREAD_REDUCED_COLOR_8}[reduce]
    try:
        image = cv2.imdecode(data, flags)
    except cv2.error:  # a damaged header can make a decoder raise instead of returning None
        return None
    if image is None or image.ndim != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        return None
    return image


def resize_plan(image_hw, spec):
    """How resize_and_crop maps an image of (height, width) `image_hw` onto the model input.

    Returns (resized height, resized width, top, left): the image is resized to the first two, then
    the model input is the spec.size window at (top, left). The point mapping of regression models
    (edge.tasks.points) reads the same plan, so a point moves exactly as its pixels do.
    """
    height, width = spec.size
    src_h, src_w = int(image_hw[0]), int(image_hw[1])
    if spec.resize == "stretch":
        return height, width, 0, 0
    # center_crop: scale so the image covers the (size / crop_pct) box, then crop the centre.
    target_h, target_w = spec.resized_size()
    scale = max(float(target_h) / src_h, float(target_w) / src_w)
    new_h = max(height, int(round(src_h * scale)))
    new_w = max(width, int(round(src_w * scale)))
    return new_h, new_w, (new_h - height) // 2, (new_w - width) // 2


def resize_and_crop(image, spec):
    """Geometric part of the spec: BGR uint8 in, BGR uint8 of spec.size out."""
    cv2 = require("cv2", "image preprocessing")
    height, width = spec.size
    new_h, new_w, top, left = resize_plan(image.shape[:2], spec)
    if (new_h, new_w) != tuple(image.shape[:2]):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2_interpolation(spec.interpolation))
    return image[top:top + height, left:left + width]


def normalize(image, spec):
    """Photometric part: BGR uint8 HxWx3 of spec.size in, float32 CxHxW out (colour order, mean/std)."""
    return normalize_batch(image[None], spec)[0]


def normalize_batch(frames, spec):
    """`normalize` over a batch: BGR uint8 NxHxWx3 in, float32 NxCxHxW out.

    The same float32 arithmetic, (x - mean*255) / (std*255), as a fused graph does in-graph; written one
    channel at a time into the NCHW result (numpy is slow along a last axis of 3, and it saves the flip,
    the widened copy and the transpose's copy).
    """
    scale = np.asarray(spec.std, dtype=np.float32) * 255.0
    offset = np.asarray(spec.mean, dtype=np.float32) * 255.0
    sources = (2, 1, 0) if spec.color_order == "RGB" else (0, 1, 2)
    nchw = np.empty((frames.shape[0], 3) + frames.shape[1:3], dtype=np.float32)
    for channel, source in enumerate(sources):
        np.subtract(frames[..., source], offset[channel], out=nchw[:, channel], dtype=np.float32)
        nchw[:, channel] /= scale[channel]
    return nchw


def finish_input(resized, spec, fused=False):
    """The photometric half for a resized frame (HxWx3) or batch (NxHxWx3): float32 CxHxW (NxCxHxW), or
    the uint8 frames themselves when the model's graph normalises (a bundle exported with --fuse-preprocess)."""
    if fused:
        return np.ascontiguousarray(resized)
    return normalize_batch(resized, spec) if resized.ndim == 4 else normalize(resized, spec)


def _checked(image):
    if image is None or image.ndim != 3 or image.shape[2] != 3:
        raise EdgeError("expected a BGR image of shape HxWx3, got {}".format(
            None if image is None else image.shape))
    return image


def preprocess(image, spec, fused=False):
    """BGR uint8 HxWx3 (a file or a camera frame) -> the model input: float32 CxHxW, or for a fused
    graph (fused=True) uint8 HxWx3 at spec.size."""
    return finish_input(resize_and_crop(_checked(image), spec), spec, fused)


def preprocess_batch(images, spec, fused=False):
    """A list of BGR images -> the model's input batch: float32 NxCxHxW, or uint8 NxHxWx3 when fused.
    One copy of the resized crops (np.stack), normalised as a batch: a camera frame is copied once."""
    resized = np.stack([resize_and_crop(_checked(image), spec) for image in images])
    return resized if fused else normalize_batch(resized, spec)
