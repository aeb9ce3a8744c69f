"""The KServe v2 inference request and response, with Triton's binary tensor data extension.

A request is a JSON object, optionally followed by raw tensor bytes; the header
`Inference-Header-Content-Length` says where the JSON ends:

    {"id": "7", "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32],
                            "data": [...]                       (row-major, flat or nested)
                            or "parameters": {"binary_data_size": 12288}}],   (bytes after the JSON)
     "outputs": [{"name": "logits", "parameters": {"binary_data": true, "classification": 3}}],
     "parameters": {"binary_data_output": true}}

Binary data is little-endian, row-major, without padding. The response names each output's
datatype and shape and carries its data as JSON, or as binary data after the JSON when asked
(`binary_data` for one output, `binary_data_output` for all). With `classification: k` an output
comes back as Triton's classification extension gives it: BYTES of shape [N, k], each element
"value:index:label", best first.

Everything a client can get wrong is a RequestError(400) saying what the model takes.
"""

import json
import struct

import numpy as np

from edge.serve.errors import RequestError

# KServe v2 datatypes of the tensors a bundle's model takes and gives.
DATATYPES = {"FP32": np.float32, "UINT8": np.uint8}


class TensorSpec(object):
    """One model tensor as KServe describes it: name, datatype, shape after the batch axis."""

    def __init__(self, name, datatype, item_shape):
        self.name = name
        self.datatype = datatype
        self.dtype = np.dtype(DATATYPES[datatype])
        self.item_shape = tuple(int(dim) for dim in item_shape)

    @property
    def shape(self):
        """The KServe shape: -1 for the batch axis."""
        return [-1] + list(self.item_shape)

    def metadata(self):
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape}

    def describe(self):
        """'input' FP32 [N,3,32,32]: what an error message says the model takes."""
        return "'{}' {} [N,{}]".format(self.name, self.datatype, ",".join(str(dim) for dim in self.item_shape))


class InferRequest(object):
    """A parsed request: its id, the input rows, and for the output, binary or not and the classification count."""

    def __init__(self, request_id, rows, binary_output, classification):
        self.id = request_id
        self.rows = rows
        self.binary_output = binary_output
        self.classification = classification


def parse_request(body, header_length, model_input, model_output):
    """An InferRequest from a request body; `header_length` is Inference-Header-Content-Length (or None)."""
    json_part, binary = _split(body, header_length)
    try:
        document = json.loads(json_part.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError(400, "the request is not a JSON object ({})".format(exc))
    except RecursionError:   # json.loads recurses once per nesting level
        raise RequestError(400, "the request's JSON is nested too deeply")
    if not isinstance(document, dict):
        raise RequestError(400, "the request is not a JSON object")
    return parse_document(document, binary, model_input, model_output)


def parse_document(document, binary, model_input, model_output):
    """An InferRequest from a request's JSON object and the binary data after it (the gRPC front end builds the
    same object from its message, so both protocols check a request alike)."""
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise RequestError(400, "'inputs' must list the model's one input, {}".format(model_input.describe()))
    rows, used = _input_rows(inputs[0], binary, model_input)
    if used != len(binary):
        raise RequestError(400, "{} bytes of binary data follow the JSON, the inputs' binary_data_size account for "
                                "{}".format(len(binary), used))
    parameters = _mapping(document.get("parameters"), "the request's 'parameters'")
    binary_output = parameters.get("binary_data_output", False)
    classification = 0
    outputs = document.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list) or any(not isinstance(item, dict) for item in outputs):
            raise RequestError(400, "'outputs' must be a list of {\"name\": ...} objects")
        for item in outputs:
            if item.get("name") != model_output.name:
                raise RequestError(400, "unknown output {!r}: the model gives {}".format(
                    item.get("name"), model_output.describe()))
            wanted = _mapping(item.get("parameters"), "an output's 'parameters'")
            _refuse_shared_memory(wanted)
            binary_output = wanted.get("binary_data", binary_output)
            classification = wanted.get("classification", 0)
            if not _is_int(classification) or classification < 0:
                raise RequestError(400, "'classification' must be a whole number of classes, got {!r}".format(
                    classification))
    if not isinstance(binary_output, bool):
        raise RequestError(400, "'binary_data' and 'binary_data_output' must be true or false")
    request_id = document.get("id")
    return InferRequest(request_id if isinstance(request_id, str) else None, rows, binary_output, classification)


def encode_response(model_name, model_version, request, logits, output, classes):
    """(body bytes, Content-Type, more headers) of the answer: JSON, with the output's binary data after it if asked."""
    tensor, datatype, shape = output_tensor(request, logits, output, classes)
    entry = {"name": output.name, "datatype": datatype, "shape": shape}
    raw = b""
    if request.binary_output:
        raw = raw_bytes(tensor, datatype)
        entry["parameters"] = {"binary_data_size": len(raw)}
    else:
        entry["data"] = [item for row in tensor for item in row] if datatype == "BYTES" else tensor.ravel().tolist()
    document = {"model_name": model_name, "model_version": model_version, "outputs": [entry]}
    if request.id is not None:
        document["id"] = request.id
    head = json.dumps(document).encode("utf-8")
    if not request.binary_output:
        return head, "application/json", ()
    return head + raw, "application/octet-stream", (("Inference-Header-Content-Length", str(len(head))),)


