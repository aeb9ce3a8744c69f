"""Checkpoint -> ONNX -> INT8 QDQ -> golden set, into a verified deployment bundle (the desktop).

Needs torch, onnx and onnxruntime. TensorRT engines are built on the device by edge.tensorrt;
given a bundle, edge-export hands over to it.
"""
