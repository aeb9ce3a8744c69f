"""The deployment bundle: a directory with `manifest.json`, the one contract between stages.

`edge-export` writes it; everything in `edge/` reads it. The manifest is schema-versioned JSON; every key it holds:

    {
      "schema": "edge-toolkit/bundle", "schema_version": 1 (2 for a regression bundle),
      "created": ISO-8601 UTC, "producer": {"tool", "version"},
      "model": {"arch", "classes" (order = output index; a regression model's are its targets), "num_classes",
                "source": {"kind" ("checkpoint" | "state_dict" | "pickled_module" | "torchscript" | "onnx"), "file",
                           "path", "sha256", and for a checkpoint "epoch", "metrics" (what training
                           measured: "val": {"accuracy", "images", ...}; a regression model's
                           "val": {"mae_px", "rmse_px", "per_target", "images"})}},
      "input": {"name", "shape" [N, C, H, W] (N = opt batch; [N, H, W, 3] when fused, edge-export's default),
                "batch": {"min", "opt", "max"},
                "preprocess": PreprocessSpec.to_dict(): {"size", "resize", "crop_pct", "interpolation",
                              "mean", "std", "color_order", "layout", "dtype"},
                "fused_preprocess": false | {"dtype": "uint8", "layout": "NHWC", "color_order": "BGR"}},
      "output": {"name", "kind": "logits"}
                or (schema_version 2) {"name", "kind": "regression", "targets" (output order), "points"
                    ([x name, y name] per point), "units": "pixels of the input image",
                    "normalization": {"frame": "model input", "range": [-1, 1], "origin"}}
                    (edge.tasks.points: outputs are points in the model input scaled to [-1, 1]; a
                    runtime maps them back through the preprocessing to pixels of each image),
      "artifacts": [ {"file", "kind", "sha256", "bytes", ...kind-specific keys below} ],
      "verification": {
        "fp32": {"source", "inputs", "max_abs_diff", "max_abs_logit", "tolerance", "tolerance_rule",
                 "top1_agreement"},
        "int8": {<flavor>: {"source", "holdout_images", "max_abs_diff", "top1_agreement", "min_agreement",
                            "accuracy_fp32", "accuracy_int8", "accuracy_delta"}},
        "float_pixels": (a fused bundle) {"fp32", "int8": {"tensorrt-qdq-s8s8"}}: the same records for the
                 family TensorRT 8.2 builds from, on the same frames widened to float32 (older fused
                 bundles: "float_input", for their float32-nchw family)}
      A fused bundle's fp32 records say "reference": the unfused PyTorch model on the host's
      preprocessing, so fusing itself is what they verify; its INT8 records are against that fp32 model.
      A regression bundle's verification has no top-1: "fp32" has "max_abs_diff_input_px" (pixels of
      the model input) beside "max_abs_diff"; each "int8" flavor has {"source", "holdout_images",
      "max_abs_diff", "mean_abs_diff_px" (INT8 against fp32, pixels of the held-out images),
      "mae_fp32_px", "mae_int8_px", "mae_delta_px" (against the labels; null without them),
      "judged_by" ("mae_delta_px", or "mean_abs_diff_px" for unlabelled images: it bounds the MAE
      change), "max_mae_increase_px" (the threshold it was held to)}.
    }

Every key above is checked before anything uses a bundle (read_manifest): its type and range, and the
relations between keys, by the one table of edge.bundle.schema, which says each rule.

Schema versions: a bundle records the lowest version that describes it, so an older edge-toolkit
reads every bundle it can run. 1: classification (output kind "logits"); 2: adds regression
(output kind "regression"); this code reads both.

Artifact kinds and their extra keys:
    onnx               precision ("fp32" | "int8"), opset, flavor (int8 only: "tensorrt-qdq-s8s8"
                       or "ort-qdq-u8s8"; older bundles spell it "flavour",
                       which read_manifest renames),
                       calibration {"method", "images", "per_channel", "activations", "weights",
                       "symmetric_activations", "float_nodes" (nodes left unquantized: a
                       regression model's head; older bundles lack the key)} (int8 only), input_format
                       ("float32-nchw" | "uint8-nhwc-bgr" | "float32-nhwc-bgr"; absent in older bundles:
                       the bundle's). A fused bundle's own models take uint8-nhwc-bgr; beside them it
                       carries the family TensorRT 8.2 (no uint8 inputs) builds from: float32-nhwc-bgr
                       (model.pixels.onnx, model.int8.trt.pixels.onnx: the same 0..255 BGR frame as
                       float32, normalised in the graph) or, from an older edge-export, float32-nchw
                       (model.float.onnx, model.int8.trt.float.onnx: normalised on the host)
    calibration_cache  method, requested_method (when another was used), images, batch_size,
                       tensorrt_version, onnx_file, onnx_sha256
    tensorrt_engine    precision (built), requested_precision, also_requested, tensorrt_version, gpu,
                       compute_capability, onnx_file, onnx_sha256, batch {"min","opt","max"},
                       workspace_mb, key, input_shape, builder_flags, int8_mode ("explicit-qdq" |
                       "implicit-calibration" | null), calibration_cache_sha256, input_format (what
                       the engine takes: a fused bundle's engine for TensorRT 8.2, which has no
                       uint8, takes float32-nhwc-bgr and its runner only widens the uint8 frames to
                       float32; an older bundle's takes float32-nchw and its runner normalises on
                       the host). The file
                       is engine-<precision>-<key>.plan, key = 12 hex digits of sha256 over the
                       ONNX sha256, TensorRT version, GPU, compute capability, precision, batch
                       range and input shape (edge.tensorrt.matching).
    timing_cache       tensorrt_version, gpu, compute_capability (the builder's tactic timings for
                       that device, reused by the next engine build there; never needed to run)
    labels             (labels.txt)
    golden             (golden.npz: edge.bundle.golden) count, reference ("pytorch" | "onnxruntime-fp32"),
                       source ("images" | "random"), frames_shape, reference_shape, inputs_sha256
"""

