"""TensorRT API differences between 8.2 (JetPack 4.6) and 8.5+/10.x, chosen by capability.

Never by version string: each helper asks the module or object for what it needs (`hasattr`),
so 8.6, which has both APIs, takes the newer one and triggers no DeprecationWarning.
Also here: this device's description for engine keys (the GPU as edge.cuda.gpu.identify names it).
Python 3.6 compatible, no torch.
"""

from edge.cuda import gpu
from edge.errors import EdgeError
from edge.util.lazy import require

# Compute capabilities with fast FP16 / INT8, for a builder that no longer answers (C++ deprecated
# platform_has_fast_* in 10.5): FP16 from sm_53 except consumer Pascal (6.1); INT8 from 6.1, not 6.2 (TX2).
_NO_FAST_FP16 = ("6.1",)
_NO_FAST_INT8 = ("6.0", "6.2")
# The highest ONNX opset TensorRT 8.2's parser (JetPack 4.6, Nano/TX2) reads; export's default.
TENSORRT_82_MAX_OPSET = 13


def load():
    return require("tensorrt", "building and running TensorRT engines")


def version(trt):
    return str(getattr(trt, "__version__", "unknown"))


def sm(compute_capability):
    """"5.3" -> "sm_53" (for messages)."""
    return "sm_" + str(compute_capability).replace(".", "") if compute_capability else "sm_?"


# ----------------------------------------------------------------------------- builder

def network_flags(trt):
    """Explicit batch: 8.x's ONNX parser needs the bit; 10.x networks always are (flag ignored), so 0."""
    creation = trt.NetworkDefinitionCreationFlag
    if hasattr(creation, "STRONGLY_TYPED") or not hasattr(creation, "EXPLICIT_BATCH"):
        return 0
    return 1 << int(creation.EXPLICIT_BATCH)


def set_workspace(trt, config, nbytes):
    """Builder workspace limit; returns the API used ("memory_pool_limit" or "max_workspace_size")."""
    if hasattr(config, "set_memory_pool_limit") and hasattr(trt, "MemoryPoolType"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(nbytes))
        return "memory_pool_limit"
    config.max_workspace_size = int(nbytes)
    return "max_workspace_size"


def build_serialized(builder, network, config):
    """Serialized engine bytes, or None when the build failed (TensorRT logged why)."""
    if hasattr(builder, "build_serialized_network"):
        plan = builder.build_serialized_network(network, config)
    else:   # before 8.0 only; kept so an old TensorRT fails later, with its own message
        engine = builder.build_engine(network, config)
        plan = engine.serialize() if engine is not None else None
    return bytes(memoryview(plan)) if plan is not None else None


def fast_precisions(builder, compute_capability=None):
    """{"fp16": bool, "int8": bool}: the builder is asked first; a table of capabilities otherwise."""
    found = {}
    for precision in ("fp16", "int8"):
        answer = getattr(builder, "platform_has_fast_" + precision, None)
        if answer is None:
            excluded = _NO_FAST_FP16 if precision == "fp16" else _NO_FAST_INT8
            floor = (5, 3) if precision == "fp16" else (6, 1)
            answer = _cc_tuple(compute_capability) >= floor and compute_capability not in excluded
        found[precision] = bool(answer)
    return found


def _cc_tuple(compute_capability):
    try:
        major, minor = str(compute_capability).split(".")
        return int(major), int(minor)
    except ValueError:
        return (0, 0)


def platform_capabilities(trt, compute_capability=None):
    """{"fp16", "int8"}: does this GPU have fast FP16 / INT8 (a builder is asked)."""
    builder = trt.Builder(trt.Logger(trt.Logger.WARNING))
    return fast_precisions(builder, compute_capability)


def takes_uint8(trt):
    """True where networks may take uint8 inputs (8.5+); 8.2 has no DataType.UINT8 at all."""
    return hasattr(trt.DataType, "UINT8")


def implicit_int8(trt):
    """True where INT8 may come from a calibrator (8.x). 10.x has strong typing, which supersedes
    implicit quantization (its calibrators are deprecated): INT8 comes from a QDQ model there."""
    return hasattr(trt, "IInt8EntropyCalibrator2") and not hasattr(trt.NetworkDefinitionCreationFlag,
                                                                   "STRONGLY_TYPED")


def set_calibrator(config, calibrator, calibration_profile=None):
    config.int8_calibrator = calibrator
    if calibration_profile is not None and hasattr(config, "set_calibration_profile"):
        config.set_calibration_profile(calibration_profile)


def parser_errors(parser):
    """The ONNX parser's errors as one line ("node 3 (Conv): ...; ..."), from ParserError's methods."""
    messages = []
    for index in range(parser.num_errors):
        error = parser.get_error(index)
        where = ""
        node = error.node() if hasattr(error, "node") else -1
        if node is not None and node >= 0:
            operator = error.node_operator() if hasattr(error, "node_operator") else ""
            where = "node {}{}: ".format(node, " ({})".format(operator) if operator else "")
        code = error.code() if hasattr(error, "code") else ""
        code = str(getattr(code, "name", code)).split(".")[-1]
        messages.append("{}{}{}".format(where, error.desc(), " [{}]".format(code) if code else ""))
    return "; ".join(messages) or "no details from the parser"


def network_inputs(network):
    """[(name, [dims])] of a parsed network's inputs; -1 marks a dynamic axis."""
    found = []
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        found.append((tensor.name, [int(d) for d in tensor.shape]))
    return found


# ----------------------------------------------------------------------------- engines

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
    """[(name, is_input, shape tuple, numpy dtype)] for every engine input/output, in engine order."""
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


# ----------------------------------------------------------------------------- this device

def device_description(trt):
    """{"gpu", "compute_capability", "tensorrt_version", "source"} of this machine (edge.cuda.gpu.identify).

    EdgeError when nothing can tell which GPU this is: engines are keyed by it.
    """
    found = gpu.identify()
    if found is None:
        raise EdgeError("cannot tell which GPU this is: no CUDA binding (pip3 install pycuda), no nvidia-smi, "
                        "and not a Jetson; engines are keyed by GPU, so nothing was built")
    return {"gpu": found["name"], "compute_capability": found["compute_capability"],
            "tensorrt_version": version(trt), "source": found["source"]}
