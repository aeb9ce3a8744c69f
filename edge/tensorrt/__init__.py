"""TensorRT on the device: engines built for this GPU from a bundle's ONNX, and what they need.

    compat             8.2 vs 8.5+/10.x API differences, chosen by capability; this device's description
    build              one serialized engine from an ONNX file (parse, configure, build)
    calibrator         INT8 calibrators over numpy batches or a cache (implicit quantization, 8.x)
    calibration_cache  a calibration cache for a bundle's float-input model (a fused bundle's float pixels)
    matching           engine keys, and which engine in a bundle fits this device
    engines            add_engines: build or reuse engines for this GPU and record them in the bundle

The command that runs them on the device, `edge-export BUNDLE --engine fp16`, is edge.export.

Python 3.6 compatible (JetPack 4.6); TensorRT itself is imported lazily (edge.util.lazy).
"""
