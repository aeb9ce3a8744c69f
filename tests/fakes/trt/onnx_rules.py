"""What each generation's ONNX parser refuses, checked on the model with the `onnx` package.

Sources, onnx/onnx-tensorrt (branches 8.2-GA, 8.6-GA, 10.1-GA) unless said:
- Data types of network inputs/outputs: onnx2trt_utils.cpp convertDtype. 8.x: INT64 -> INT32,
  DOUBLE -> FLOAT, anything else unknown (UINT8 on 8.x) fails; stderr says "Unsupported ONNX data
  type: UINT8 (2)" (onnx/onnx-tensorrt#400) and the error "Failed to convert ONNX date type to
  TensorRT data type."
- UINT8 on 8.6/10.x (ModelImporter.cpp; NVIDIA/TensorRT#3985; 10.x docs/operators.md "UINT8 is
  only supported as network input or output tensor types"): a node whose TensorRT output is UINT8
  must be a graph output, else "TensorRT does not support UINT8 types for intermediate
  tensors!". A UINT8 network input may only feed a Cast to FLOAT or FLOAT16 (ICastLayer).
- QuantizeLinear/DequantizeLinear (QuantDequantLinearHelper): 8.x needs the 3 inputs; scales must
  be positive; zero points int8 zeros (docs/operators.md: "must be 0"). On 8.x an INT8
  initializer read directly by DequantizeLinear fails with "<name>: invalid weights type of
  Int8" (NVIDIA/TensorRT#2163 on 8.4, microsoft/onnxruntime#11535); 10.x accepts it.
- Operators: docs/operators.md (operators.py); opsets above the generation's maximum are refused.
"""

import hashlib

import numpy as np

from tests.fakes.trt.operators import OPERATORS

UINT8_INTERMEDIATE = "TensorRT does not support UINT8 types for intermediate tensors!"
SYMMETRIC = ("Assertion failed: TRT only supports symmetric INT8 quantization - zero point must be all zeros of "
             "type int8")


class ParseFailure(Exception):
    def __init__(self, code, desc, node=-1, node_name="", node_operator="", stderr=None):
        super(ParseFailure, self).__init__(desc)
        self.code, self.desc, self.node, self.node_name, self.node_operator = code, desc, node, node_name, node_operator
        self.stderr = stderr


def trt_type(onnx_type, table):
    """The TensorRT DataType name for an ONNX elem_type, or None where convertDtype fails."""
    names = {1: "FLOAT", 10: "FLOAT16", 3: "INT8", 6: "INT32", 9: "BOOL", 7: "INT64", 11: "DOUBLE", 2: "UINT8"}
    name = names.get(onnx_type)
    if name == "FLOAT16":
        return "HALF"
    if name == "DOUBLE":
        return "FLOAT"
    if name == "INT64":
        return "INT32" if table["int64_io_as_int32"] else "INT64"
    if name == "UINT8" and not table["uint8_inputs"]:
        return None
    return name if name in table["data_types"] else None


def _onnx_type_name(elem_type):
    import onnx
    return onnx.TensorProto.DataType.Name(elem_type)


def _io(values, initializers, table):
    tensors = []
    for info in values:
        if info.name in initializers:
            continue
        elem = info.type.tensor_type.elem_type
        name = trt_type(elem, table)
        if name is None:
            raise ParseFailure("UNSUPPORTED_NODE", "Unsupported ONNX data type: {} ({}); Failed to convert ONNX date "
                               "type to TensorRT data type.".format(_onnx_type_name(elem), elem),
                               stderr="Unsupported ONNX data type: {} ({})".format(_onnx_type_name(elem), elem))
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in info.type.tensor_type.shape.dim]
        tensors.append((info.name, dims, name))
    return tensors


def _constants(model):
    """{tensor name: numpy array} of initializers and Constant node outputs."""
    from onnx import numpy_helper

    found = dict((t.name, numpy_helper.to_array(t)) for t in model.graph.initializer)
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    found[node.output[0]] = numpy_helper.to_array(attribute.t)
    return found


