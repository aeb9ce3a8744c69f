"""The 8 symmetries of the square (the dihedral group D4), and test-time augmentation over them.

The one home of the transforms: training's augmentation (train/augment.py), inference
(edge-predict, edge-camera, edge-bench, the Python API) and training's final evaluation all use
`dihedral`, so a view means the same thing everywhere.

Transform k (0..7): k % 4 quarter turns as numpy's rot90 makes them (counter-clockwise as the image
is seen), then, for k >= 4, a left-right mirror. k = 0 is the image itself, k = 4 its mirror.

Test-time augmentation (--tta):
    none   1 view: the image (default)
    hflip  2 views: the image and its mirror (k = 0, 4)
    d4     8 views: every k, for top-down imagery (satellite, microscope, conveyor)
The views are made from the preprocessed batch (float NCHW, or a fused bundle's uint8 NHWC frames),
so every runtime gets them the same way, and go to the runner as ONE batch of images x views
inputs; a runner whose model takes fewer at a time runs that batch in chunks (the TensorRT runner
splits a batch above the engine's maximum, a static-batch ONNX model runs one input at a time).
Classification averages the views' probabilities (softmax of each view, then the mean), not their
logits. It costs the compute of that many images: 8x for d4.

A quarter turn swaps height and width, so `d4` needs a square model input; on a non-square one it
is refused with one line (use hflip). hflip and none apply to any shape.

Points (regression targets) are (x, y) in continuous pixel coordinates: the image spans 0..width
and 0..height, and the pixel in column c, row r covers [c, c + 1) x [r, r + 1), so its centre is
(c + 0.5, r + 0.5). A mirror maps x to width - x. `dihedral_points` moves points of an image onto
its k-th transform, `undo_dihedral_points` brings points found on the k-th transform back, and
`mean_points` averages the views' predictions after undoing each view's transform. Normalised
coordinates (0..1 across each side) work with size (1, 1).
"""

import numpy as np

from edge.errors import EdgeError
from edge.tasks.postprocess import softmax

MODES = ("none", "hflip", "d4")
VIEWS = {"none": (0,), "hflip": (0, 4), "d4": (0, 1, 2, 3, 4, 5, 6, 7)}
TRANSFORMS = VIEWS["d4"]
MIRROR = 4
# The (row, column) axes of what the views are made from.
IMAGE_AXES = (0, 1)      # one HxWxC image (training augmentation)
FLOAT_AXES = (2, 3)      # a float32 NCHW batch
FUSED_AXES = (1, 2)      # a fused bundle's uint8 NHWC batch


def _checked(k):
    if k not in TRANSFORMS or isinstance(k, bool):
        raise ValueError("a dihedral transform is 0..7, got {!r}".format(k))
    return int(k)


def dihedral(array, k, axes=IMAGE_AXES):
    """The k-th (0..7) of the 8 symmetries of the square, on the (row, column) `axes` of `array`."""
    k = _checked(k)
    rows, columns = axes
    out = np.rot90(array, k % 4, axes=(rows, columns))
    if k >= MIRROR:
        out = np.flip(out, axis=columns)
    return np.ascontiguousarray(out)


def inverse(k):
    """The transform that undoes transform k: the opposite quarter turns; a mirrored one is its own inverse."""
    k = _checked(k)
    return (4 - k) % 4 if k < MIRROR else k


def transformed_size(size, k):
    """(height, width) of the k-th transform of an image of `size` (height, width)."""
    height, width = size
    return (width, height) if _checked(k) % 2 else (height, width)


def dihedral_points(points, k, size):
    """Points (..., 2) as (x, y) on an image of `size` (height, width) -> where dihedral(image, k) has them."""
    k = _checked(k)
    points = np.asarray(points, dtype=np.float64)
    if points.shape[-1:] != (2,):
        raise ValueError("points must be (..., 2) as (x, y), got shape {}".format(points.shape))
    x, y = points[..., 0], points[..., 1]
    height, width = float(size[0]), float(size[1])
    for _ in range(k % 4):
        # rot90: the column at x becomes the row at width - x, the row at y the column at y.
        x, y = y, width - x
        height, width = width, height
    if k >= MIRROR:
        x = width - x
    return np.stack([x, y], axis=-1)


