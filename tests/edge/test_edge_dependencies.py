"""`import edge` and every --help work without torch, TensorRT, onnxruntime or onnx installed.

Each check runs in a fresh interpreter where importing those modules fails, as on a Jetson
that has only the runtime installed.
"""

import pytest

from tests import helpers

BLOCKED = ("torch", "tensorrt", "pycuda", "onnxruntime", "onnx", "paho", "sklearn", "matplotlib", "grpc")

def run_blocked(code):
    return helpers.run_blocked(code, BLOCKED)


def test_import_edge_loads_no_heavy_library():
    result = run_blocked(
        "import edge, edge.bundle.bundle, edge.bundle.preprocess, edge.cli, edge.util.lazy, edge.util.atomic, edge.triton.repo\n"
        "import edge.tasks.points, edge.tasks.point_labels, edge.tasks.registry, edge.tasks.regressor\n"
        "import edge.serve.grpc_protocol, edge.serve.grpc_server\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {!r} + ('cv2',))\n"
        "print('heavy:', heavy)".format(BLOCKED))
    assert result.returncode == 0, result.stderr
    assert "heavy: []" in result.stdout


@pytest.mark.parametrize("module", ["train.cli", "export.cli", "edge.predict", "edge.camera", "edge.bench",
                                    "edge.collect", "edge.export", "edge.doctor.cli", "edge.serve.cli",
                                    "edge.serve"])
def test_help_works_without_heavy_libraries(module):
    result = run_blocked("import runpy, sys\nsys.argv = ['prog', '--help']\n"
                         "runpy.run_module({!r}, run_name='__main__')".format(module))
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


@pytest.mark.parametrize("module", ["edge.predict", "edge.camera", "edge.bench", "train.cli"])
def test_every_command_with_tta_offers_the_same_flag_without_heavy_libraries(module):
    result = run_blocked("import runpy, sys\nsys.argv = ['prog', '--help']\n"
                         "runpy.run_module({!r}, run_name='__main__')".format(module))
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "--tta {none,hflip,d4}" in text and "test-time augmentation: none (default); hflip" in text


def test_a_missing_library_is_one_line_with_the_install_hint():
    result = run_blocked("from edge.util.lazy import require\nfrom edge.cli import run_main\n"
                         "sys.exit(run_main('edge-x', lambda argv: require('tensorrt', 'engines')))")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "comes with JetPack" in result.stderr and "Traceback" not in result.stderr