def _types(model):
    """{tensor name: ONNX elem_type} from shape inference (inputs, outputs, intermediates, initializers)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    found = dict((t.name, t.data_type) for t in model.graph.initializer)
    for info in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        if info.type.HasField("tensor_type"):
            found[info.name] = info.type.tensor_type.elem_type
    return found


def _check_qdq(node, index, constants, initializer_names, table):
    def fail(desc, code="INVALID_NODE"):
        raise ParseFailure(code, desc, index, node.name, node.op_type)

    if table["qdq_zero_point_required"] and len(node.input) != 3:
        fail("This version of TensorRT requires 3 inputs for the INT8 QuantizeLinear/DequantizeLinear operator.")
    scale = constants.get(node.input[1]) if len(node.input) > 1 else None
    if scale is not None and not (np.asarray(scale) > 0).all():
        fail("Scale coefficients must all be positive")
    if len(node.input) > 2 and node.input[2]:
        zero = constants.get(node.input[2])
        if zero is None or zero.dtype != np.int8 or zero.any():
            fail(SYMMETRIC)
    data = constants.get(node.input[0])
    if (node.op_type == "DequantizeLinear" and data is not None and data.dtype == np.int8
            and not table["int8_weight_initializers_allowed"]):
        fail("{}: invalid weights type of Int8".format(node.input[0]), "UNSUPPORTED_NODE")


def _check_uint8(node, index, types, uint8_inputs, graph_outputs, table):
    def fail(desc):
        raise ParseFailure("UNSUPPORTED_NODE", desc, index, node.name, node.op_type)

    if not table["uint8_inputs"]:
        if node.op_type == "Cast" and _cast_to(node) == 2:
            fail("Unsupported data type for the Cast operator!")
        return
    if any(name in uint8_inputs for name in node.input):
        if node.op_type != "Cast" or _cast_to(node) not in (1, 10):
            fail(UINT8_INTERMEDIATE)
    for output in node.output:
        if types.get(output) == 2 and node.op_type != "QuantizeLinear" and output not in graph_outputs:
            fail(UINT8_INTERMEDIATE)


def _cast_to(node):
    for attribute in node.attribute:
        if attribute.name == "to":
            return attribute.i
    return None


def check(data, table):
    """Parse `data` (ONNX bytes) as `table`'s parser would: a dict describing the network, or ParseFailure."""
    import onnx

    try:
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
    except Exception as exc:   # DecodeError, ValidationError: whatever onnx says
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ParseFailure("MODEL_DESERIALIZE_FAILED", "Failed to parse ONNX model: {}".format(text))
    opset = max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] or [0])
    if opset > table["max_opset"]:
        raise ParseFailure("UNSUPPORTED_GRAPH", "This version of the ONNX parser supports opsets up to {}; the model "
                           "uses opset {}".format(table["max_opset"], opset))
    initializer_names = set(t.name for t in model.graph.initializer)
    inputs = _io(model.graph.input, initializer_names, table)
    types = _types(model)
    constants = _constants(model)
    uint8_inputs = set(name for name, _, dtype in inputs if dtype == "UINT8")
    graph_outputs = set(o.name for o in model.graph.output)
    supported = OPERATORS[table["column"]]
    for index, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx") or node.op_type not in supported:
            raise ParseFailure("UNSUPPORTED_NODE", "No importer registered for op: {}".format(node.op_type),
                               index, node.name, node.op_type)
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            _check_qdq(node, index, constants, initializer_names, table)
        _check_uint8(node, index, types, uint8_inputs, graph_outputs, table)
    outputs = _io(model.graph.output, initializer_names, table)
    return {"inputs": inputs, "outputs": outputs, "opset": opset, "ops": [n.op_type for n in model.graph.node],
            "qdq": any(n.op_type == "QuantizeLinear" for n in model.graph.node),
            "sha256": hashlib.sha256(data).hexdigest()}


def activation_bytes(data, shapes, itemsize):
    """Bytes of every intermediate tensor for input `shapes` {name: dims}, plus 256 KiB: the engine's
    activation memory (an over-estimate: TensorRT reuses memory between layers)."""
    import onnx

    model = onnx.load_from_string(data)
    for info in model.graph.input:
        if info.name in shapes:
            for dim, value in zip(info.type.tensor_type.shape.dim, shapes[info.name]):
                dim.ClearField("dim_param")
                dim.dim_value = int(value)
    inferred = onnx.shape_inference.infer_shapes(model)
    total = 0
    for info in inferred.graph.value_info:
        dims = [d.dim_value for d in info.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            total += int(np.prod(dims)) * itemsize
    return total + (256 << 10)   # plus a fixed scratch for tactics
