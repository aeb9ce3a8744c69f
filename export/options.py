"""What an export does with a model: `ExportOptions`, plain values with edge-export's defaults.

    from export.options import ExportOptions
    from export.pipeline import export_bundle
    export_bundle("runs/x/model.pt", "bundle/", ExportOptions(int8=True, calib="data/val", engines=["fp16"]))

Every option is a keyword named like edge-export's flag (`--calib-size` is `calib_size`; `engines`
is `--engine`, flattened); the defaults below are the flags' defaults. `check(kind)` says what is
wrong with the values, as one EdgeError naming the flags, before anything is loaded or written;
`export_bundle` calls it.
"""

from edge.bundle.schema import INT8_FLAVORS, PRECISIONS
from edge.tasks.classification import INT8_MIN_AGREEMENT
from edge.tasks.regression import INT8_MAX_MAE_INCREASE_PX
from edge.errors import EdgeError
from edge.tensorrt.build import DEFAULT_WORKSPACE_MB
from export.onnx_export import DEFAULT_OPSET
from export.quantize import CALIB_METHODS

# The preprocessing options: PreprocessSpec fields that describe an input carrying no spec of its
# own (state dicts, TorchScript, ONNX); None = not given (the spec's default, or the ONNX file's size).
SPEC_FIELDS = ("size", "resize", "crop_pct", "mean", "std", "color_order", "interpolation")

DEFAULTS = {
    # the input: what a state dict, TorchScript or ONNX file does not say itself
    "arch": None,               # ResNet a state dict fits (resnet18 ... resnet152)
    "classes": None,            # class names in output order: a list, "a,b,c", or a labels.txt path
    "trust_pickle": False,      # allow a pickled nn.Module (loading it runs code from the file)
    "size": None, "resize": None, "crop_pct": None, "mean": None, "std": None, "color_order": None,
    "interpolation": None,      # SPEC_FIELDS: size is (height, width); mean/std three numbers, 0..1 scale
    # ONNX
    "opset": DEFAULT_OPSET,     # an ONNX input keeps its own
    "dynamic_batch": None,      # N: a dynamic batch axis taking 1..N images; None: static batch 1
    "fuse_preprocess": None,    # the graph takes uint8 NHWC BGR and normalises in-graph; None: yes, but an
                                # ONNX input (nothing to wrap) stays plain; False: plain (--no-fuse-preprocess)
    # verification
    "verify": None,             # image folder to compare PyTorch and ONNX Runtime on (default: hold-out/random)
    "verify_count": 32,
    "fp32_tolerance": 1e-4,     # max abs logit difference, scaled by max(1, max|logit|)
    "seed": 0,
    # INT8
    "int8": False,
    "int8_flavors": INT8_FLAVORS,
    "calib": None,              # calibration image folder: flat or class sub-folders
    "calib_size": 500,
    "calib_method": "entropy",  # CALIB_METHODS
    "holdout_fraction": 0.2,
    "int8_min_agreement": INT8_MIN_AGREEMENT,   # classifiers: least top-1 agreement with FP32
    "int8_max_mae_increase": INT8_MAX_MAE_INCREASE_PX,   # regression: most the MAE may grow, pixels
    # TensorRT engines, built here (needs TensorRT) after the checks passed
    "engines": (),              # precisions (PRECISIONS), in build order
    "workspace_mb": DEFAULT_WORKSPACE_MB,
    "strict": False,            # refuse instead of building FP16 where INT8 is not fast
    "timing_cache": None,       # TensorRT timing cache file to reuse
}


