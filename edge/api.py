"""The bundle side of the Python API: a loaded bundle, its runners, typed predictions.

    import edge
    bundle = edge.load_bundle("bundle")
    with bundle.runner() as model:                     # runtime="auto", precision="auto", tta="none"
        result = model.predict("photo.jpg")            # or a BGR uint8 HxWx3 array, as OpenCV gives
        result.prediction, result.confidence, result.top[0].label
        # a regression bundle's result is a Points: result.values["x"], result.values["y"] (pixels of the image)

The runner is the one edge-predict uses (edge.runners.select.make_runner, same options), and the
images go through the same Classifier (a regression bundle's: Regressor), so a notebook sees the
numbers the commands print.
Leaving the `with` block deactivates the runner and frees what it holds (sessions, engines, GPU memory).
"""

import os
from collections import namedtuple

from edge.bundle.bundle import Bundle
from edge.errors import EdgeError
from edge.tasks.postprocess import result_fields


class Label(namedtuple("Label", ("label", "index", "confidence"))):
    """One entry of a prediction's top-k: class label, output index, probability (0..1)."""

    __slots__ = ()


class Prediction(namedtuple("Prediction", ("prediction", "confidence", "top"))):
    """What one image was seen as, in the result vocabulary of every output (edge.tasks.postprocess)."""

    __slots__ = ()

    @classmethod
    def from_top(cls, top):
        """From edge.tasks.postprocess.top_k's list of {label, index, confidence}, best first."""
        fields = result_fields(top)
        return cls(fields["prediction"], fields["confidence"], [Label(**item) for item in fields["top"]])

    def as_dict(self):
        """The JSON fields edge-predict --json and edge-camera write for an image."""
        return result_fields([dict(item._asdict()) for item in self.top])


class Points(namedtuple("Points", ("values", "width", "height"))):
    """What a regression model found in one image: values {target: pixels of that image}, output order,
    and the image's width and height (edge.tasks.postprocess's "values" and "image")."""

    __slots__ = ()

    @classmethod
    def from_fields(cls, fields):
        return cls(fields["values"], fields["image"]["width"], fields["image"]["height"])

    def as_dict(self):
        """The JSON fields edge-predict --json and edge-camera write for an image."""
        return {"values": dict(self.values), "image": {"width": self.width, "height": self.height}}


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
        from edge.tasks.registry import model_for
        from edge.runners.select import make_runner
        from edge.tasks.tta import DihedralViews

        top_k = check("top_k", top_k, where="top_k")
        threads = None if threads is None else check("threads", threads, where="threads")
        views = DihedralViews.for_bundle(bundle, tta)
        self.runner, self.why = make_runner(bundle, runtime, precision, threads=threads, checkpoint=checkpoint,
                                            build_engine=build_engine, log=log)
        self.model = model_for(bundle, self.runner, k=top_k, views=views)
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
        if "values" in results[0]:
            return [Points.from_fields(fields) for fields in results]
        return [Prediction.from_top(fields["top"]) for fields in results]


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
