"""edge-serve speaks KServe v2 over gRPC as Triton's own client reads it: tritonclient.grpc, unchanged, against a
real server on 127.0.0.1, giving exactly what tritonclient.http gets from the same server for the same requests;
typed contents through tritonclient's own generated stubs; the token, bad input and unknown models as status
codes; the command's --grpc-port, and the server on Python 3.6 with its pinned grpcio and protobuf."""

import contextlib
import glob
import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from edge.bundle.bundle import Bundle
from edge.bundle.preprocess import preprocess, read_image
from edge.runners.select import make_runner
from edge.serve.http import ServeHttp
from edge.serve.metrics import ServeTelemetry
from edge.serve.service import InferenceService, random_rows
from tests.edge.serving import ROOT

grpcclient = pytest.importorskip("tritonclient.grpc", reason="needs tritonclient[grpc] (the dev extra)")
httpclient = pytest.importorskip("tritonclient.http", reason="needs tritonclient[http] (the dev extra)")
from google.protobuf import json_format  # noqa: E402
from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

from edge.serve.grpc_server import ServeGrpc  # noqa: E402

import grpc  # noqa: E402

TOKEN = "s3cret-token"


class Servers(object):
    def __init__(self, service, http, grpc_front):
        self.service, self.http, self.grpc = service, http, grpc_front
        self.http_address = "127.0.0.1:{}".format(http.port)
        self.grpc_address = "127.0.0.1:{}".format(grpc_front.port)


@contextlib.contextmanager
def serving_both(bundle_path, token=None, model_name="colours", tls_files=None, max_queue=64, runner_wrapper=None):
    """edge-serve's service with its HTTP and gRPC front ends, on any free ports of 127.0.0.1;
    runner_wrapper(runner) may wrap the runner."""
    bundle = Bundle.load(bundle_path)
    runner, _ = make_runner(bundle, "onnxruntime", "fp32", threads=1, spinning=False)
    if runner_wrapper is not None:
        runner = runner_wrapper(runner)
    telemetry = ServeTelemetry()
    service = InferenceService(bundle, runner, model_name, telemetry, max_batch=8, max_delay_ms=2.0,
                               max_queue=max_queue).start()
    http = ServeHttp(service, telemetry, host="127.0.0.1", port=0, token=token).start()
    front = ServeGrpc(service, telemetry, host="127.0.0.1", port=0, token=token, tls_files=tls_files).start()
    try:
        yield Servers(service, http, front)
    finally:
        http.stop_accepting()
        front.stop_accepting(time.time())
        service.drain(0)
        http.close()
        front.close()
        service.close()


@pytest.fixture(scope="module")
def servers(export_fp32_bundle):
    with serving_both(export_fp32_bundle) as both:
        yield both


@pytest.fixture(scope="module")
def batch(export_fp32_bundle, export_images):
    spec = Bundle.load(export_fp32_bundle).spec
    paths = sorted(glob.glob(os.path.join(export_images, "*", "*.png")))[:3]
    return np.stack([preprocess(read_image(path), spec) for path in paths])


@pytest.fixture
def clients(servers):
    grpc_client = grpcclient.InferenceServerClient(url=servers.grpc_address)
    http_client = httpclient.InferenceServerClient(url=servers.http_address)
    yield grpc_client, http_client
    grpc_client.close()
    http_client.close()


def infer_both(clients, batch, class_count=0, model="colours"):
    """The same request over gRPC and HTTP: (gRPC result, HTTP result)."""
    grpc_client, http_client = clients
    grpc_input = grpcclient.InferInput("input", list(batch.shape), "FP32")
    grpc_input.set_data_from_numpy(batch)
    http_input = httpclient.InferInput("input", list(batch.shape), "FP32")
    http_input.set_data_from_numpy(batch)
    return (grpc_client.infer(model, [grpc_input], request_id="req-9",
                              outputs=[grpcclient.InferRequestedOutput("logits", class_count=class_count)]),
            http_client.infer(model, [http_input], request_id="req-9",
                              outputs=[httpclient.InferRequestedOutput("logits", class_count=class_count)]))


