"""A Triton model configuration (`config.pbtxt`) as plain values, written in protobuf text format by hand.

The device has no protobuf package, and a configuration is a handful of fields, so `config_text`
writes the text format of Triton's `inference.ModelConfig` (model_config.proto) itself; the tests
parse every file it writes with the protobuf message that tritonclient ships.

Batching follows what Triton's backends check when they load a model: with `max_batch_size` > 0
every input and output of the model must have a dynamic first axis, and `dims` leave it out;
otherwise `max_batch_size` is 0 and `dims` are the model's full shape, batch axis included.
Python 3.6 compatible.
"""

from collections import namedtuple

# numpy dtype names (edge.bundle.onnx_io) -> Triton's DataType names.
TRITON_TYPES = {"float32": "TYPE_FP32", "uint8": "TYPE_UINT8", "int8": "TYPE_INT8", "uint16": "TYPE_UINT16",
                "int16": "TYPE_INT16", "int32": "TYPE_INT32", "int64": "TYPE_INT64", "string": "TYPE_STRING",
                "bool": "TYPE_BOOL", "float16": "TYPE_FP16", "float64": "TYPE_FP64", "uint32": "TYPE_UINT32",
                "uint64": "TYPE_UINT64", "bfloat16": "TYPE_BF16"}

# name, Triton DataType name, dims as the configuration states them; label_file: None or the file name
# (in the model's folder) of the labels for this output, one per line in output-index order.
TensorConfig = namedtuple("TensorConfig", "name data_type dims label_file")


class ModelConfig(object):
    """What one model's config.pbtxt says.

    platform/backend: those of the runtime that runs the model file (edge.runners.registry.triton_platform).
    max_queue_delay_us: None for no dynamic batching, else the batcher's delay in microseconds.
    comments: lines written at the top of the file, after '# '.
    """

    def __init__(self, name, platform, backend, max_batch_size, inputs, outputs, max_queue_delay_us=None,
                 comments=()):
        self.name = name
        self.platform = platform
        self.backend = backend
        self.max_batch_size = int(max_batch_size)
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.max_queue_delay_us = max_queue_delay_us
        self.comments = list(comments)


class NoTritonShape(ValueError):
    """The model's tensors cannot be stated in a Triton configuration (the message says why)."""


def batching(tensors, batch_range):
    """(max_batch_size, [dims as the configuration states them]) for the model's `tensors` (edge.bundle.onnx_io.Tensor).

    batch_range: the (min, opt, max) images the model was verified with (an engine: built for).
    Triton batches only when every tensor's first axis is dynamic and batches of 1 are allowed.
    """
    low, _, high = batch_range
    for tensor in tensors:
        if tensor.dims is None:
            raise NoTritonShape("{!r} has no shape in the model file".format(tensor.name))
    dynamic = all(tensor.dims and tensor.dims[0] == -1 for tensor in tensors)
    if dynamic and int(low) == 1:
        return int(high), [list(tensor.dims[1:]) for tensor in tensors]
    return 0, [list(tensor.dims) for tensor in tensors]


def data_type(dtype):
    if dtype not in TRITON_TYPES:
        raise NoTritonShape("element type {} has no Triton data type".format(dtype))
    return TRITON_TYPES[dtype]


# ----------------------------------------------------------------------------- text format

def quote(text):
    """A protobuf text-format string literal of `text` (UTF-8): quotes, backslashes and every byte outside
    printable ASCII escaped."""
    escaped = []
    for byte in text.encode("utf-8"):
        if byte in (0x22, 0x5C):
            escaped.append("\\" + chr(byte))
        elif byte == 0x0A:
            escaped.append("\\n")
        elif byte < 0x20 or byte >= 0x7F:
            escaped.append("\\{:03o}".format(byte))
        else:
            escaped.append(chr(byte))
    return '"' + "".join(escaped) + '"'


def _tensor_lines(tensors):
    lines = []
    for index, tensor in enumerate(tensors):
        lines += ["  {",
                  "    name: {}".format(quote(tensor.name)),
                  "    data_type: {}".format(tensor.data_type),
                  "    dims: [ {} ]".format(", ".join(str(int(d)) for d in tensor.dims))]
        if tensor.label_file:
            lines.append("    label_filename: {}".format(quote(tensor.label_file)))
        lines.append("  }," if index < len(tensors) - 1 else "  }")
    return lines


def config_text(config):
    """The config.pbtxt text of `config` (a ModelConfig)."""
    lines = ["# " + line for line in config.comments]
    lines += ["name: {}".format(quote(config.name)),
              "platform: {}".format(quote(config.platform)),
              "backend: {}".format(quote(config.backend)),
              "max_batch_size: {}".format(config.max_batch_size),
              "input ["] + _tensor_lines(config.inputs) + ["]", "output ["] + _tensor_lines(config.outputs) + ["]"]
    if config.max_queue_delay_us is not None:
        lines += ["dynamic_batching {",
                  "  max_queue_delay_microseconds: {}".format(int(config.max_queue_delay_us)),
                  "}"]
    return "\n".join(lines) + "\n"
