"""Images in, points out in pixels of each image, through a runner, with the bundle's preprocessing.

The regression counterpart of edge.tasks.classifier.Classifier, with the same shape: prepare(image),
postprocess(outputs, images), results(images) -> (result fields, stage timings in ms). A model's
outputs are points in the model input, normalised (edge.tasks.points); each is mapped back through
the preprocessing spec to pixels of the image it came from, whatever that image's size.
"""

import numpy as np

from edge.tasks.postprocess import regression_fields
from edge.bundle.preprocess import preprocess
from edge.tasks.points import to_image_pixels
from edge.tasks.timed_batch import run_timed
from edge.tasks.tta import DihedralViews

# The model's units span [-1, 1] across the input; shifted by 1 they are continuous positions on an
# input 2 units wide and high, the frame edge.tasks.tta's point transforms work in (a mirror is a sign change).
UNIT_FRAME = (2.0, 2.0)


class Regressor(object):
    """Wraps an active runner of a regression bundle. regress(images) -> (pixel rows, timings in ms).

    views: an edge.tasks.tta.DihedralViews (--tta); each image's views go through the runner in the same
    batch, each view's points are brought back through its inverse transform, then averaged.
    """

    def __init__(self, bundle, runner, views=None):
        self.bundle = bundle
        self.runner = runner
        self.targets = bundle.targets
        self.classes = bundle.classes       # the output names: the targets
        self.spec = bundle.spec
        self.fused = bool(bundle.fused_preprocess)
        self.views = views or DihedralViews.for_bundle(bundle)

    def prepare(self, image):
        """What the model's input takes for one BGR image: CHW float32, or HWC uint8 when fused."""
        return preprocess(image, self.spec, self.fused)

    def postprocess(self, outputs, images):
        """Each row of outputs in pixels of its image (a float64 array per image, output order)."""
        return [to_image_pixels(row, image.shape[:2], self.spec) for row, image in zip(outputs, images)]

    def mean_over_views(self, outputs):
        return mean_points_over_views(outputs, self.views)

    def regress(self, images):
        return run_timed(images, self.spec, self.fused, self.views, self.runner,
                         lambda outputs: self.postprocess(self.mean_over_views(outputs), images))

    def results(self, images):
        """(result fields per image in the vocabulary of edge.tasks.postprocess, timings in ms)."""
        points, timings = self.regress(images)
        return [regression_fields(self.targets.values(row), image.shape[:2])
                for row, image in zip(points, images)], timings

    def image_fields(self, output_row, image_hw, k=None):
        """The result fields of one image of (height, width) `image_hw` from its row of plain model outputs
        (`k` is a classifier's: unused)."""
        return regression_fields(self.targets.values(to_image_pixels(output_row, image_hw, self.spec)), image_hw)


def mean_points_over_views(outputs, views):
    """Outputs of an expanded batch (N x views rows, model units) -> one row an image, each view's points
    brought back through its inverse transform and averaged on the un-transformed input."""
    if views.count == 1:
        return outputs
    points = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1, 2) + 1.0
    mean = views.mean_points(points, size=UNIT_FRAME) - 1.0
    return mean.reshape(len(mean), -1)