import json
import os

from edge.version import __version__
from edge.util.atomic import sha256_file, write_json
from edge.errors import EdgeError
from edge.bundle.schema import (ARTIFACT_KINDS, FIX, INPUT_FLOAT, INPUT_UINT8, PIXEL_FORMATS, SCHEMA, SCHEMA_VERSION,
                                check_manifest)
from edge.bundle.preprocess import PreprocessSpec
from edge.util.timestamps import utc_timestamp

MANIFEST = "manifest.json"
LABELS = "labels.txt"
# The manifest key naming an INT8 model's flavor; bundles written before it was spelled American
# say "flavour" (read_manifest renames it).
FLAVOR = "flavor"
OLD_FLAVOR = "flavour"


def labels_text(classes):
    """labels.txt: one class per line, in output-index order."""
    return "".join(name + "\n" for name in classes)


def image_shape(size, input_format):
    """One image's shape (no batch axis) as models taking `input_format` see it; size: (height, width)."""
    height, width = size
    return [height, width, 3] if input_format in PIXEL_FORMATS else [3, height, width]


def new_manifest(arch, classes, spec, input_name, output_name, batch=(1, 1, 1),
                 fused_preprocess=False, source=None, tool="edge-export", targets=None, task=None):
    """A manifest with no artifacts yet. targets: a regression model's RegressionTargets (then its output names
    are the targets), or None; task: the edge.tasks task whose output section and schema version it gets
    (default: the one of that head, edge.tasks.registry.head_task)."""
    from edge.tasks.registry import head_task

    task = task or head_task(targets)
    min_b, opt_b, max_b = batch
    input_format = INPUT_UINT8 if fused_preprocess else INPUT_FLOAT
    if targets is not None:
        classes = targets.names
    return {
        "schema": SCHEMA,
        "schema_version": task.schema_version,
        "created": utc_timestamp(),
        "producer": {"tool": tool, "version": __version__},
        "model": {"arch": arch, "classes": list(classes), "num_classes": len(classes),
                  "source": source or {}},
        "input": {"name": input_name, "shape": [opt_b] + image_shape(spec.size, input_format),
                  "batch": {"min": min_b, "opt": opt_b, "max": max_b},
                  "preprocess": spec.to_dict(), "fused_preprocess": fused_preprocess},
        "output": task.output_section(output_name, targets),
        "artifacts": [],
        "verification": {},
    }


