"""What differs between TensorRT generations: one plain table per generation, and the API columns.

Sources (read, never run): /work/shared/TENSORRT_API.md, which reads NVIDIA/TensorRT branches
release/8.2, release/8.6 and release/10.3 (python/src/infer/pyCore.cpp, pyInt8.cpp,
include/NvInfer.h for enum values) and onnx/onnx-tensorrt branches 8.2-GA, 8.6-GA and 10.1-GA
(docs/operators.md, ModelImporter.cpp, builtin_op_importers.cpp / onnxOpImporters.cpp).
"8.0" (JetPack 4.6 = L4T R32.6.1 ships TensorRT 8.0.1.6) is taken as 8.2 with its own version string;
release/8.0 was not compared.

API columns are (8.2, 8.6, 10.3): "Y" exists, None absent (AttributeError), "D:X" exists and
warns DeprecationWarning("Use X instead."), the message format of TensorRT's
python/src/utils.cpp issueDeprecationWarning. A name not listed for a class exists everywhere.
"""

COLUMNS = {"8.0": 0, "8.2": 0, "8.6": 1, "10.3": 2}

_DATA_TYPES_82 = ["FLOAT", "HALF", "INT8", "INT32", "BOOL"]
_FLAGS_82 = ["FP16", "INT8", "DEBUG", "GPU_FALLBACK", "STRICT_TYPES", "REFIT", "DISABLE_TIMING_CACHE", "TF32",
             "SPARSE_WEIGHTS", "SAFETY_SCOPE", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS",
             "DIRECT_IO", "REJECT_EMPTY_ALGORITHMS"]   # NvInfer.h release/8.2: values 0..13
_FLAGS_86 = _FLAGS_82 + ["ENABLE_TACTIC_HEURISTIC", "VERSION_COMPATIBLE", "EXCLUDE_LEAN_RUNTIME", "FP8"]   # 14..17
# release/10.3: STRICT_TYPES gone, so every later value moves down by one; WEIGHTLESS = STRIP_PLAN (deprecated alias).
_FLAGS_103 = [f for f in _FLAGS_82 if f != "STRICT_TYPES"] + [
    "VERSION_COMPATIBLE", "EXCLUDE_LEAN_RUNTIME", "FP8", "ERROR_ON_TIMING_CACHE_MISS", "BF16",
    "DISABLE_COMPILATION_CACHE", "STRIP_PLAN", "REFIT_IDENTICAL", "WEIGHT_STREAMING", "INT4", "REFIT_INDIVIDUAL"]


# One plain table per generation. The rules (booleans) say what its parser, builder and bindings enforce:
#   uint8_inputs: DataType.UINT8 exists and UINT8 network I/O parses (8.5+);
#       else "Unsupported ONNX data type: UINT8 (2)"
#   int8_weight_initializers_allowed: DequantizeLinear may read an INT8 initializer (10.x); else "invalid weights
#       type of Int8"
#   calibrator_exceptions_caught: pyInt8.cpp catches exceptions in calibrator callbacks (8.6+); release/8.2's
#       trampolines are noexcept without try/catch: std::terminate
#   explicit_batch_required: the ONNX parser refuses a network without EXPLICIT_BATCH (8.x)
#   qdq_zero_point_required: Q/DQ nodes need their 3 inputs (8.x: "This version of TensorRT requires 3 inputs")
#   int64_io_as_int32: convertDtype turns INT64 network I/O into INT32 (8.x)
#   nptype_uses_np_bool: trt.nptype builds its map with np.bool, gone in NumPy 1.24 (8.2)
#   strongly_typed_flag: NetworkDefinitionCreationFlag.STRONGLY_TYPED (10.x; EXPLICIT_PRECISION before)
#   execution_allocation_strategy: create_execution_context(strategy=...) (10.x)
TABLES = {
    "8.2": {
        "version": "8.2.1.8", "max_opset": 13, "data_types": _DATA_TYPES_82, "builder_flags": _FLAGS_82,
        "uint8_inputs": False, "int8_weight_initializers_allowed": False, "calibrator_exceptions_caught": False,
        "explicit_batch_required": True, "qdq_zero_point_required": True, "int64_io_as_int32": True,
        "nptype_uses_np_bool": True, "strongly_typed_flag": False, "execution_allocation_strategy": False,
    },
    "8.6": {
        "version": "8.6.1.6", "max_opset": 17, "data_types": _DATA_TYPES_82 + ["UINT8", "FP8"],
        "builder_flags": _FLAGS_86,
        "uint8_inputs": True, "int8_weight_initializers_allowed": False, "calibrator_exceptions_caught": True,
        "explicit_batch_required": True, "qdq_zero_point_required": True, "int64_io_as_int32": True,
        "nptype_uses_np_bool": False, "strongly_typed_flag": False, "execution_allocation_strategy": False,
    },
    "10.3": {
        "version": "10.3.0.26", "max_opset": 20, "builder_flags": _FLAGS_103,
        "data_types": _DATA_TYPES_82 + ["UINT8", "FP8", "BF16", "INT64", "INT4"],
        "uint8_inputs": True, "int8_weight_initializers_allowed": True, "calibrator_exceptions_caught": True,
        "explicit_batch_required": False, "qdq_zero_point_required": False, "int64_io_as_int32": False,
        "nptype_uses_np_bool": False, "strongly_typed_flag": True, "execution_allocation_strategy": True,
    },
}
TABLES["8.0"] = dict(TABLES["8.2"], version="8.0.1.6")   # JetPack 4.6 (L4T R32.6.1): taken as 8.2

