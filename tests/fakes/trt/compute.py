"""The numbers an engine computes, with ONNX Runtime on the CPU, per precision:

- fp32: the parsed ONNX as it is.
- fp16 (BuilderFlag.FP16): float weights rounded through float16, and every float tensor (inputs,
  each layer's outputs, the network outputs) rounded to float16: results differ slightly from
  fp32, as a real FP16 engine's do, so a tolerance test means something.
- INT8 explicit (a QDQ network): the QDQ model itself (ONNX Runtime fake-quantizes as TensorRT's
  Q/DQ layers do), with the fp16 rounding too when FP16 is also set.
- INT8 implicit (a calibrator): the fp32 model with each input fake-quantized at its calibrated
  scale: clip(round(x / scale), -128, 127) * scale (symmetric INT8).
"""

import collections
import hashlib

import numpy as np

_MODELS = collections.OrderedDict()   # sha256 -> ONNX bytes of recent builds (plans point at them)
_SESSIONS = collections.OrderedDict()


def remember(sha256, data):
    if data is not None:
        _MODELS[sha256] = data
        _MODELS.move_to_end(sha256)
        while len(_MODELS) > 8:
            _MODELS.popitem(last=False)


def _model_bytes(onnx_record):
    data = _MODELS.get(onnx_record["sha256"])
    if data is None and onnx_record.get("path"):
        with open(onnx_record["path"], "rb") as handle:
            data = handle.read()
        if hashlib.sha256(data).hexdigest() != onnx_record["sha256"]:
            data = None
    if data is None:
        raise RuntimeError("fake TensorRT: the ONNX this engine was built from ({}) is gone; the fake computes "
                           "with it".format(onnx_record.get("path")))
    return data


def _round_fp16(data):
    """The model with float weights rounded through float16 and a float16 round trip after every float tensor."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(data)
    graph = model.graph
    for index, tensor in enumerate(graph.initializer):
        if tensor.data_type == onnx.TensorProto.FLOAT:
            array = numpy_helper.to_array(tensor).astype(np.float16).astype(np.float32)
            graph.initializer[index].CopyFrom(numpy_helper.from_array(array, tensor.name))
    inferred = onnx.shape_inference.infer_shapes(model)
    types = dict((v.name, v.type.tensor_type.elem_type) for v in
                 list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output))
    nodes, renamed = [], {}

    def round_trip(source, target):
        return [helper.make_node("Cast", [source], [target + "__fp16"], to=onnx.TensorProto.FLOAT16),
                helper.make_node("Cast", [target + "__fp16"], [target], to=onnx.TensorProto.FLOAT)]

    initializers = set(t.name for t in graph.initializer)
    for value in graph.input:
        if value.name not in initializers and types.get(value.name) == onnx.TensorProto.FLOAT:
            renamed[value.name] = value.name + "__rounded"
            nodes += round_trip(value.name, renamed[value.name])
    for node in graph.node:
        node.input[:] = [renamed.get(name, name) for name in node.input]
        outputs = list(node.output)
        extra = []
        for position, name in enumerate(outputs):
            if types.get(name) == onnx.TensorProto.FLOAT and node.op_type != "Constant":
                node.output[position] = name + "__fp32"
                extra += round_trip(name + "__fp32", name)
        nodes += [node] + extra
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    return model.SerializeToString()


def _session(record, mode):
    import onnxruntime as ort

    key = (record["onnx"]["sha256"], mode)
    if key not in _SESSIONS:
        data = _model_bytes(record["onnx"])
        if mode == "fp16":
            data = _round_fp16(data)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL   # no int8 kernel fusion
        _SESSIONS[key] = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        while len(_SESSIONS) > 8:
            _SESSIONS.popitem(last=False)
    return _SESSIONS[key]


def fake_quantize(values, scale):
    if scale <= 0:   # a calibration that saw only zeros
        return np.zeros_like(values)
    return (np.clip(np.round(values / scale), -128, 127) * scale).astype(values.dtype)


def run(record, feeds):
    """Outputs (in the engine's output order) for `feeds` {input name: array of the engine's dtype}."""
    flags = record["flags"]
    mode = "fp16" if "FP16" in flags else "fp32"
    calibration = record.get("calibration")
    if "INT8" in flags and calibration is not None:
        scales = calibration.get("scales") or {}
        feeds = dict((name, fake_quantize(value, scales[name]) if name in scales and value.dtype.kind == "f" else value)
                     for name, value in feeds.items())
    session = _session(record, mode)
    wanted = [name for name, _, _ in record["outputs"]]
    results = session.run(wanted, feeds)
    if mode == "fp16":
        results = [r.astype(np.float16).astype(r.dtype) if r.dtype == np.float32 else r for r in results]
    return results


_SHAPES = {}


def output_shapes(record, input_shapes):
    """{output name: dims} for concrete `input_shapes` {name: dims}, by ONNX shape inference."""
    import onnx

    key = (record["onnx"]["sha256"], tuple(sorted((k, tuple(v)) for k, v in input_shapes.items())))
    if key not in _SHAPES:
        model = onnx.load_from_string(_model_bytes(record["onnx"]))
        for info in model.graph.input:
            if info.name in input_shapes:
                for dim, value in zip(info.type.tensor_type.shape.dim, input_shapes[info.name]):
                    dim.ClearField("dim_param")
                    dim.dim_value = int(value)
        for info in model.graph.output:
            for dim in info.type.tensor_type.shape.dim:   # let inference fill the dynamic ones
                if not dim.HasField("dim_value"):
                    dim.ClearField("dim_param")
        inferred = onnx.shape_inference.infer_shapes(model)
        found = {}
        for info in inferred.graph.output:
            found[info.name] = tuple(d.dim_value if d.HasField("dim_value") else -1
                                     for d in info.type.tensor_type.shape.dim)
        _SHAPES[key] = found
    return _SHAPES[key]
