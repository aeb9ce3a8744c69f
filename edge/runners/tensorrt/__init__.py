"""TensorRT: loader.py finds (or builds) the bundle's engine for this GPU and deserialises it, runner.py runs it
(edge.runners.base), runtime.py is its entry in edge.runners.registry. Engine building itself is edge.tensorrt."""