# The public generations (8.0 is an alias the tests may ask for by name).
NAMES = ("8.2", "8.6", "10.3")


def generation(name):
    """The table of `name` ("8.0", "8.2", "8.6" or "10.3"), with its API column index."""
    if name not in TABLES:
        raise ValueError("generation must be one of {}".format(sorted(TABLES)))
    return dict(TABLES[name], name=name, column=COLUMNS[name])


def tensorrt_version_number(version):
    """NV_TENSORRT_VERSION as the calibration cache header writes it: 8.2.1 -> 8201, 10.3.0 -> 100300."""
    major, minor, patch = (int(part) for part in version.split(".")[:3])
    return major * (10000 if major >= 10 else 1000) + minor * 100 + patch


_EXPLICIT = "network created with NetworkDefinitionCreationFlag::EXPLICIT_BATCH flag"
_QUANT = "Deprecated in TensorRT 10.1. Superseded by explicit quantization."

# Per class: the names whose existence or deprecation differs between generations (8.2, 8.6, 10.3).
API = {
    "Builder": {
        "build_engine": ("D:build_serialized_network", "D:build_serialized_network", None),
        "max_batch_size": ("Y", "D:" + _EXPLICIT, None),
    },
    "IBuilderConfig": {
        "max_workspace_size": ("Y", "D:set_memory_pool_limit", None),
        "set_memory_pool_limit": (None, "Y", "Y"),
        "get_memory_pool_limit": (None, "Y", "Y"),
        "int8_calibrator": ("Y", "Y", "D:" + _QUANT),
        "set_calibration_profile": ("Y", "Y", "D:" + _QUANT),
        "get_calibration_profile": ("Y", "Y", "D:" + _QUANT),
    },
    "OnnxParser": {
        "flags": (None, "Y", "Y"), "set_flag": (None, "Y", "Y"), "clear_flag": (None, "Y", "Y"),
        "get_flag": (None, "Y", "Y"),
    },
    "ParserError": {"node_name": (None, None, "Y"), "node_operator": (None, None, "Y")},
    "ICudaEngine": {
        "num_bindings": ("Y", "Y", None), "__len__": ("Y", "Y", None), "__iter__": ("Y", "Y", "Y"),
        "get_binding_index": ("Y", "D:get_tensor_name", None),
        "get_binding_name": ("Y", "D:get_tensor_name", None),
        "binding_is_input": ("Y", "D:get_tensor_mode", None),
        "get_binding_shape": ("Y", "D:get_tensor_shape", None),
        "get_binding_dtype": ("Y", "D:get_tensor_dtype", None),
        "get_profile_shape": ("Y", "D:get_tensor_profile_shape", None),
        "max_batch_size": ("Y", "D:" + _EXPLICIT, None),
        "has_implicit_batch_dimension": ("Y", "Y", "Y"),
        "num_io_tensors": (None, "Y", "Y"), "get_tensor_name": (None, "Y", "Y"), "get_tensor_mode": (None, "Y", "Y"),
        "get_tensor_shape": (None, "Y", "Y"), "get_tensor_dtype": (None, "Y", "Y"),
        "get_tensor_profile_shape": (None, "Y", "Y"),
        "device_memory_size": ("Y", "Y", "D:Deprecated in TensorRT 10.1. Superseded by get_device_memory_size_v2"),
        "device_memory_size_v2": (None, None, "Y"),
    },
    "IExecutionContext": {
        "execute": ("Y", "D:execute_v2", None),
        "execute_async": ("Y", "D:execute_async_v2", None),
        "execute_async_v2": ("Y", "Y", None),
        "execute_async_v3": (None, "Y", "Y"),
        "set_binding_shape": ("Y", "D:set_input_shape", None),
        "get_binding_shape": ("Y", "D:get_tensor_shape", None),
        "set_input_shape": (None, "Y", "Y"), "get_tensor_shape": (None, "Y", "Y"),
        "set_tensor_address": (None, "Y", "Y"), "get_tensor_address": (None, "Y", "Y"),
    },
    "IInt8Calibrator": {"get_batch_size": ("Y", "Y", "D:" + _QUANT)},
}


def status(class_name, attribute, column):
    """"Y", None (absent) or "D:use instead" for `attribute` of `class_name` in API column `column`."""
    return API.get(class_name, {}).get(attribute, ("Y", "Y", "Y"))[column]