def test_health_metadata_and_readiness_as_tritonclient_grpc_reads_them(clients):
    grpc_client, http_client = clients
    assert grpc_client.is_server_live() and grpc_client.is_server_ready()
    assert grpc_client.is_model_ready("colours") and grpc_client.is_model_ready("colours", model_version="1")
    assert not grpc_client.is_model_ready("other") and not grpc_client.is_model_ready("colours", model_version="2")
    server = grpc_client.get_server_metadata()
    assert server.name == "edge-serve" and list(server.extensions) == http_client.get_server_metadata()["extensions"]
    metadata = grpc_client.get_model_metadata("colours")
    assert metadata.name == "colours" and list(metadata.versions) == ["1"]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [("input", "FP32", [-1, 3, 32, 32])]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [("logits", "FP32", [-1, 3])]
    http_metadata = http_client.get_model_metadata("colours")
    assert json_format.ParseDict(http_metadata, service_pb2.ModelMetadataResponse()) == metadata


def test_binary_inference_gives_exactly_what_http_gives(clients, batch):
    grpc_result, http_result = infer_both(clients, batch)
    logits = grpc_result.as_numpy("logits")
    assert logits.dtype == np.float32 and logits.shape == (3, 3)
    assert np.array_equal(logits, http_result.as_numpy("logits"))
    response = grpc_result.get_response()
    assert response.id == "req-9" and response.model_name == "colours" and response.model_version == "1"
    assert len(response.raw_output_contents) == 1 and len(response.raw_output_contents[0]) == 3 * 3 * 4
    # a single image, and a batch of one of the others: the same rows
    single, _ = infer_both(clients, batch[1:2])
    assert np.array_equal(single.as_numpy("logits"), logits[1:2])


def test_every_served_model_answers_alike_over_both_protocols(servers, clients):
    # the model and its image entry (uint8 RGB pixels): each takes what its metadata says, over both protocols
    grpc_client, http_client = clients
    names = servers.service.model_names()
    assert names[0] == "colours"
    for name in names:
        spec = servers.service.model_input_spec(name)
        rows = random_rows(spec, 2, seed=len(name))
        tensors = (grpcclient.InferInput(spec.name, list(rows.shape), spec.datatype),
                   httpclient.InferInput(spec.name, list(rows.shape), spec.datatype))
        for tensor in tensors:
            tensor.set_data_from_numpy(rows)
        over_grpc = grpc_client.infer(name, [tensors[0]]).as_numpy("logits")
        assert over_grpc.shape == (2, 3) and np.array_equal(over_grpc, http_client.infer(name, [tensors[1]]).as_numpy(
            "logits"))
        assert [t.datatype for t in grpc_client.get_model_metadata(name).inputs] == [spec.datatype]


def test_the_classification_extension_gives_what_http_gives(servers, clients, batch):
    grpc_result, http_result = infer_both(clients, batch, class_count=2)
    classes = grpc_result.as_numpy("logits")
    assert classes.shape == (3, 2) and classes.dtype == np.object_
    assert np.array_equal(classes, http_result.as_numpy("logits"))
    logits = infer_both(clients, batch)[0].as_numpy("logits")
    value, index, label = classes[0, 0].decode("utf-8").split(":")
    assert int(index) == int(np.argmax(logits[0])) and float(value) == pytest.approx(float(logits[0].max()), abs=1e-5)
    assert label == servers.service.bundle.classes[int(index)]


def test_typed_contents_through_tritonclients_generated_stubs(servers, clients, batch):
    request = service_pb2.ModelInferRequest(model_name="colours", id="typed")
    tensor = request.inputs.add(name="input", datatype="FP32", shape=list(batch.shape))
    tensor.contents.fp32_contents.extend(batch.ravel().tolist())
    with grpc.insecure_channel(servers.grpc_address) as channel:
        response = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)
    assert response.id == "typed" and [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("logits", "FP32", [3, 3])]
    typed = np.frombuffer(response.raw_output_contents[0], dtype="<f4").reshape(3, 3)
    binary, _ = infer_both(clients, batch)
    assert np.array_equal(typed, binary.as_numpy("logits"))