def output_tensor(request, logits, output, classes):
    """(tensor, datatype, shape) answering `request`: the logits, or the classification extension's rows."""
    if request.classification:
        tensor = _classification(logits, classes, request.classification)
        return tensor, "BYTES", [int(logits.shape[0]), len(tensor[0])]
    return logits.astype(np.float32), output.datatype, [int(dim) for dim in logits.shape]


def raw_bytes(tensor, datatype):
    """An output tensor as binary data: little-endian FP32, or length-prefixed BYTES elements."""
    return _bytes_tensor(tensor) if datatype == "BYTES" else np.ascontiguousarray(tensor, dtype="<f4").tobytes()


# ----- the pieces -------------------------------------------------------------------------------
def _split(body, header_length):
    if header_length is None:
        return body, b""
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 <= length <= len(body):
        raise RequestError(400, "Inference-Header-Content-Length {!r} does not fit a body of {} bytes".format(
            header_length, len(body)))
    return body[:length], body[length:]


def _mapping(value, what):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(400, "{} must be a JSON object".format(what))
    return value


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _refuse_shared_memory(parameters):
    if any(key.startswith("shared_memory") for key in parameters):
        raise RequestError(400, "shared memory tensors are not supported: send the data in the request")


def _input_rows(tensor, binary, spec):
    """(rows as the model's dtype and shape, binary bytes used) for one request input."""
    expected = "the model takes {}".format(spec.describe())
    if tensor.get("name") != spec.name:
        raise RequestError(400, "unknown input {!r}: {}".format(tensor.get("name"), expected))
    datatype, shape = tensor.get("datatype"), tensor.get("shape")
    if datatype != spec.datatype:
        raise RequestError(400, "input {!r} is {}: {}".format(spec.name, datatype, expected))
    if (not isinstance(shape, list) or len(shape) != len(spec.item_shape) + 1 or not all(_is_int(d) for d in shape)
            or tuple(shape[1:]) != spec.item_shape or shape[0] < 1):
        raise RequestError(400, "input {!r} has shape {}: {}".format(spec.name, json.dumps(shape), expected))
    count = int(np.prod(shape))
    parameters = _mapping(tensor.get("parameters"), "the input's 'parameters'")
    _refuse_shared_memory(parameters)
    if "binary_data_size" in parameters:
        size = parameters["binary_data_size"]
        wanted = count * spec.dtype.itemsize
        if not _is_int(size) or size != wanted:
            raise RequestError(400, "input {!r}: binary_data_size {!r}, but {} {} takes {} bytes".format(
                spec.name, size, spec.datatype, json.dumps(shape), wanted))
        if size > len(binary):
            raise RequestError(400, "input {!r}: binary_data_size {} but only {} bytes follow the JSON".format(
                spec.name, size, len(binary)))
        rows = np.frombuffer(binary, dtype=spec.dtype.newbyteorder("<"), count=count).astype(spec.dtype)
        return _finite(rows.reshape(shape), spec), size
    if "data" not in tensor:
        raise RequestError(400, "input {!r} has neither 'data' nor binary_data_size".format(spec.name))
    return _finite(_json_rows(tensor["data"], shape, spec, expected), spec), 0


def _finite(rows, spec):
    """rows, or RequestError 400 when they hold NaN or an infinity (no model answers those meaningfully)."""
    if rows.dtype.kind == "f" and not np.isfinite(rows).all():
        raise RequestError(400, "input {!r} holds NaN or infinite values: send finite numbers".format(spec.name))
    return rows


def _json_rows(data, shape, spec, expected):
    try:
        values = np.array(data, dtype=np.float64)
    except (TypeError, ValueError, RecursionError):
        raise RequestError(400, "input {!r}: 'data' must be numbers (a flat or nested list); {}".format(
            spec.name, expected))
    if values.size != int(np.prod(shape)):
        raise RequestError(400, "input {!r}: 'data' holds {} values, shape {} needs {}".format(
            spec.name, values.size, json.dumps(shape), int(np.prod(shape))))
    if spec.dtype == np.uint8 and (np.any(values != np.round(values)) or values.min() < 0 or values.max() > 255):
        raise RequestError(400, "input {!r}: UINT8 values must be whole numbers from 0 to 255".format(spec.name))
    with np.errstate(over="ignore"):   # a value beyond FP32's range becomes an infinity: refused by _finite
        return values.reshape(shape).astype(spec.dtype)


def _classification(logits, classes, count):
    """Triton's classification extension: per row, the `count` best as "value:index:label"."""
    count = min(count, logits.shape[1])
    rows = []
    for row in logits:
        order = np.argsort(-row, kind="stable")[:count]
        rows.append(["{:f}:{}:{}".format(float(row[i]), int(i), classes[i]) for i in order])
    return rows


def _bytes_tensor(rows):
    """BYTES elements as binary data: each a 4-byte little-endian length, then its bytes."""
    parts = []
    for row in rows:
        for item in row:
            data = item.encode("utf-8")
            parts.append(struct.pack("<I", len(data)) + data)
    return b"".join(parts)
