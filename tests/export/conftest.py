"""edge-export's desktop half needs torch, onnx and onnxruntime: without them (a Jetson) its tests skip."""

import pytest

for _module in ("torch", "onnx", "onnxruntime"):
    pytest.importorskip(_module, reason="edge-export on the desktop needs {} (a Jetson runs edge/ only)".format(
        _module))
