"""Jetson Edge Toolkit runtime: everything that consumes a deployment bundle.

Importing this package is cheap: no torch, TensorRT, onnxruntime or OpenCV is loaded here.
"""

__version__ = "0.1.0"
