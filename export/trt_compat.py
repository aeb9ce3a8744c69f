"""TensorRT API differences between 8.2 (JetPack 4.6) and 8.5+/10.x, chosen by capability.

Never by version string: each helper asks the object for the method it needs (`hasattr`), so
8.6, which has both APIs, takes the newer one. Python 3.6 compatible, no torch.
"""

from edge.lazy import require


def load():
    return require("tensorrt", "building and running TensorRT engines")


def version(trt):
    return str(getattr(trt, "__version__", "unknown"))


def network_flags(trt):
    """Explicit batch: required by 8.x's ONNX parser, accepted (and ignored) by 10.x."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", None)
    return 1 << int(flag) if flag is not None else 0


def set_workspace(trt, config, nbytes):
    if hasattr(config, "set_memory_pool_limit"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(nbytes))
    else:
        config.max_workspace_size = int(nbytes)


def np_dtype(trt, data_type):
    """numpy dtype of a TensorRT DataType, without trt.nptype (8.2's fails on NumPy >= 1.24)."""
    import numpy as np

    for name, dtype in (("FLOAT", np.float32), ("HALF", np.float16), ("INT8", np.int8), ("INT32", np.int32),
                        ("BOOL", np.bool_), ("UINT8", np.uint8), ("INT64", np.int64)):
        member = getattr(trt.DataType, name, None)
        if member is not None and data_type == member:
            return np.dtype(dtype)
    raise ValueError("unsupported TensorRT data type {}".format(data_type))


def io_tensors(trt, engine):
    """[(name, is_input, shape tuple, numpy dtype)] for every engine input/output."""
    tensors = []
    if hasattr(engine, "num_io_tensors"):
        for index in range(engine.num_io_tensors):
            name = engine.get_tensor_name(index)
            tensors.append((name, engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
                            tuple(engine.get_tensor_shape(name)), np_dtype(trt, engine.get_tensor_dtype(name))))
    else:
        for index in range(engine.num_bindings):
            tensors.append((engine.get_binding_name(index), engine.binding_is_input(index),
                            tuple(engine.get_binding_shape(index)), np_dtype(trt, engine.get_binding_dtype(index))))
    return tensors


def parser_errors(parser):
    return "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "no details"
