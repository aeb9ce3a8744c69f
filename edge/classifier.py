"""Images in, top-k labels out, through a runner, with the bundle's preprocessing and stage timings."""

import time

from edge.postprocess import result_fields, softmax, top_k
from edge.preprocess import preprocess, preprocess_batch


class Classifier(object):
    """Wraps an active runner. classify(images) -> (results, timings in ms)."""

    def __init__(self, bundle, runner, k=5):
        self.bundle = bundle
        self.runner = runner
        self.classes = bundle.classes
        self.spec = bundle.spec
        self.k = k
        self.fused = bool(bundle.fused_preprocess)

    def prepare(self, image):
        """What the model's input takes for one BGR image: CHW float32, or HWC uint8 when fused."""
        return preprocess(image, self.spec, self.fused)

    def classify(self, images):
        started = time.perf_counter()
        batch = preprocess_batch(images, self.spec, self.fused)
        prepared = time.perf_counter()
        logits = self.runner.infer(batch)
        inferred = time.perf_counter()
        results = self.postprocess(logits, images)
        done = time.perf_counter()
        timings = {"preprocess": (prepared - started) * 1000.0, "inference": (inferred - prepared) * 1000.0,
                   "postprocess": (done - inferred) * 1000.0}
        return results, timings

    def postprocess(self, logits, images=None):
        """Top-k lists, one per row of logits (`images` is unused: labels do not depend on the image size)."""
        return [top_k(row, self.classes, self.k) for row in softmax(logits)]

    def results(self, images):
        """(result fields per image in the vocabulary of edge.postprocess, timings in ms)."""
        tops, timings = self.classify(images)
        return [result_fields(top) for top in tops], timings
