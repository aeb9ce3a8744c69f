"""Images in, points out in pixels of each image, through a runner, with the bundle's preprocessing.

The regression counterpart of edge.classifier.Classifier, with the same shape: prepare(image),
postprocess(outputs, images), results(images) -> (result fields, stage timings in ms). A model's
outputs are points in the model input, normalised (edge.regression); each is mapped back through
the preprocessing spec to pixels of the image it came from, whatever that image's size.
"""

import time

from edge.postprocess import regression_fields
from edge.preprocess import preprocess, preprocess_batch
from edge.regression import to_image_pixels


class Regressor(object):
    """Wraps an active runner of a regression bundle. regress(images) -> (pixel rows, timings in ms)."""

    def __init__(self, bundle, runner):
        self.bundle = bundle
        self.runner = runner
        self.targets = bundle.targets
        self.classes = bundle.classes       # the output names: the targets
        self.spec = bundle.spec
        self.fused = bool(bundle.fused_preprocess)

    def prepare(self, image):
        """What the model's input takes for one BGR image: CHW float32, or HWC uint8 when fused."""
        return preprocess(image, self.spec, self.fused)

    def postprocess(self, outputs, images):
        """Each row of outputs in pixels of its image (a float64 array per image, output order)."""
        return [to_image_pixels(row, image.shape[:2], self.spec) for row, image in zip(outputs, images)]

    def regress(self, images):
        started = time.perf_counter()
        batch = preprocess_batch(images, self.spec, self.fused)
        prepared = time.perf_counter()
        outputs = self.runner.infer(batch)
        inferred = time.perf_counter()
        points = self.postprocess(outputs, images)
        done = time.perf_counter()
        timings = {"preprocess": (prepared - started) * 1000.0, "inference": (inferred - prepared) * 1000.0,
                   "postprocess": (done - inferred) * 1000.0}
        return points, timings

    def results(self, images):
        """(result fields per image in the vocabulary of edge.postprocess, timings in ms)."""
        points, timings = self.regress(images)
        return [regression_fields(self.targets.values(row), image.shape[:2])
                for row, image in zip(points, images)], timings