def undo_dihedral_points(points, k, size):
    """Points (..., 2) found on dihedral(image, k) -> the same points on the image of `size` (height, width)."""
    return dihedral_points(points, inverse(k), transformed_size(size, k))


def mean_points(points, views, size):
    """Predictions (N, V, ..., 2) made on the V `views` of N images of `size` -> (N, ..., 2) on the images:
    each view's points brought back through its inverse, then averaged."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim < 3 or points.shape[1] != len(views):
        raise ValueError("expected points of shape (images, {} views, ..., 2), got {}".format(len(views),
                                                                                           points.shape))
    return np.mean([undo_dihedral_points(points[:, index], k, size) for index, k in enumerate(views)], axis=0)


def check_mode(mode, size=None):
    """`mode` when it is one of MODES and fits a model input of `size` (height, width); else one EdgeError line."""
    if mode not in MODES:
        raise EdgeError("--tta must be one of {}, got {!r}".format(", ".join(MODES), mode))
    if mode == "d4" and size is not None and size[0] != size[1]:
        raise EdgeError("--tta d4 needs a square model input: a quarter turn of this model's {}x{} input (height x "
                        "width) changes its shape; use --tta hflip".format(size[0], size[1]))
    return mode


class DihedralViews(object):
    """The views one --tta mode makes of a model's input batch, and the average back over them.

        views = DihedralViews.for_bundle(bundle, "d4")
        logits = runner.infer(views.expand(batch))       # N images -> one batch of N x 8 inputs
        probabilities = views.mean_probabilities(logits)   # N x classes
    """

    def __init__(self, mode="none", size=None, fused=False):
        self.mode = check_mode(mode, size)
        self.views = VIEWS[mode]
        self.size = tuple(size) if size is not None else None
        self.axes = FUSED_AXES if fused else FLOAT_AXES

    @classmethod
    def for_bundle(cls, bundle, mode="none"):
        return cls(mode, bundle.spec.size, bool(bundle.fused_preprocess))

    @property
    def count(self):
        return len(self.views)

    def expand(self, batch):
        """N model inputs -> N x count inputs, image by image (image 0's views first)."""
        if self.count == 1:
            return batch
        stacked = np.stack([dihedral(batch, k, self.axes) for k in self.views], axis=1)
        return stacked.reshape((-1,) + stacked.shape[2:])

    def per_image(self, outputs):
        """Runner outputs for an expanded batch (N x count, ...) -> (N, count, ...)."""
        outputs = np.asarray(outputs)
        if outputs.shape[0] % self.count:
            raise ValueError("{} outputs are not a whole number of {}-view images".format(outputs.shape[0],
                                                                                       self.count))
        return outputs.reshape((-1, self.count) + outputs.shape[1:])

    def mean_probabilities(self, logits):
        """Logits of an expanded batch -> N x classes probabilities: each view's softmax, averaged."""
        return self.per_image(softmax(logits)).mean(axis=1)

    def mean_points(self, outputs, size=None):
        """Points (N x count, ..., 2) predicted on an expanded batch -> (N, ..., 2), averaged on the un-transformed
        inputs. size: the (height, width) the points are measured in: the model input (default), or (1, 1) for
        normalised coordinates. Bring the average to the camera frame's pixels after this, not before."""
        return mean_points(self.per_image(outputs), self.views, size or self.size)

    def label(self, runtime):
        """A runtime's description with the views named (the "runtime" of a camera result)."""
        return runtime if self.count == 1 else "{}, tta {}".format(runtime, self.mode)

    def describe(self, batch_limit=None):
        """One line for the log: the views, the cost, and how a runner with `batch_limit` runs them."""
        if self.count == 1:
            return "no test-time augmentation"
        text = "test-time augmentation {}: {} views of each image in one batch, probabilities averaged ({}x the " \
               "compute)".format(self.mode, self.count, self.count)
        if batch_limit and batch_limit < self.count:
            text += "; the model takes {} input{} a run, so the views run in chunks of {}".format(
                batch_limit, "" if batch_limit == 1 else "s", batch_limit)
        return text
