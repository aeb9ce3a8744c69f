"""A Triton model configuration (`config.pbtxt`) as plain values, written in protobuf text format by hand.

The device has no protobuf package, and a configuration is a handful of fields, so `config_json`
states them as Triton's JSON form of `inference.ModelConfig` (model_config.proto) and `config_text`
writes that in protobuf text format itself; the tests parse every file it writes, and edge-serve's
configuration route, with the protobuf message that tritonclient ships.

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

# Triton's ModelInput.Format of an image input: what image clients (Triton's image_client.py) read to lay out
# the pixels they send. FORMAT_NCHW: the float tensor (normalised, channels first); FORMAT_NHWC: uint8
# pixels (height, width, channels).
FORMAT_NCHW = "FORMAT_NCHW"
FORMAT_NHWC = "FORMAT_NHWC"


def image_layout(pixels, dims):
    """The format of an image input with configuration `dims`: FORMAT_NHWC for pixels (`pixels` True: uint8, or a
    TensorRT 8.2 engine's float32),
    FORMAT_NCHW for the float tensor; None when `dims` are not 3 (a model without batching states its full shape,
    and Triton refuses a format there: "model input NHWC/NCHW require 3 dims")."""
    if len(dims) != 3:
        return None
    return FORMAT_NHWC if pixels else FORMAT_NCHW

# name, Triton DataType name, dims as the configuration states them; label_file: None or the file name
# (in the model's folder) of the labels for this output, one per line in output-index order; format:
# None, or an image input's FORMAT_NCHW / FORMAT_NHWC.
TensorConfig = namedtuple("TensorConfig", "name data_type dims label_file format")
TensorConfig.__new__.__defaults__ = (None, None)   # label_file, format (namedtuple's defaults= is Python 3.7+)


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


# Fields whose values are enum names (written bare in text format, as strings in JSON).
ENUM_FIELDS = ("data_type", "format")


def _tensor_json(tensor):
    fields = {"name": tensor.name, "data_type": tensor.data_type, "dims": [int(d) for d in tensor.dims]}
    if tensor.label_file:
        fields["label_filename"] = tensor.label_file
    if tensor.format:
        fields["format"] = tensor.format
    return fields


def config_json(config):
    """What `config` (a ModelConfig) sets, as Triton's JSON form of model_config.proto (field names as in the
    proto, enums by name, int64 as numbers, as Triton's HTTP configuration route gives them). The one home of
    the configuration's content: config_text writes this, edge-serve's configuration route serves it."""
    fields = {"name": config.name, "platform": config.platform, "backend": config.backend,
              "max_batch_size": config.max_batch_size,
              "input": [_tensor_json(tensor) for tensor in config.inputs],
              "output": [_tensor_json(tensor) for tensor in config.outputs]}
    if config.max_queue_delay_us is not None:
        fields["dynamic_batching"] = {"max_queue_delay_microseconds": int(config.max_queue_delay_us)}
    return fields


FIELD_ORDER = ("name", "platform", "backend", "max_batch_size", "input", "output", "dynamic_batching",
               "data_type", "format", "dims", "label_filename")


def _ordered(fields):
    return sorted(fields.items(), key=lambda item: (FIELD_ORDER.index(item[0]) if item[0] in FIELD_ORDER
                                                    else len(FIELD_ORDER), item[0]))


def _scalar(key, value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return value if key in ENUM_FIELDS else quote(value)


def _text_lines(fields, indent):
    """Protobuf text-format lines of a config_json dict."""
    pad, lines = "  " * indent, []
    for key, value in _ordered(fields):
        if isinstance(value, dict):
            lines += [pad + key + " {"] + _text_lines(value, indent + 1) + [pad + "}"]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(pad + key + " [")
            for index, item in enumerate(value):
                lines += [pad + "  {"] + _text_lines(item, indent + 2)
                lines.append(pad + ("  }," if index < len(value) - 1 else "  }"))
            lines.append(pad + "]")
        elif isinstance(value, list):
            lines.append("{}{}: [ {} ]".format(pad, key, ", ".join(_scalar(key, item) for item in value)))
        else:
            lines.append("{}{}: {}".format(pad, key, _scalar(key, value)))
    return lines


def config_text(config):
    """The config.pbtxt text of `config` (a ModelConfig): config_json in protobuf text format."""
    lines = ["# " + line for line in config.comments]
    return "\n".join(lines + _text_lines(config_json(config), 0)) + "\n"
