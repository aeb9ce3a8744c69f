"""One batch of images through a model's three stages, timed: preprocessing (expanded to the TTA
views), the runner, and the output kind's own postprocessing. The stage names are the ones
edge-camera, edge-bench and edge-serve report."""

import time

from edge.bundle.preprocess import preprocess_batch


def run_timed(images, spec, fused, views, runner, finish):
    """(finish(outputs), timings in ms by stage) for a list of BGR uint8 images."""
    started = time.perf_counter()
    batch = views.expand(preprocess_batch(images, spec, fused))
    prepared = time.perf_counter()
    outputs = runner.infer(batch)
    inferred = time.perf_counter()
    results = finish(outputs)
    done = time.perf_counter()
    return results, {"preprocess": (prepared - started) * 1000.0, "inference": (inferred - prepared) * 1000.0,
                     "postprocess": (done - inferred) * 1000.0}
