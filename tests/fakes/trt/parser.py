"""OnnxParser, ParserError and the network they fill (python/src/parsers/pyOnnx.cpp; rules in onnx_rules).

parse() / parse_from_file() return False and keep ParserErrors (methods, not properties:
code() desc() file() line() func() node(), plus node_name() node_operator() from 10.x). 8.x
parsers need an EXPLICIT_BATCH network (onnx-tensorrt 8.2-GA ModelImporter.cpp).
"""

from tests.fakes.trt.onnx_rules import ParseFailure, check


class TensorImpl(object):
    """ITensor of a parsed network: name, shape (-1 for a dynamic axis), dtype."""

    def __init__(self, name, shape, dtype):
        self._name, self._shape, self._dtype = name, tuple(shape), dtype

    name = property(lambda self: self._name)
    shape = property(lambda self: self._state.Dims(self._shape))
    dtype = property(lambda self: self._dtype)


class NetworkImpl(object):
    """INetworkDefinition, as far as an ONNX parser fills it."""

    def __init__(self, flags):
        self._flags, self._inputs, self._outputs, self._onnx, self._data = int(flags), [], [], None, None
        self._name = "network"

    flags = property(lambda self: self._flags)
    name = property(lambda self: self._name)
    num_inputs = property(lambda self: len(self._inputs))
    num_outputs = property(lambda self: len(self._outputs))
    num_layers = property(lambda self: len(self._onnx["ops"]) if self._onnx else 0)

    def get_input(self, index):
        return self._inputs[index]

    def get_output(self, index):
        return self._outputs[index]

    def _has_flag(self, name):
        flag = getattr(self._state.trt.NetworkDefinitionCreationFlag, name, None)
        return flag is not None and bool(self._flags & (1 << int(flag)))


class ParserErrorImpl(object):
    """One parser error; its fields are methods, as in pyOnnx.cpp."""

    def __init__(self, failure):
        self._failure = failure

    def code(self):
        return getattr(self._state.trt.ErrorCode, self._failure.code)

    def desc(self):
        return self._failure.desc

    def file(self):
        return "ModelImporter.cpp"

    def line(self):
        return 0

    def func(self):
        return "parseGraph"

    def node(self):
        return self._failure.node

    def node_name(self):
        return self._failure.node_name

    def node_operator(self):
        return self._failure.node_operator

    def __str__(self):
        return "In node {} ({}): {}: {}".format(self.node(), self.func(), self._failure.code, self.desc())


class OnnxParserImpl(object):
    """OnnxParser(network, logger)."""

    def __init__(self, network, logger):
        self._network, self._logger, self._errors, self._flags = network, logger, [], 0

    num_errors = property(lambda self: len(self._errors))

    def get_error(self, index):
        return self._errors[index]

    def clear_errors(self):
        self._errors = []

    def parse(self, model, path=None):
        return self._parse(bytes(memoryview(model)), path)

    def parse_from_file(self, model):
        try:
            with open(model, "rb") as handle:
                data = handle.read()
        except (IOError, OSError) as exc:
            return self._fail(ParseFailure("MODEL_DESERIALIZE_FAILED", "Failed to open file: {}".format(exc)))
        return self._parse(data, model)

    def _fail(self, failure):
        if failure.stderr:
            self._state.log(self._logger, 1, failure.stderr)
        self._errors.append(self._state.trt.ParserError(failure))
        return False

    def _parse(self, data, path):
        state = self._state
        if state.table["explicit_batch_required"] and not self._network._has_flag("EXPLICIT_BATCH"):
            return self._fail(ParseFailure(
                "INVALID_VALUE", "Assertion failed: !mImporterCtx.network()->hasImplicitBatchDimension() && \"This "
                "version of the ONNX parser only supports TensorRT INetworkDefinitions with an explicit batch "
                "dimension.\""))
        try:
            info = check(data, state.table)
        except ParseFailure as failure:
            return self._fail(failure)
        data_type = state.trt.DataType
        self._network._inputs = [state.trt.ITensor(n, d, getattr(data_type, t)) for n, d, t in info["inputs"]]
        self._network._outputs = [state.trt.ITensor(n, d, getattr(data_type, t)) for n, d, t in info["outputs"]]
        self._network._onnx = dict([(k, info[k]) for k in ("sha256", "opset", "ops", "qdq")], path=path)
        self._network._data = data
        return True

    @property
    def flags(self):
        return self._flags

    @flags.setter
    def flags(self, value):
        self._flags = int(value)

    def set_flag(self, flag):
        self._flags |= 1 << int(flag)

    def clear_flag(self, flag):
        self._flags &= ~(1 << int(flag))

    def get_flag(self, flag):
        return bool(self._flags & (1 << int(flag)))
