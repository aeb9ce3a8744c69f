"""Checkpoint -> ONNX -> INT8 -> TensorRT engine, into a verified deployment bundle.

The ONNX/torch half runs on the desktop; the TensorRT half (`export.device` and the engine
modules) also runs on the Jetson, so it imports no torch and stays Python 3.6 compatible.
"""
