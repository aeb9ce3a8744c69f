"""Runners: one protocol (activate / infer / deactivate) over TensorRT, ONNX Runtime and PyTorch."""
