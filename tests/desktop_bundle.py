"""Export the bundles a device-side test run loads: what the desktop's edge-export writes today.

    .venv/bin/python -m tests.desktop_bundle .cache/desktop-bundles

`make test-device` runs this in the desktop venv (torch, onnx, onnxruntime) and hands the folder to
the device-side run (Python 3.6 with ONNX Runtime 1.10, as on JetPack 4.6) through
EDGE_DESKTOP_BUNDLES; tests/edge/test_desktop_bundles.py loads every model file in it there.
Two bundles, both INT8 (the tiny colour classifier of tests/bundle_fixtures.py, 32x32):

    int8/    --no-fuse-preprocess: float input, both INT8 flavors
    triton/  the Triton model repository of int8/ (--triton-repo)
    fused/   the default, fused (uint8 input, plus the float-pixel family for TensorRT 8.2), dynamic batch 1..4
"""

import os
import shutil
import sys
import tempfile

BUNDLES = ("int8", "fused")
TRITON = "triton"


def tiny_checkpoint(folder, images):
    """model.pt of the colour classifier (random ResNet-18 backbone, head fit to the colours)."""
    from edge.bundle.preprocess import PreprocessSpec
    from tests.bundle_fixtures import EXPORT_CLASSES, colour_classifier
    from train.checkpoint import model_record, save_checkpoint

    spec = PreprocessSpec(size=32, crop_pct=0.875)
    model = colour_classifier(images, spec)[0]
    path = os.path.join(folder, "model.pt")
    save_checkpoint(path, model_record(model, "resnet18", EXPORT_CLASSES, spec))
    return path


def export_bundles(out):
    """Write out/int8 and out/fused (replacing what is there); returns `out`."""
    from export.cli import main
    from tests.bundle_fixtures import write_image_folder

    with tempfile.TemporaryDirectory(prefix="desktop-bundle-") as scratch:
        images = write_image_folder(os.path.join(scratch, "images"), per_class=12, seed=1)
        checkpoint = tiny_checkpoint(scratch, images)
        common = [checkpoint, "--int8", "--calib", images, "--calib-method", "minmax", "--holdout-fraction", "0.25"]
        shutil.rmtree(out, ignore_errors=True)
        runs = {"int8": ["--no-fuse-preprocess", "--triton-repo", os.path.join(out, TRITON)],
                "fused": ["--dynamic-batch", "4"]}
        for name in BUNDLES:
            if main(common + ["-o", os.path.join(out, name)] + runs[name]) != 0:
                raise SystemExit("exporting the {} bundle failed".format(name))
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m tests.desktop_bundle OUT_DIR")
    export_bundles(os.path.abspath(sys.argv[1]))