def artifact_entry(bundle_dir, file_name, kind, **extra):
    """Describe a file already written inside the bundle (hash and size measured now)."""
    if kind not in ARTIFACT_KINDS:
        raise ValueError("unknown artifact kind {!r}".format(kind))
    path = os.path.join(bundle_dir, file_name)
    entry = {"file": file_name, "kind": kind, "sha256": sha256_file(path),
             "bytes": os.path.getsize(path)}
    entry.update(extra)
    return entry


def put_artifact(manifest, entry):
    """Add `entry`, replacing any artifact with the same file name."""
    manifest["artifacts"] = [a for a in manifest["artifacts"] if a["file"] != entry["file"]]
    manifest["artifacts"].append(entry)
    return entry


def write_manifest(bundle_dir, manifest):
    write_json(os.path.join(bundle_dir, MANIFEST), manifest)


def moved_aside(bundle_dir):
    """The previous bundle an interrupted edge-export left in `.NAME.old-XXXXXXXX/bundle` beside `bundle_dir`."""
    parent, name = os.path.split(os.path.abspath(str(bundle_dir)))
    prefix = "." + name + ".old-"
    try:
        names = sorted(n for n in os.listdir(parent) if n.startswith(prefix))
    except OSError:
        return None
    found = [os.path.join(parent, n, "bundle") for n in names
             if os.path.isfile(os.path.join(parent, n, "bundle", MANIFEST))]
    return max(found, key=lambda path: os.path.getmtime(os.path.join(path, MANIFEST))) if found else None


def interrupted_export(bundle_dir):
    """For a bundle path that is gone because an export was killed mid-swap: the EdgeError that says where the
    previous bundle is. None otherwise."""
    previous = None if os.path.isdir(str(bundle_dir)) else moved_aside(bundle_dir)
    if previous is None:
        return None
    return EdgeError("{} is missing, but the previous bundle is in {}: an export was interrupted; re-run "
                     "edge-export, or rename it back (mv {} {})".format(bundle_dir, previous, previous, bundle_dir))


