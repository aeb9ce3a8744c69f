"""Images in, top-k labels out, through a runner, with the bundle's preprocessing and stage timings."""

import time

from edge.postprocess import softmax, top_k
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

    def results(self, logits, k=None):
        """Top-k lists ({label, index, confidence}, best first), one per row of logits; k: default the classifier's."""
        return [top_k(row, self.classes, k or self.k) for row in softmax(logits)]

    def classify(self, images):
        started = time.perf_counter()
        batch = preprocess_batch(images, self.spec, self.fused)
        prepared = time.perf_counter()
        logits = self.runner.infer(batch)
        inferred = time.perf_counter()
        results = self.results(logits)
        done = time.perf_counter()
        timings = {"preprocess": (prepared - started) * 1000.0, "inference": (inferred - prepared) * 1000.0,
                   "postprocess": (done - inferred) * 1000.0}
        return results, timings
