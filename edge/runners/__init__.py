"""Runners: one protocol (base.py: activate / infer / deactivate) over the runtimes of one registry (registry.py).

Each built-in runtime has its folder, a loader apart from its runner (tensorrt/, onnxruntime/); the PyTorch
reference runner comes from the training package (plugins.py); select.py builds the one a command asks for."""