def test_config_index_and_statistics_are_what_http_says(servers, clients, batch):
    grpc_client, http_client = clients
    infer_both(clients, batch)
    config = grpc_client.get_model_config("colours").config
    assert config.name == "colours" and config.max_batch_size == servers.service.max_batch
    assert config.input[0].dims == [3, 32, 32]
    assert config.input[0].data_type == model_config_pb2.TYPE_FP32
    assert json_format.ParseDict(http_client.get_model_config("colours"), model_config_pb2.ModelConfig()) == config
    index = grpc_client.get_model_repository_index()
    assert [(m.name, m.version, m.state) for m in index.models] == [(name, "1", "READY")
                                                                     for name in servers.service.model_names()]
    assert index.models[0].name == "colours"
    assert json_format.ParseDict({"models": http_client.get_model_repository_index()},
                                 service_pb2.RepositoryIndexResponse()) == index
    stats = grpc_client.get_inference_statistics("colours")
    http_stats = http_client.get_inference_statistics("colours")
    assert json_format.ParseDict(http_stats, service_pb2.ModelStatisticsResponse()) == stats
    (model,) = stats.model_stats
    assert model.name == "colours" and model.inference_count >= 6 and model.inference_stats.success.count >= 2
    with pytest.raises(InferenceServerException) as refused:
        grpc_client.get_model_config("other")
    assert refused.value.status() == "StatusCode.NOT_FOUND"


def refusal(call):
    with pytest.raises(InferenceServerException) as refused:
        call()
    return refused.value


@pytest.mark.parametrize("shape, datatype", [([1, 3, 16, 16], "FP32"), ([1, 3, 32, 32], "UINT8")])
def test_bad_input_is_invalid_argument_with_the_line_http_answers(clients, shape, datatype):
    grpc_client, http_client = clients
    data = np.zeros(shape, dtype=np.float32 if datatype == "FP32" else np.uint8)
    grpc_input, http_input = grpcclient.InferInput("input", shape, datatype), httpclient.InferInput(
        "input", shape, datatype)
    grpc_input.set_data_from_numpy(data)
    http_input.set_data_from_numpy(data)
    over_grpc = refusal(lambda: grpc_client.infer("colours", [grpc_input]))
    over_http = refusal(lambda: http_client.infer("colours", [http_input]))
    assert over_grpc.status() == "StatusCode.INVALID_ARGUMENT"
    assert over_grpc.message() == over_http.message() and "the model takes 'input' FP32 [N,3,32,32]" in \
        over_grpc.message()
    assert "\n" not in over_grpc.message()
    # Input the model cannot take is no failure of the model, on either protocol (Triton counts it so too).
    (model,) = grpc_client.get_inference_statistics("colours").model_stats
    assert model.inference_stats.fail.count == 0


def test_an_unknown_model_is_not_found(clients, batch):
    over_grpc = refusal(lambda: infer_both(clients, batch, model="other"))
    assert over_grpc.status() == "StatusCode.NOT_FOUND" and "unknown model 'other'" in over_grpc.message()
    assert refusal(lambda: clients[0].get_model_metadata("other")).status() == "StatusCode.NOT_FOUND"


def test_with_a_token_calls_need_it_but_the_health_checks_do_not(export_fp32_bundle, batch):
    with serving_both(export_fp32_bundle, token=TOKEN) as both:
        client = grpcclient.InferenceServerClient(url=both.grpc_address)
        assert client.is_server_live() and client.is_server_ready()
        refused = refusal(lambda: client.get_model_metadata("colours"))
        assert refused.status() == "StatusCode.UNAUTHENTICATED" and "bearer token" in refused.message()
        wrong = {"authorization": "Bearer wrong"}
        assert refusal(lambda: client.get_model_metadata("colours", headers=wrong)).status() == \
            "StatusCode.UNAUTHENTICATED"
        tensor = grpcclient.InferInput("input", list(batch.shape), "FP32")
        tensor.set_data_from_numpy(batch)
        assert refusal(lambda: client.infer("colours", [tensor])).status() == "StatusCode.UNAUTHENTICATED"
        headers = {"authorization": "Bearer " + TOKEN}
        assert client.get_model_metadata("colours", headers=headers).name == "colours"
        assert client.infer("colours", [tensor], headers=headers).as_numpy("logits").shape == (3, 3)
        client.close()


