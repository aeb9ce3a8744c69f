"""The raw-image twin of an ONNX model: the same graph with the bundle's photometric preprocessing in front.

    write_image_graph(model.onnx, image.onnx, "input", spec, fused) -> the twin takes UINT8 [N,H,W,3]

The twin takes what image clients send (Triton's image_client.py with -s NONE): uint8 RGB pixels,
height x width x channels, already at the model's size (resizing and cropping stay with the client).
In front of the model it does what edge.bundle.preprocess.normalize_batch does on the host, with the
same float32 arithmetic: Cast, the colour order the model wants, NHWC -> NCHW, (x - mean*255) / (std*255).
A fused model normalises in its graph already but takes BGR: its twin only reverses the
channels. Needs the onnx package (imported here, lazily); Python 3.6 compatible.
"""

import numpy as np

from edge.bundle.bundle import image_shape
from edge.bundle.schema import INPUT_UINT8
from edge.triton.config import ModelConfig, TensorConfig, image_layout
from edge.triton.names import image_name
from edge.util.lazy import require

PURPOSE = "the raw-image models of --triton-repo"
_PREFIX = "edge_image_"


def image_config(bundle, config):
    """The ModelConfig of the twin of the model `config` describes (a bundle's ONNX model), or None when its
    inputs are not the bundle's one image input. The input keeps its name and becomes TYPE_UINT8 [H,W,3]
    FORMAT_NHWC; outputs and batching are the model's."""
    inputs = config.inputs
    if len(inputs) != 1 or inputs[0].name != bundle.input_name:
        return None
    pixels = bundle.item_shape(INPUT_UINT8)
    dims = pixels if config.max_batch_size > 0 else list(inputs[0].dims[:1]) + pixels
    comments = config.comments + ["{}: the input is UINT8 RGB pixels (height, width, channels) at the model's size; "
                                  "the graph normalises them as edge-predict does".format(image_name(config.name))]
    return ModelConfig(image_name(config.name), config.platform, config.backend, config.max_batch_size,
                       [TensorConfig(inputs[0].name, "TYPE_UINT8", dims, None, image_layout(True, dims))],
                       config.outputs,
                       config.max_queue_delay_us, comments)


def write_image_graph(source, target, input_name, spec, fused):
    """Write to `target` the twin of the ONNX model at `source` whose input `input_name` it replaces."""
    onnx = require("onnx", PURPOSE)
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(source)
    graph = model.graph
    index = [position for position, tensor in enumerate(graph.input) if tensor.name == input_name][0]
    batch = graph.input[index].type.tensor_type.shape.dim[0]
    inner = _PREFIX + "model_input"
    for node in graph.node:
        node.input[:] = [inner if name == input_name else name for name in node.input]
    image = helper.make_tensor_value_info(input_name, TensorProto.UINT8,
                                          [batch.dim_param or batch.dim_value] + image_shape(spec.size, INPUT_UINT8))
    reverse = numpy_helper.from_array(np.array([2, 1, 0], dtype=np.int64), _PREFIX + "reverse")
    initializers, nodes = [reverse], []
    if fused:   # the fused graph takes BGR uint8 NHWC
        nodes.append(helper.make_node("Gather", [input_name, reverse.name], [inner], axis=3))
    else:
        offset = np.asarray(spec.mean, dtype=np.float32).reshape(1, 3, 1, 1) * np.float32(255.0)
        scale = np.asarray(spec.std, dtype=np.float32).reshape(1, 3, 1, 1) * np.float32(255.0)
        initializers += [numpy_helper.from_array(offset.astype(np.float32), _PREFIX + "offset"),
                         numpy_helper.from_array(scale.astype(np.float32), _PREFIX + "scale")]
        nodes.append(helper.make_node("Cast", [input_name], [_PREFIX + "float"], to=TensorProto.FLOAT))
        channels = _PREFIX + "float"
        if spec.color_order == "BGR":
            nodes.append(helper.make_node("Gather", [channels, reverse.name], [_PREFIX + "bgr"], axis=3))
            channels = _PREFIX + "bgr"
        nodes += [helper.make_node("Transpose", [channels], [_PREFIX + "nchw"], perm=[0, 3, 1, 2]),
                  helper.make_node("Sub", [_PREFIX + "nchw", _PREFIX + "offset"], [_PREFIX + "centred"]),
                  helper.make_node("Div", [_PREFIX + "centred", _PREFIX + "scale"], [inner])]
    graph.input.remove(graph.input[index])
    graph.input.insert(index, image)
    graph.initializer.extend(initializers)
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + existing)
    onnx.checker.check_model(model)
    onnx.save(model, target)
