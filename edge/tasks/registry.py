"""What turns a runner's outputs into results, by the bundle's output kind.

    logits       edge.tasks.classifier.Classifier: probabilities and top-k labels
    regression   edge.tasks.regressor.Regressor: points in pixels of each input image

Both have prepare(image), postprocess(outputs, images) and results(images) -> (result fields in
the vocabulary of edge.tasks.postprocess, stage timings); the daemon, edge-predict, edge-bench and the
Python API call `model_for` and need not know which.
"""

from edge.bundle.bundle import REGRESSION


def model_for(bundle, runner, k=5, views=None):
    """The Classifier or Regressor for `bundle` over an active `runner` (k: labels per classifier result;
    views: edge.tasks.tta.DihedralViews, --tta, default none)."""
    if bundle.output_kind == REGRESSION:
        from edge.tasks.regressor import Regressor
        return Regressor(bundle, runner, views=views)
    from edge.tasks.classifier import Classifier
    return Classifier(bundle, runner, k=k, views=views)
