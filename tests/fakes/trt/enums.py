"""TensorRT's pybind11 enums for one generation: members with .name/.value, int() and a fixed set of names.

Values from include/NvInfer.h / NvInferRuntimeBase.h on each release branch (see generations.py).
A name the generation lacks is an AttributeError, as on the real module.
"""

import types

import numpy as np


class Member(object):
    """An enum member: int() gives its value; equal only to the same member of the same enum."""

    __slots__ = ("enum", "name", "value")

    def __init__(self, enum, name, value):
        self.enum, self.name, self.value = enum, name, value

    def __int__(self):
        return self.value

    def __index__(self):
        return self.value

    def __eq__(self, other):
        return isinstance(other, Member) and (self.enum, self.value) == (other.enum, other.value)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((self.enum, self.value))

    def __repr__(self):
        return "<{}.{}: {}>".format(self.enum, self.name, self.value)

    def __str__(self):
        return "{}.{}".format(self.enum, self.name)


_ITEMSIZE = {"FLOAT": 4, "HALF": 2, "INT8": 1, "INT32": 4, "BOOL": 1, "UINT8": 1, "FP8": 1, "BF16": 2, "INT64": 8}


class DataTypeMember(Member):
    """DataType members also have .itemsize (pyFoundationalTypes.cpp); INT4 has none (TypeError there)."""

    __slots__ = ()

    @property
    def itemsize(self):
        if self.name not in _ITEMSIZE:
            raise TypeError("{} has no itemsize".format(self))
        return _ITEMSIZE[self.name]


def make_enum(enum_name, names, member=Member, aliases=None):
    """A class with one member per name (values in list order, or from a dict) plus `aliases` {alias: name}."""
    items = names.items() if isinstance(names, dict) else [(n, i) for i, n in enumerate(names)]
    members = dict((name, member(enum_name, name, value)) for name, value in items)
    for alias, target in (aliases or {}).items():
        members[alias] = members[target]
    attributes = dict(members, __slots__=(), __members__=dict(members))
    return type(enum_name, (object,), attributes)


ERROR_CODES = ["SUCCESS", "INTERNAL_ERROR", "MEM_ALLOC_FAILED", "MODEL_DESERIALIZE_FAILED", "INVALID_VALUE",
               "INVALID_GRAPH", "INVALID_NODE", "UNSUPPORTED_GRAPH", "UNSUPPORTED_NODE"]
SEVERITIES = ["INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE"]


def install_enums(trt, table):
    """Put this generation's enums on the module object `trt` (table: generations.generation())."""
    column = table["column"]
    trt.DataType = make_enum("DataType", dict((n, i) for i, n in enumerate(
        ["FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8", "FP8", "BF16", "INT64", "INT4"]) if n in
        table["data_types"]), member=DataTypeMember)
    aliases = {"float32": "FLOAT", "float16": "HALF", "int8": "INT8", "int32": "INT32", "bool": "BOOL",
               "uint8": "UINT8", "fp8": "FP8", "bfloat16": "BF16", "int64": "INT64", "int4": "INT4"}
    for alias, target in aliases.items():
        if hasattr(trt.DataType, target):
            setattr(trt, alias, getattr(trt.DataType, target))
    flags = table["builder_flags"]
    trt.BuilderFlag = make_enum("BuilderFlag", flags, aliases={"WEIGHTLESS": "STRIP_PLAN"} if column == 2 else None)
    creation = ["EXPLICIT_BATCH", "STRONGLY_TYPED"] if table["strongly_typed_flag"] else [
        "EXPLICIT_BATCH", "EXPLICIT_PRECISION"]
    trt.NetworkDefinitionCreationFlag = make_enum("NetworkDefinitionCreationFlag", creation)
    verbosity = {"LAYER_NAMES_ONLY": 0, "NONE": 1, "DETAILED": 2}
    trt.ProfilingVerbosity = make_enum("ProfilingVerbosity", verbosity, aliases=None if column == 2 else {
        "DEFAULT": "LAYER_NAMES_ONLY", "VERBOSE": "DETAILED"})
    trt.ErrorCode = make_enum("ErrorCode", ERROR_CODES)
    trt.CalibrationAlgoType = make_enum("CalibrationAlgoType", ["LEGACY_CALIBRATION", "ENTROPY_CALIBRATION",
                                                                "ENTROPY_CALIBRATION_2", "MINMAX_CALIBRATION"])
    trt.TensorFormat = make_enum("TensorFormat", ["LINEAR"])
    if column >= 1:
        pools = ["WORKSPACE", "DLA_MANAGED_SRAM", "DLA_LOCAL_DRAM", "DLA_GLOBAL_DRAM", "TACTIC_DRAM"]
        trt.MemoryPoolType = make_enum("MemoryPoolType", pools + (["TACTIC_SHARED_MEMORY"] if column == 2 else []))
        trt.TensorIOMode = make_enum("TensorIOMode", ["NONE", "INPUT", "OUTPUT"])
        trt.OnnxParserFlag = make_enum("OnnxParserFlag", ["NATIVE_INSTANCENORM"])
    if table["execution_allocation_strategy"]:
        trt.ExecutionContextAllocationStrategy = make_enum("ExecutionContextAllocationStrategy",
                                                           ["STATIC", "ON_PROFILE_CHANGE", "USER_MANAGED"])


def make_nptype(trt, table):
    """trt.nptype: 8.2's builds its map per call with `np.bool`, so every call fails on NumPy >= 1.24."""

    def nptype(trt_type):
        if table["nptype_uses_np_bool"]:
            np_bool = getattr(np, "bool")   # AttributeError on NumPy >= 1.24, as the real 8.2 one
        else:
            np_bool = np.bool_
        mapping = [("FLOAT", np.float32), ("HALF", np.float16), ("INT8", np.int8), ("INT32", np.int32),
                   ("BOOL", np_bool)]
        if table["column"] >= 1:
            mapping.append(("UINT8", np.uint8))
        if table["column"] == 2:
            mapping.append(("INT64", np.int64))
        for name, dtype in mapping:
            if trt_type == getattr(trt.DataType, name):
                return dtype
        raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")

    return nptype


def volume(iterable):
    """trt.volume: the product of the dims."""
    result = 1
    for value in iterable:
        result *= value
    return result


def severity_namespace():
    return types.SimpleNamespace(**dict((name, index) for index, name in enumerate(SEVERITIES)))
