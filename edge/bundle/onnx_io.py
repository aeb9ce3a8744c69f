"""What an ONNX file takes and gives (tensor names, element types, dims), read without the onnx package.

A Jetson has no `onnx`, yet a Triton model configuration must state each input and output exactly
as the model file has them (Triton's onnxruntime backend compares them when it loads the model),
including whether the batch axis is dynamic, which the manifest does not say. So this reads the
few fields it needs straight from the protobuf wire format, seeking past everything else: the
weights of a 100 MB model are never read.

    graph_io("bundle/model.onnx") -> GraphIO(inputs=[Tensor("input", "float32", [-1, 3, 224, 224])],
                                             outputs=[Tensor("logits", "float32", [-1, 1000])])

Dims: -1 for a symbolic or unknown axis; None for a tensor whose shape (rank) is not given.
Graph inputs that are initializers (older ONNX files list weights as inputs) are left out.
Python 3.6 compatible.
"""

import io
from collections import namedtuple

import numpy as np

from edge.errors import EdgeError

Tensor = namedtuple("Tensor", "name dtype dims")
GraphIO = namedtuple("GraphIO", "inputs outputs")

# onnx.TensorProto.DataType values, by numpy's names (float16's name is numpy's too).
ELEMENT_TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
                 8: "string", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64",
                 16: "bfloat16"}

# Field numbers (onnx/onnx.proto).
_MODEL_GRAPH = 7
_GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT = 5, 11, 12
_TENSOR_NAME = 8
_VALUE_NAME, _VALUE_TYPE = 1, 2
_TYPE_TENSOR = 1
_TENSOR_ELEM_TYPE, _TENSOR_SHAPE = 1, 2
_SHAPE_DIM = 1
_DIM_VALUE = 1

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


class _Malformed(Exception):
    pass


def _varint(handle):
    result, shift = 0, 0
    while True:
        byte = handle.read(1)
        if not byte:
            raise _Malformed("truncated")
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise _Malformed("varint too long")


def _fields(handle, end):
    """(field number, value) of each field up to offset `end`: an int for varints, for length-delimited
    fields the (offset, length) of its bytes; the handle is left after the field whatever the caller read."""
    while handle.tell() < end:
        key = _varint(handle)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            yield number, _varint(handle)
        elif wire in (_FIXED64, _FIXED32):
            handle.seek(8 if wire == _FIXED64 else 4, io.SEEK_CUR)
        elif wire == _LENGTH:
            length = _varint(handle)
            start = handle.tell()
            if start + length > end:
                raise _Malformed("field {} runs past its message".format(number))
            yield number, (start, length)
            handle.seek(start + length)
        else:
            raise _Malformed("wire type {}".format(wire))
    if handle.tell() != end:
        raise _Malformed("a field runs past its message")


def _bytes(handle, span):
    start, length = span
    handle.seek(start)
    data = handle.read(length)
    if len(data) != length:
        raise _Malformed("truncated")
    return data


def _message(data):
    """An in-memory message: (handle, end) for _fields."""
    return io.BytesIO(data), len(data)


def _dims(data):
    handle, end = _message(data)
    dims = []
    for number, value in _fields(handle, end):
        if number == _SHAPE_DIM:
            dim = -1  # dim_param (symbolic) or nothing: unknown
            inner, inner_end = _message(_bytes(handle, value))
            for field, item in _fields(inner, inner_end):
                if field == _DIM_VALUE:
                    dim = item - (1 << 64) if item >= 1 << 63 else item  # int64 two's complement
            dims.append(dim)
    return dims


def _value_info(data):
    """Tensor of a ValueInfoProto (dtype None for a non-tensor type)."""
    handle, end = _message(data)
    name, dtype, dims = "", None, None
    for number, value in _fields(handle, end):
        if number == _VALUE_NAME:
            name = _bytes(handle, value).decode("utf-8")
        elif number == _VALUE_TYPE:
            type_handle, type_end = _message(_bytes(handle, value))
            for field, tensor_span in _fields(type_handle, type_end):
                if field != _TYPE_TENSOR:
                    continue
                tensor_handle, tensor_end = _message(_bytes(type_handle, tensor_span))
                for item, item_value in _fields(tensor_handle, tensor_end):
                    if item == _TENSOR_ELEM_TYPE:
                        dtype = ELEMENT_TYPES.get(item_value, "onnx-type-{}".format(item_value))
                    elif item == _TENSOR_SHAPE:
                        dims = _dims(_bytes(tensor_handle, item_value))
    return Tensor(name, dtype, dims)


