"""Triton's own example client, image_client.py (tests/fixtures/image_client.py, vendored unchanged from
triton-inference-server/client src/python/examples, BSD-3-Clause, its header kept), run as a user runs it,
and edge-predict on the same images: the two sides the image-client tests compare."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.edge.serving import ROOT

CLIENT = os.path.join(ROOT, "tests", "fixtures", "image_client.py")
SCALING = "NONE"   # the scaling mode README's Triton section names: the _image entries take the pixels as they are
_ANSWER = re.compile(r"^    \S+ \((\d+)\) = (.*)$", re.M)   # image_client's postprocess: "    score (index) = label"


def need_client_dependencies():
    """Skip, saying why, where image_client.py cannot run: it imports PIL and both tritonclient protocols, and
    over HTTP attrdict (pip install attrdict)."""
    for module, hint in (("PIL", "pip install pillow"), ("attrdict", "pip install attrdict"),
                         ("tritonclient.http", "pip install 'tritonclient[http,grpc]'"),
                         ("tritonclient.grpc", "pip install 'tritonclient[http,grpc]'")):
        try:
            found = importlib.util.find_spec(module)
        except ImportError:
            found = None
        if found is None:
            pytest.skip("Triton's image_client.py needs {} ({})".format(module, hint))


def flat_image_folder(class_folders, target):
    """The labelled images of `class_folders` (one sub-folder per class) copied into the one folder `target`
    (image_client.py reads a folder's files, not its sub-folders); returns target."""
    os.makedirs(target)
    for label in sorted(os.listdir(class_folders)):
        for name in sorted(os.listdir(os.path.join(class_folders, label))):
            shutil.copy(os.path.join(class_folders, label, name), os.path.join(target, name))
    return target


def run_image_client(url, model, folder, protocol="HTTP", batch=1):
    """The top-1 labels image_client.py prints for the images of `folder`, in its (sorted file name) order."""
    result = subprocess.run([sys.executable, CLIENT, "-m", model, "-s", SCALING, "-c", "1", "-b", str(batch),
                             "-u", url, "-i", protocol, folder], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.rstrip().endswith("PASS"), result.stdout[-3000:]
    return [label for _, label in _ANSWER.findall(result.stdout)]


def edge_predict_top1(bundle, folder, runtime="onnxruntime", precision="fp32"):
    """edge-predict's top-1 label per image of `folder`, in sorted file name order."""
    result = subprocess.run([sys.executable, "-m", "edge.predict", bundle, folder, "--json", "-", "--top-k", "1",
                             "--runtime", runtime, "--precision", precision, "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["results"]
    return [row["prediction"] for row in sorted(rows, key=lambda row: os.path.basename(row["file"]))]


def true_labels(folder, classes):
    """The class each image of a flat folder shows: its file name starts with the class's name."""
    return [name.split("_")[0] for name in sorted(os.listdir(folder)) if name.split("_")[0] in classes]
