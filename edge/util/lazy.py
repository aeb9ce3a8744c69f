"""One helper to import heavy optional libraries lazily, with an install hint.

Heavy libraries (torch, tensorrt, pycuda, onnxruntime, onnx, paho-mqtt, cv2) are imported only
inside the function that needs them, through `require`, so `import edge` and every `--help`
work without them. Nothing is ever installed at run time.
"""

import importlib

from edge.errors import MissingDependency

# What to tell the user when a module is missing.
INSTALL_HINTS = {
    "torch": "install PyTorch first (desktop: pip install torch==2.13.0, or your CUDA build), "
             "then pip install -e '.[train]'",
    "tensorrt": "TensorRT comes with JetPack on a Jetson (apt: python3-libnvinfer); on a desktop "
                "install NVIDIA's TensorRT for your CUDA version",
    "pycuda": "on a Jetson: pip3 install pycuda (built against /usr/local/cuda; see jetson/README.md)",
    "cuda": "pip install cuda-python (or use pycuda)",
    "onnx": "pip install -e '.[export]'",
    "onnxruntime": "pip install onnxruntime (desktop: pip install -e '.[export]'; "
                   "Jetson: NVIDIA's onnxruntime-gpu wheel for your JetPack)",
    "cv2": "pip install opencv-python-headless (on a Jetson use JetPack's OpenCV: apt install python3-opencv)",
    "paho": "pip install paho-mqtt",
    "matplotlib": "pip install matplotlib (desktop: pip install -e '.[train]')",
    "sklearn": "pip install scikit-learn (desktop: pip install -e '.[train]')",
    "yaml": "pip install PyYAML",
    "grpc": "pip install 'jetson-edge-toolkit[grpc]' (grpcio and protobuf; on JetPack 4.6's Python 3.6: "
            "pip3 install grpcio==1.48.2 'protobuf<3.20')",
    "google": "pip install 'jetson-edge-toolkit[grpc]' (protobuf; on JetPack 4.6's Python 3.6: "
              "pip3 install 'protobuf<3.20')",
}


def require(module_name, purpose=""):
    """Import and return `module_name`, or raise MissingDependency with an install hint."""
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        top = module_name.split(".")[0]
        # A missing *dependency of* the module is a broken install, not a missing module.
        missing = getattr(exc, "name", None)
        if missing is not None and missing.split(".")[0] != top:
            raise MissingDependency(
                "{} is installed but cannot be imported ({}); reinstall it".format(module_name, exc))
        what = " for {}".format(purpose) if purpose else ""
        hint = INSTALL_HINTS.get(top, "pip install {}".format(top))
        raise MissingDependency("{} is needed{} but is not installed: {}".format(module_name, what, hint))


def available(module_name):
    """True when `module_name` can be imported (imports it)."""
    try:
        importlib.import_module(module_name)
        return True
    except ImportError:
        return False
