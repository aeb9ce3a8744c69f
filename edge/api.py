"""The bundle side of the Python API: a loaded bundle, its runners, typed predictions.

    import edge
    bundle = edge.load_bundle("bundle")
    with bundle.runner() as model:                     # runtime="auto", precision="auto", tta="none"
        result = model.predict("photo.jpg")            # or a BGR uint8 HxWx3 array, as OpenCV gives
        result.prediction, result.confidence, result.top[0].label
        # a regression bundle's result is a Points: result.values["x"], result.values["y"] (pixels of the image)

The runner is the one edge-predict uses (edge.runners.select.make_runner, same options), and the
images go through the same result model (edge.tasks: the bundle's task), so a notebook sees the
numbers the commands print; each result is what that task's api_result makes of them (a classifier's
Prediction, a regression bundle's Points: edge.tasks.postprocess).
Leaving the `with` block deactivates the runner and frees what it holds (sessions, engines, GPU memory).
"""

import os

from edge.bundle.bundle import Bundle
from edge.errors import EdgeError
# The result types' home is edge.tasks.postprocess; notebooks written against 0.1 import them from here
# (kept until 0.2, as the old flags are).
from edge.tasks.postprocess import Label, Points, Prediction  # noqa: F401


class LoadedBundle(Bundle):
    """A bundle folder (edge.bundle.bundle.Bundle: manifest, classes, spec, artifacts) that makes runners."""

    def runner(self, runtime="auto", precision="auto", threads=None, checkpoint=None, build_engine=False,
               top_k=5, log=None, tta="none"):
        """A BundleRunner: use it in a `with` block. The options are edge-predict's runner flags and --tta."""
        return BundleRunner(self, runtime, precision, threads=threads, checkpoint=checkpoint,
                            build_engine=build_engine, top_k=top_k, log=log, tta=tta)

    def __repr__(self):
        return "LoadedBundle({!r}, arch={}, classes={})".format(self.path, self.arch, len(self.classes))


class BundleRunner(object):
    """predict(image) and predict_batch(images) through one runner, active inside a `with` block: a
    Prediction per image for a classifier, Points for a regression bundle.

    The runtime is chosen when this object is made (errors in the options raise then); it is
    activated on entering the block and deactivated on leaving it, or by close().
    """

    def __init__(self, bundle, runtime="auto", precision="auto", threads=None, checkpoint=None,
                 build_engine=False, top_k=5, log=None, tta="none"):
        from edge.options.ranges import check
        from edge.tasks.registry import task_for
        from edge.runners.select import make_runner
        from edge.tasks.tta import DihedralViews

        top_k = check("top_k", top_k, where="top_k")
        threads = None if threads is None else check("threads", threads, where="threads")
        views = DihedralViews.for_bundle(bundle, tta)
        self.runner, self.why = make_runner(bundle, runtime, precision, threads=threads, checkpoint=checkpoint,
                                            build_engine=build_engine, log=log)
        self.task = task_for(bundle)
        self.model = self.task.model(bundle, self.runner, k=top_k, views=views)
        self.timings = {}   # the last call's stage split in ms: preprocess, inference, postprocess

    @property
    def is_active(self):
        return self.runner.is_active

    def describe(self):
        """The runtime and precision that run, and why they were chosen (and the --tta views, if any)."""
        views = self.model.views
        return "{} ({}){}".format(self.runner.describe(), self.why,
                                  "; " + views.describe() if views.count > 1 else "")

    def open(self):
        self.runner.activate()
        return self

    def close(self):
        self.runner.deactivate()

    def __enter__(self):
        return self.open()

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def predict(self, image):
        """A Prediction (regression: Points) for one image: a BGR uint8 HxWx3 array, or an image file's path."""
        return self.predict_batch([image])[0]

    def predict_batch(self, images):
        """Predictions for a list of images (arrays or paths), in one inference call where the model allows."""
        frames = [as_frame(image) for image in images]
        if not frames:
            return []
        results, self.timings = self.model.results(frames)
        return [self.task.api_result(fields) for fields in results]


def as_frame(image):
    """A BGR uint8 HxWx3 array from an array or a path; one clear EdgeError for anything else."""
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        from edge.bundle.preprocess import read_image

        path = os.fsdecode(image)
        if not os.path.isfile(path):
            raise EdgeError("{} not found".format(path))
        frame = read_image(path)
        if frame is None:
            raise EdgeError("{} cannot be decoded as an image".format(path))
        return frame
    shape, dtype = getattr(image, "shape", None), getattr(image, "dtype", None)
    if shape is None or len(shape) != 3 or shape[2] != 3 or str(dtype) != "uint8":
        raise EdgeError("expected a BGR uint8 image of shape HxWx3 (as cv2.imread gives) or a file path, got "
                        "{}".format("{} {}".format(dtype, shape) if shape is not None else type(image).__name__))
    return image
