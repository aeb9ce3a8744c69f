"""Test doubles: TensorRT per API generation, CUDA memory, tiny ONNX bundles (no torch)."""