def _initializer_name(handle, span):
    start, length = span
    handle.seek(start)
    for number, value in _fields(handle, start + length):
        if number == _TENSOR_NAME:
            return _bytes(handle, value).decode("utf-8")
    return None


def _graph(handle, span):
    start, length = span
    handle.seek(start)
    inputs, outputs, initializers = [], [], set()
    for number, value in _fields(handle, start + length):
        if number == _GRAPH_INPUT:
            inputs.append(_value_info(_bytes(handle, value)))
        elif number == _GRAPH_OUTPUT:
            outputs.append(_value_info(_bytes(handle, value)))
        elif number == _GRAPH_INITIALIZER:
            initializers.add(_initializer_name(handle, value))
    return GraphIO([tensor for tensor in inputs if tensor.name not in initializers], outputs)


# TensorProto fields holding float values, and the numpy dtype of each float data_type.
_TENSOR_DATA_TYPE, _TENSOR_FLOAT_DATA, _TENSOR_RAW_DATA, _TENSOR_DOUBLE_DATA = 2, 4, 9, 10
_FLOAT_TYPES = {1: "<f4", 10: "<f2", 11: "<f8"}


def _float_values(handle, span):
    """(name, numpy array) of a float initializer's values, or None (an integer tensor, external data)."""
    start, length = span
    handle.seek(start)
    name, dtype, chunks = None, None, []
    for number, value in _fields(handle, start + length):
        if number == _TENSOR_NAME:
            name = _bytes(handle, value).decode("utf-8")
        elif number == _TENSOR_DATA_TYPE:
            dtype = _FLOAT_TYPES.get(value)
        elif number in (_TENSOR_RAW_DATA, _TENSOR_FLOAT_DATA, _TENSOR_DOUBLE_DATA):
            chunks.append((number, _bytes(handle, value)))
    if dtype is None:
        return None
    arrays = [np.frombuffer(data, {_TENSOR_FLOAT_DATA: "<f4", _TENSOR_DOUBLE_DATA: "<f8"}.get(number, dtype))
              for number, data in chunks if len(data) % np.dtype(dtype).itemsize == 0]
    return name, (np.concatenate(arrays) if len(arrays) > 1 else arrays[0] if arrays else np.zeros(0, "<f4"))


def float_initializers(path):
    """[(name, numpy array)] of the float weights stored in the ONNX file at `path` (edge.bundle.finite checks them);
    EdgeError when it is not an ONNX model. Reads every weight: about 45 MB for ResNet-18."""
    found = []
    try:
        with open(str(path), "rb") as handle:
            handle.seek(0, io.SEEK_END)
            size = handle.tell()
            handle.seek(0)
            graphs = [value for number, value in _fields(handle, size) if number == _MODEL_GRAPH]
            for start, length in graphs:
                handle.seek(start)
                spans = [value for number, value in _fields(handle, start + length) if number == _GRAPH_INITIALIZER]
                for span in spans:
                    values = _float_values(handle, span)
                    if values is not None:
                        found.append(values)
    except (IOError, OSError) as exc:
        raise EdgeError("cannot read {} ({})".format(path, exc.strerror or exc))
    except (_Malformed, UnicodeDecodeError) as exc:
        raise EdgeError("{} is not a valid ONNX model ({}); re-run edge-export".format(path, exc))
    return found


def graph_io(path):
    """GraphIO of the ONNX model file at `path`; EdgeError when it is not one."""
    try:
        with open(str(path), "rb") as handle:
            handle.seek(0, io.SEEK_END)
            size = handle.tell()
            handle.seek(0)
            graph = None
            for number, value in _fields(handle, size):
                if number == _MODEL_GRAPH:
                    graph = _graph(handle, value)
    except (IOError, OSError) as exc:
        raise EdgeError("cannot read {} ({})".format(path, exc.strerror or exc))
    except (_Malformed, UnicodeDecodeError) as exc:
        raise EdgeError("{} is not a valid ONNX model ({}); re-run edge-export".format(path, exc))
    if graph is None or not graph.outputs:
        raise EdgeError("{} is not a valid ONNX model (no graph with outputs); re-run edge-export".format(path))
    return graph