def test_over_tls_with_the_token(export_fp32_bundle, batch, tmp_path):
    from tests.edge.test_http_access import OPENSSL, make_cert

    if OPENSSL is None:
        pytest.skip("needs openssl to make a test certificate (apt install openssl)")
    cert, key = make_cert(tmp_path)
    with serving_both(export_fp32_bundle, token=TOKEN, tls_files=(cert, key)) as both:
        client = grpcclient.InferenceServerClient(url="localhost:{}".format(both.grpc.port), ssl=True,
                                                  root_certificates=cert)
        tensor = grpcclient.InferInput("input", list(batch.shape), "FP32")
        tensor.set_data_from_numpy(batch)
        logits = client.infer("colours", [tensor], headers={"authorization": "Bearer " + TOKEN}).as_numpy("logits")
        assert logits.shape == (3, 3)
        client.close()
        plain = grpcclient.InferenceServerClient(url="localhost:{}".format(both.grpc.port))
        assert refusal(lambda: plain.is_server_live()).status() == "StatusCode.UNAVAILABLE"
        plain.close()


def test_a_full_queue_is_unavailable_and_a_drain_answers_the_calls_under_way(export_fp32_bundle, batch):
    from tests.edge.test_serve_bad_input import GatedRunner

    gated = []
    with serving_both(export_fp32_bundle, max_queue=1,
                      runner_wrapper=lambda runner: gated.append(GatedRunner(runner)) or gated[0]) as both:
        runner = gated[0]
        runner.gate.clear()
        runner.entered.clear()
        client = grpcclient.InferenceServerClient(url=both.grpc_address)
        tensor = grpcclient.InferInput("input", [1, 3, 32, 32], "FP32")
        tensor.set_data_from_numpy(batch[:1])
        answers, threads = [], []

        def call():
            try:
                answers.append(client.infer("colours", [tensor]).as_numpy("logits").shape)
            except InferenceServerException as exc:
                answers.append(exc.status())

        threads.append(threading.Thread(target=call))
        threads[0].start()
        assert runner.entered.wait(30)                        # one request in the model
        threads.append(threading.Thread(target=call))
        threads[1].start()
        deadline = time.time() + 30
        while both.service.batcher.depth() < 1 and time.time() < deadline:
            time.sleep(0.01)
        full = refusal(lambda: client.infer("colours", [tensor]))
        assert full.status() == "StatusCode.UNAVAILABLE" and "server busy" in full.message()
        both.service.draining = True                           # as edge-serve's drain does, then stops gRPC
        both.grpc.stop_accepting(time.time() + 30)
        assert refusal(lambda: client.is_server_live()).status() == "StatusCode.UNAVAILABLE"   # no new calls
        runner.gate.set()
        for thread in threads:
            thread.join(60)
        assert both.grpc.wait_idle(time.time() + 30)
        assert answers == [(1, 3), (1, 3)]                    # the calls under way were answered
        client.close()