def read_manifest(bundle_dir):
    """Read and check a bundle's manifest; one clear EdgeError for anything wrong."""
    path = os.path.join(str(bundle_dir), MANIFEST)
    if not os.path.isdir(str(bundle_dir)):
        raise interrupted_export(bundle_dir) or EdgeError(
            "{} is not a directory; pass the bundle folder edge-export wrote".format(bundle_dir))
    if not os.path.isfile(path):
        raise EdgeError("{} has no {}: not a bundle (make one with edge-export model.pt -o {})".format(
            bundle_dir, MANIFEST, bundle_dir))
    try:
        with open(path, "r", encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (ValueError, RecursionError) as exc:
        raise EdgeError("{} is not valid JSON ({}); re-run edge-export".format(path, exc))
    except (IOError, OSError) as exc:
        raise EdgeError("{} cannot be read ({}); check its permissions".format(path, exc))
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise EdgeError("{} is not an edge-toolkit bundle manifest".format(path))
    version = manifest.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise EdgeError("{} has schema version {}, this edge-toolkit reads up to {}: upgrade it".format(
            path, version, SCHEMA_VERSION))
    from edge.tasks.registry import TASKS, manifest_kind

    kind = manifest_kind(manifest)
    if kind not in TASKS:
        raise EdgeError("{} has an output kind {!r} this edge-toolkit does not know: upgrade it".format(path, kind))
    for entry in manifest.get("artifacts") if isinstance(manifest.get("artifacts"), list) else ():
        if isinstance(entry, dict) and OLD_FLAVOR in entry:
            entry.setdefault(FLAVOR, entry.pop(OLD_FLAVOR))
    check_manifest(manifest, path)      # every key's type and range, and their relations
    check_files(bundle_dir, manifest, path)
    return manifest


def _within(path, folder):
    relative = os.path.relpath(os.path.realpath(path), os.path.realpath(folder))
    return relative != os.pardir and not relative.startswith(os.pardir + os.sep)


def check_files(bundle_dir, manifest, path=MANIFEST):
    """What a manifest says about its folder, on disk: no artifact leads out of it through a symbolic link
    (check_manifest refused absolute paths and '..'), and labels.txt, where it is intact, names model.classes."""
    for entry in manifest["artifacts"]:
        file_path = os.path.join(str(bundle_dir), entry["file"])
        if not _within(file_path, bundle_dir):
            raise EdgeError("{}: artifact {} leads out of the bundle folder (to {}); {}".format(
                path, entry["file"], os.path.realpath(file_path), FIX))
        if entry["kind"] == "labels" and os.path.isfile(file_path) and sha256_file(file_path) == entry["sha256"]:
            with open(file_path, "r", encoding="utf-8") as handle:
                labels = handle.read()
            if labels != labels_text(manifest["model"]["classes"]):
                raise EdgeError("{}: model.classes differ from {} (the classes in output order); {}".format(
                    path, entry["file"], FIX))


class Bundle(object):
    """A bundle read from disk: the manifest plus helpers to find and check its artifacts."""

    def __init__(self, path, manifest):
        self.path = str(path)
        self.manifest = manifest

    @classmethod
    def load(cls, path):
        return cls(path, read_manifest(path))

    @property
    def classes(self):
        return list(self.manifest["model"]["classes"])

    @property
    def arch(self):
        return self.manifest["model"].get("arch")

    @property
    def output_kind(self):
        """The manifest's output.kind: "logits" (a classifier), "regression" (points in pixels of the input
        image), or another registered task's (edge.tasks.registry)."""
        from edge.tasks.registry import manifest_kind
        return manifest_kind(self.manifest)

    @property
    def task(self):
        """The edge.tasks task of this bundle's output kind: what differs between kinds of output."""
        from edge.tasks.registry import task_for
        return task_for(self.manifest)

    @property
    def targets(self):
        """The named points the outputs are (edge.tasks.points.RegressionTargets), or None (a classifier)."""
        return self.task.targets(self.manifest)

    @property
    def spec(self):
        return PreprocessSpec.from_dict(self.manifest["input"]["preprocess"])

    @property
    def input_name(self):
        return self.manifest["input"]["name"]

    @property
    def output_name(self):
        return self.manifest["output"]["name"]

    @property
    def fused_preprocess(self):
        return self.manifest["input"].get("fused_preprocess") or False

    @property
    def input_format(self):
        """What callers feed this bundle's runners: INPUT_UINT8 for a fused bundle, else INPUT_FLOAT."""
        return INPUT_UINT8 if self.fused_preprocess else INPUT_FLOAT

    def model_input_format(self, entry):
        """What the model file or engine of `entry` takes (older bundles: the bundle's format)."""
        return entry.get("input_format") or self.input_format

    def item_shape(self, input_format=None):
        """One image's shape (no batch axis) for models taking `input_format` (default the bundle's)."""
        return image_shape(self.spec.size, input_format or self.input_format)

    def onnx(self, precision, flavor=None, input_format=None):
        """The ONNX artifact of `precision` (and `flavor`) taking `input_format` (default the bundle's), or None."""
        wanted = input_format or self.input_format
        for entry in self.artifacts("onnx", precision=precision):
            if flavor is not None and entry.get(FLAVOR) != flavor:
                continue
            if self.model_input_format(entry) == wanted:
                return entry
        return None

    @property
    def batch_range(self):
        batch = self.manifest["input"]["batch"]
        return batch["min"], batch["opt"], batch["max"]

    def artifacts(self, kind=None, **match):
        """Artifacts of `kind` whose keys equal every `match` value."""
        found = []
        for entry in self.manifest["artifacts"]:
            if kind is not None and entry.get("kind") != kind:
                continue
            if all(entry.get(key) == value for key, value in match.items()):
                found.append(entry)
        return found

    def artifact(self, kind, **match):
        """The single artifact matching, or None."""
        found = self.artifacts(kind, **match)
        return found[0] if found else None

    def file(self, entry):
        return os.path.join(self.path, entry["file"])

    def check(self, entry, digest=None):
        """Raise EdgeError unless the artifact exists and its sha256 matches the manifest.

        digest: the file's sha256 as the caller has just measured it (while copying it), so it is not read twice.
        """
        path = self.file(entry)
        if not os.path.isfile(path):
            raise EdgeError("bundle {} lists {} but the file is missing; re-run edge-export".format(
                self.path, entry["file"]))
        digest = digest or sha256_file(path)
        if digest != entry.get("sha256"):
            raise EdgeError("{} does not match its sha256 in the manifest (corrupt or replaced); "
                            "re-run edge-export".format(path))
        return path

    def save(self):
        write_manifest(self.path, self.manifest)
