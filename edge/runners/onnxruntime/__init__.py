"""ONNX Runtime: loader.py opens a bundle's ONNX model as a session, runner.py runs it (edge.runners.base),
runtime.py is its entry in edge.runners.registry, threads.py fits its thread count to a camera's rate."""
