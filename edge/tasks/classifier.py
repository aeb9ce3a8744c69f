"""Images in, top-k labels out, through a runner, with the bundle's preprocessing and stage timings."""

from edge.tasks.postprocess import result_fields, softmax, top_k
from edge.bundle.preprocess import preprocess
from edge.tasks.timed_batch import run_timed
from edge.tasks.tta import DihedralViews


class Classifier(object):
    """Wraps an active runner. classify(images) -> (results, timings in ms).

    views: an edge.tasks.tta.DihedralViews (--tta); each image's views go through the runner in the same
    batch and their probabilities are averaged. Default: none, the image alone.
    """

    def __init__(self, bundle, runner, k=5, views=None):
        self.bundle = bundle
        self.runner = runner
        self.classes = bundle.classes
        self.spec = bundle.spec
        self.k = k
        self.fused = bool(bundle.fused_preprocess)
        self.views = views or DihedralViews.for_bundle(bundle)

    def prepare(self, image):
        """What the model's input takes for one BGR image: CHW float32, or HWC uint8 when fused."""
        return preprocess(image, self.spec, self.fused)

    def top_lists(self, probabilities, k=None):
        """Top-k lists ({label, index, confidence}, best first), one per row of probabilities."""
        return [top_k(row, self.classes, k or self.k) for row in probabilities]

    def probabilities(self, batch):
        """Class probabilities (N x classes) of a prepared batch, averaged over the views: one runner call."""
        return self.views.mean_probabilities(self.runner.infer(self.views.expand(batch)))

    def classify(self, images):
        return run_timed(images, self.spec, self.fused, self.views, self.runner,
                         lambda outputs: self.top_lists(self.views.mean_probabilities(outputs)))

    def postprocess(self, logits, images=None, k=None):
        """Top-k lists, one per row of plain logits, one row an image (no views; `images` is unused: labels do not
        depend on the image size); k: default the classifier's."""
        return self.top_lists(softmax(logits), k)

    def image_fields(self, output_row, image_hw=None, k=None):
        """The result fields of one image from its row of plain logits (`image_hw` is a regressor's: unused)."""
        return result_fields(self.postprocess(output_row[None], k=k)[0])

    def results(self, images):
        """(result fields per image in the vocabulary of edge.tasks.postprocess, timings in ms)."""
        tops, timings = self.classify(images)
        return [result_fields(top) for top in tops], timings