# ----- the command --------------------------------------------------------------------------------------------
def start_command(python, argv, without_grpc=False):
    """edge-serve as a process (without_grpc: as if grpcio were not installed)."""
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    program = ["-m", "edge.serve"] if not without_grpc else [
        "-c", "import sys; sys.modules['grpc'] = None; from edge.serve.cli import main; sys.exit(main())"]
    return subprocess.Popen([python] + program + [str(a) for a in argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)


def test_without_grpcio_the_default_says_grpc_is_off_and_an_asked_port_exits_2(export_fp32_bundle):
    options = [export_fp32_bundle, "--port", "0", "--runtime", "onnxruntime", "--precision", "fp32", "--threads", "1"]
    asked = start_command(sys.executable, options + ["--grpc-port", "0"], without_grpc=True)
    out = asked.communicate(timeout=60)[0]
    assert asked.returncode == 2 and "Traceback" not in out, out
    assert "grpc is needed for edge-serve's gRPC front end but is not installed: pip install " in out
    process, lines = start_command(sys.executable, options, without_grpc=True), []
    try:
        for line in iter(process.stdout.readline, ""):
            lines.append(line)
            if "serving http://" in line:
                break
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    log = "".join(lines)
    assert "gRPC off: grpc is needed for edge-serve's gRPC front end" in log and "jetson-edge-toolkit[grpc]" in log, log


def grpc_port_of(process, lines):
    """The port edge-serve's log says it serves gRPC on (reading its log lines into `lines`)."""
    deadline = time.time() + 90
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"serving gRPC .* on 127\.0\.0\.1:(\d+)", line)
        if found:
            return int(found.group(1))
    raise AssertionError("no gRPC port in the log:\n" + "".join(lines))


def serve_and_stop(python, bundle, batch):
    """Start edge-serve with --port 0 (gRPC on any free port too), infer over gRPC, SIGTERM it: (logits, exit
    code, log)."""
    process, lines = start_command(python, [bundle, "--port", "0", "--runtime", "onnxruntime", "--precision",
                                            "fp32", "--threads", "1"]), []
    try:
        client = grpcclient.InferenceServerClient(url="127.0.0.1:{}".format(grpc_port_of(process, lines)))
        tensor = grpcclient.InferInput("input", list(batch.shape), "FP32")
        tensor.set_data_from_numpy(batch)
        name = client.get_model_metadata(os.path.basename(os.path.normpath(bundle))).name
        logits = client.infer(name, [tensor]).as_numpy("logits")
        client.close()
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    return logits, code, "".join(lines) + process.stdout.read()


def test_the_command_serves_grpc_beside_http_and_stops_on_sigterm(export_fp32_bundle, batch, servers, clients):
    logits, code, log = serve_and_stop(sys.executable, export_fp32_bundle, batch)
    assert code == 0 and "stopped" in log, log
    assert np.array_equal(logits, infer_both(clients, batch)[0].as_numpy("logits"))


def test_grpc_port_errors_are_one_line_exit_2(export_fp32_bundle, capsys):
    from edge.serve.cli import main

    assert main([export_fp32_bundle, "--grpc-port", "1", "--no-grpc"]) == 2
    assert "give --grpc-port or --no-grpc, not both" in capsys.readouterr().err
    with grpc_port_taken() as port:
        assert main([export_fp32_bundle, "--port", "0", "--grpc-port", str(port), "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert "cannot serve gRPC on 127.0.0.1:{}".format(port) in err and "Traceback" not in err


@contextlib.contextmanager
def grpc_port_taken():
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        yield taken.getsockname()[1]
    finally:
        taken.close()


PY36 = os.path.join(ROOT, ".cache", "venv-py36", "bin", "python")


def test_on_python_3_6_with_grpcio_1_48_and_protobuf_3_19(export_fp32_bundle, batch, servers, clients):
    if not os.path.exists(PY36):
        pytest.skip("no Python 3.6 venv at .cache/venv-py36 (make py36-check)")
    versions = subprocess.run([PY36, "-c", "import grpc, google.protobuf as p; print(grpc.__version__, p.__version__)"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if versions.returncode != 0:
        pytest.skip("the Python 3.6 venv has no grpcio/protobuf: pip install grpcio==1.48.2 'protobuf<3.20'")
    logits, code, log = serve_and_stop(PY36, export_fp32_bundle, batch)
    print("Python 3.6 with grpcio, protobuf", versions.stdout.strip())
    assert code == 0, log
    assert np.array_equal(logits, infer_both(clients, batch)[0].as_numpy("logits"))
