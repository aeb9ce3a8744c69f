"""edge-serve's gRPC front end with a bare grpc channel, where tritonclient is not installed: the device run
(make test-ort110: Python 3.6 with grpcio 1.48.2, protobuf 3.19 and the desktop's bundles) as well as the
desktop's. The answers equal the service's own inference on the same rows, in raw and typed contents.
tests/edge/test_serve_grpc.py checks the same server against tritonclient.grpc and tritonclient.http."""

import os
import time

import numpy as np
import pytest

grpc = pytest.importorskip("grpc", reason="needs grpcio and protobuf (pip install -e '.[grpc]')")
pytest.importorskip("google.protobuf", reason="needs grpcio and protobuf (pip install -e '.[grpc]')")
pytest.importorskip("onnxruntime", reason="serves the bundle with ONNX Runtime (a Jetson has none)")

from edge.bundle.bundle import Bundle  # noqa: E402
from edge.runners.select import make_runner  # noqa: E402
from edge.serve.grpc_protocol import METHODS, SERVICE, protocol  # noqa: E402
from edge.serve.grpc_server import ServeGrpc  # noqa: E402
from edge.serve.metrics import ServeTelemetry  # noqa: E402
from edge.serve.service import InferenceService, random_rows  # noqa: E402

DESKTOP_BUNDLES = os.environ.get("EDGE_DESKTOP_BUNDLES")


@pytest.fixture(scope="module")
def bundle_path(request):
    if DESKTOP_BUNDLES:
        return os.path.join(DESKTOP_BUNDLES, "int8")
    return request.getfixturevalue("export_fp32_bundle")


@pytest.fixture(scope="module")
def served(bundle_path):
    bundle = Bundle.load(bundle_path)
    runner, _ = make_runner(bundle, "onnxruntime", "fp32", threads=1, spinning=False)
    service = InferenceService(bundle, runner, "digits", ServeTelemetry(), max_batch=1).start()
    front = ServeGrpc(service, service.telemetry, host="127.0.0.1", port=0).start()
    channel = grpc.insecure_channel("127.0.0.1:{}".format(front.port))
    try:
        yield service, channel
    finally:
        channel.close()
        front.stop_accepting(time.time())
        service.drain(0)
        front.close()
        service.close()


def stub(channel, method):
    """A callable for GRPCInferenceService `method`: its request message -> its response message."""
    request_name, response_name = METHODS[method]
    return channel.unary_unary("/{}/{}".format(SERVICE, method),
                               request_serializer=protocol().message(request_name).SerializeToString,
                               response_deserializer=protocol().message(response_name).FromString)


def call(channel, method, **fields):
    """One unary call of `method` with a request message of `fields`."""
    return stub(channel, method)(protocol().message(METHODS[method][0])(**fields), timeout=60)


def infer_request(service, rows, typed):
    request = protocol().message("ModelInferRequest")(model_name="digits")
    tensor = request.inputs.add(name=service.input.name, datatype=service.input.datatype, shape=list(rows.shape))
    if typed:
        field = "fp32_contents" if service.input.datatype == "FP32" else "uint_contents"
        getattr(tensor.contents, field).extend(rows.ravel().tolist())
    else:
        request.raw_input_contents.append(np.ascontiguousarray(rows, dtype=rows.dtype.newbyteorder("<")).tobytes())
    return request


@pytest.mark.parametrize("typed", [False, True])
def test_a_bare_grpc_channel_gets_the_services_own_logits(served, typed):
    service, channel = served
    assert call(channel, "ServerLive").live and call(channel, "ServerReady").ready
    metadata = call(channel, "ModelMetadata", name="digits")
    assert [(t.name, t.datatype) for t in metadata.inputs] == [(service.input.name, service.input.datatype)]
    rows = random_rows(service.input, 1, seed=3)
    response = stub(channel, "ModelInfer")(infer_request(service, rows, typed), timeout=60)
    logits = np.frombuffer(response.raw_output_contents[0], dtype="<f4").reshape(list(response.outputs[0].shape))
    assert np.array_equal(logits, service.infer(rows))


def test_bad_input_over_a_bare_channel_is_invalid_argument(served):
    service, channel = served
    rows = random_rows(service.input, 1)[:, :1]
    with pytest.raises(grpc.RpcError) as refused:
        stub(channel, "ModelInfer")(infer_request(service, rows, typed=False), timeout=60)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "the model takes {}".format(service.input.describe()) in refused.value.details()