class ExportOptions(object):
    """The options of one export, every one a keyword with DEFAULTS' value when left out."""

    def __init__(self, **options):
        if "int8_flavours" in options:   # the old spelling, read until 0.2
            options.setdefault("int8_flavors", options.pop("int8_flavours"))
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise TypeError("unknown export option(s): {}".format(", ".join(unknown)))
        for name, default in DEFAULTS.items():
            setattr(self, name, options.get(name, default))
        self.int8_flavors = list(self.int8_flavors)
        self.engines = list(self.engines)

    def check_task(self, task):
        """One EdgeError for an INT8 bar that does not apply to the loaded model's `task` (edge.tasks: a
        classifier's top-1 agreement for a regression model, or the other way round)."""
        from edge.tasks.registry import TASKS

        for other in sorted(TASKS.values(), key=lambda each: each.kind):
            option = other.int8_bar_option
            if other is task or option not in DEFAULTS or getattr(self, option) == DEFAULTS[option]:
                continue
            raise EdgeError("--{} {}; {}".format(option.replace("_", "-"), other.int8_bar_owner, task.int8_judged_as))

    def int8_bar(self, task):
        """The INT8 bar these options hold `task`'s models to (its option's value)."""
        return getattr(self, task.int8_bar_option) if task.int8_bar_option in DEFAULTS else task.int8_default_bar

    def fuses(self, kind):
        """Whether the export of an input of `kind` ("onnx" or a PyTorch one) fuses the preprocessing."""
        return bool(self.fuse_preprocess) if self.fuse_preprocess is not None else kind != "onnx"

    def spec_overrides(self):
        """The preprocessing options given, as PreprocessSpec keyword arguments."""
        return dict((name, getattr(self, name)) for name in SPEC_FIELDS if getattr(self, name) is not None)

    def __repr__(self):
        given = ["{}={!r}".format(name, value) for name, value in sorted(vars(self).items())
                 if value != (list(DEFAULTS[name]) if isinstance(DEFAULTS[name], tuple) else DEFAULTS[name])]
        return "ExportOptions({})".format(", ".join(given))

    def check(self, kind):
        """One EdgeError for what these values cannot do with an input of `kind` (export.model_source.detect_kind:
        "torch", "torchscript", "onnx" or "bundle"; a bundle takes the engine options only)."""
        if kind != "bundle":
            if self.int8 and not self.calib:
                raise EdgeError("--int8 needs calibration images: --calib DIR (an image folder)")
            if kind == "onnx" and self.fuse_preprocess:   # asked for (True), not the default (None)
                raise EdgeError("--fuse-preprocess needs a PyTorch model; it cannot be applied to an ONNX file")
            if kind == "onnx" and self.opset != DEFAULT_OPSET:
                raise EdgeError("--opset does not apply to an ONNX input: it keeps the opset it was written with")
        problems = [text for bad, text in self._ranges() if bad]
        if problems:
            raise EdgeError("; ".join(problems))

    def _ranges(self):
        yield (self.dynamic_batch is not None and self.dynamic_batch < 1), "--dynamic-batch must be at least 1"
        yield self.verify_count < 1, "--verify-count must be at least 1"
        yield not self.fp32_tolerance > 0, "--fp32-tolerance must be positive"
        yield self.calib_size < 2, "--calib-size must be at least 2"
        yield not 0.0 < self.holdout_fraction < 1.0, "--holdout-fraction must be between 0 and 1"
        yield not 0.0 <= self.int8_min_agreement <= 1.0, "--int8-min-agreement must be between 0 and 1"
        yield not 0.0 < self.int8_max_mae_increase < 1e6, "--int8-max-mae-increase must be a positive number of pixels"
        yield self.workspace_mb < 1, "--workspace-mb must be positive"
        yield (self.crop_pct is not None and not 0.0 < self.crop_pct <= 1.0), "--crop-pct must be in (0, 1]"
        yield (self.calib_method not in CALIB_METHODS), "--calib-method must be one of {}".format(
            ", ".join(CALIB_METHODS))
        yield (any(flavor not in INT8_FLAVORS for flavor in self.int8_flavors) or not self.int8_flavors), \
            "--int8-flavors must list some of {}".format(", ".join(INT8_FLAVORS))
        yield any(precision not in PRECISIONS for precision in self.engines), \
            "engines must be some of {}".format(", ".join(PRECISIONS))
