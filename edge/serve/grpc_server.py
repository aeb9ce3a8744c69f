"""edge-serve's gRPC front end: KServe v2's GRPCInferenceService, as tritonclient.grpc and Triton's other gRPC
clients call it (package `inference`; edge.serve.grpc_protocol builds the messages).

    ServerLive, ServerReady                    no token needed, as the HTTP health checks
    ServerMetadata, ModelMetadata, ModelReady  the same answers as GET /v2, /v2/models/NAME[/ready]
    ModelInfer                                 the model input as raw_input_contents (binary, little-endian) or
                                               typed contents (fp32_contents, uint_contents); the answer's
                                               outputs in raw_output_contents, as Triton gives them; the output
                                               parameter "classification" (int64) asks for the classification
                                               extension's BYTES rows
    ModelConfig, RepositoryIndex, ModelStatistics   the same content as the HTTP config, index and stats routes

It shares the HTTP side's service core (edge.serve.service) and its batcher: requests of both protocols batch
together, and a request is checked by the same code (edge.serve.tensors.parse_document), so a gRPC error says
what the HTTP 400 says. Status codes: bad input INVALID_ARGUMENT, unknown model or version NOT_FOUND, a full
queue or shutting down UNAVAILABLE, no token UNAUTHENTICATED (with --token-file every call but the health
checks needs metadata "authorization: Bearer TOKEN"), a message over --max-body-bytes RESOURCE_EXHAUSTED.
TLS with --tls-cert and --tls-key. Streaming inference, shared memory and model loading are not offered
(UNIMPLEMENTED).
"""

import time

import numpy as np

from edge.errors import EdgeError
from edge.net.http_access import Access
from edge.serve import triton_views
from edge.serve.errors import RequestError
from edge.serve.grpc_protocol import METHODS, SERVICE, protocol
from edge.serve.service import INFER_TIMEOUT_S, MODEL_VERSION
from edge.serve.tensors import output_tensor, parse_document, raw_bytes

GRPC_PORT = 8001          # Triton's
OPEN_CALLS = ("ServerLive", "ServerReady")   # probes need no token
HEALTH_WORKERS = 4        # threads beyond those that can wait on inference
# The typed contents field of each datatype a bundle's model takes (InferTensorContents).
CONTENTS = {"FP32": "fp32_contents", "UINT8": "uint_contents"}


def status_of(code):
    """The gRPC status code answering what HTTP answers with `code`."""
    import grpc

    return {400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED,
            404: grpc.StatusCode.NOT_FOUND, 413: grpc.StatusCode.RESOURCE_EXHAUSTED,
            503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.DEADLINE_EXCEEDED}.get(
        code, grpc.StatusCode.INTERNAL)


def parameters(mapping):
    """A protobuf map<string, InferParameter> as a plain dict (each parameter's one value)."""
    plain = {}
    for key in mapping:
        value = mapping[key]
        choice = value.WhichOneof("parameter_choice")
        if choice is not None:
            plain[key] = getattr(value, choice)
    return plain


def infer_document(request):
    """(the KServe JSON object, binary data after it) that a ModelInferRequest says, for parse_document."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise RequestError(400, "{} raw_input_contents for {} inputs: send one per input".format(
            len(raw), len(request.inputs)))
    inputs = []
    for index, tensor in enumerate(request.inputs):
        entry = {"name": tensor.name, "datatype": tensor.datatype, "shape": [int(dim) for dim in tensor.shape],
                 "parameters": parameters(tensor.parameters)}
        field = CONTENTS.get(tensor.datatype)
        if raw:
            entry["parameters"]["binary_data_size"] = len(raw[index])
        elif field is not None and tensor.HasField("contents") and len(getattr(tensor.contents, field)):
            entry["data"] = np.array(getattr(tensor.contents, field), dtype=np.float64)
        inputs.append(entry)
    document = {"inputs": inputs, "parameters": parameters(request.parameters)}
    if request.outputs:
        document["outputs"] = [{"name": item.name, "parameters": parameters(item.parameters)}
                               for item in request.outputs]
    if request.id:
        document["id"] = request.id
    return document, b"".join(raw)


class ServeGrpc(object):
    def __init__(self, service, telemetry, host="127.0.0.1", port=GRPC_PORT, token=None, tls_files=None,
                 max_message_bytes=8 * 2 ** 20, log=None):
        """token: the bearer token (None: open); tls_files: (certificate path, key path) or None."""
        self.service = service
        self.telemetry = telemetry
        self.host, self.port = host, port
        self.access = Access(token)
        self.tls_files = tls_files
        self.max_message_bytes = int(max_message_bytes)
        self.log = log or (lambda text: None)
        self.protocol = protocol()
        self.server = None
        self._stopped = None

    # ----- lifecycle ------------------------------------------------------------------------------
    def start(self):
        """Bind and serve; EdgeError when the port cannot be had."""
        import grpc
        from concurrent import futures

        workers = self.service.waiting_threads + HEALTH_WORKERS
        options = [("grpc.so_reuseport", 0),   # a port in use is an error, not shared with its owner
                   ("grpc.max_receive_message_length", self.max_message_bytes),
                   ("grpc.max_send_message_length", -1)]
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="serve-grpc"),
                                  handlers=[self._handlers()], options=options,
                                  maximum_concurrent_rpcs=workers + self.service.batcher.max_queue)
        address = self.address
        try:
            port = (self.server.add_secure_port(address, self._credentials()) if self.tls_files
                    else self.server.add_insecure_port(address))
        except RuntimeError as exc:   # newer grpcio raises; older ones return 0
            port, why = 0, exc
        else:
            why = "the address is in use or cannot be bound"
        if not port:
            self.server.stop(None)
            raise EdgeError("cannot serve gRPC on {} ({}); choose another --grpc-port".format(address, why))
        self.port = port
        self.server.start()
        return self

    def _credentials(self):
        import grpc

        cert, key = self.tls_files
        with open(key, "rb") as key_file, open(cert, "rb") as cert_file:
            return grpc.ssl_server_credentials([(key_file.read(), cert_file.read())])

    @property
    def address(self):
        host = self.host if ":" not in self.host else "[{}]".format(self.host)
        return "{}:{}".format(host, self.port)

    def stop_accepting(self, deadline):
        """No new calls; those under way have until `deadline` (time.time()) to be answered."""
        if self.server is not None and self._stopped is None:
            self._stopped = self.server.stop(max(0.0, deadline - time.time()))

    def wait_idle(self, deadline):
        """Wait until no call is being answered, or `deadline`; True when idle."""
        return self._stopped is None or self._stopped.wait(max(0.0, deadline - time.time()))

    def close(self):
        if self.server is not None:
            self.server.stop(None).wait(1.0)

    # ----- calls ----------------------------------------------------------------------------------
    def _handlers(self):
        import grpc

        handlers = {}
        for name, (request_name, response_name) in METHODS.items():
            handlers[name] = grpc.unary_unary_rpc_method_handler(
                self._call(name, getattr(self, "_" + name), self.protocol.message(response_name)),
                request_deserializer=self.protocol.message(request_name).FromString,
                response_serializer=self.protocol.message(response_name).SerializeToString)
        return grpc.method_handlers_generic_handler(SERVICE, handlers)

    def _call(self, name, answer, response_class):
        """The grpc behaviour of one method: token check, answer(request, context) -> response, errors as
        status codes, and the request counted in /metrics as route grpc:NAME."""
        route = "grpc:" + name

        def behaviour(request, context):
            started, code = time.perf_counter(), 500
            try:
                if name not in OPEN_CALLS and not self._authorized(context):
                    raise RequestError(401, "this server needs a bearer token: metadata authorization: Bearer TOKEN")
                response = answer(request, context, response_class)
                code = 200
                return response
            except RequestError as exc:
                code = exc.code
                context.abort(status_of(exc.code), exc.message)
            except Exception as exc:  # a bug must cost one call its answer, never the server
                self.log("internal error on gRPC {}: {!r}".format(name, exc))
                context.abort(status_of(500), "internal error: {}".format(exc))
            finally:
                self.telemetry.observe_request(route, code, time.perf_counter() - started)

        return behaviour

    def _authorized(self, context):
        metadata = dict((key.lower(), value) for key, value in (context.invocation_metadata() or ()))
        return self.access.allows({"Authorization": metadata.get("authorization", "")})

    # ----- answers --------------------------------------------------------------------------------
    def _ServerLive(self, request, context, response_class):
        return response_class(live=True)

    def _ServerReady(self, request, context, response_class):
        return response_class(ready=self.service.accepting)

    def _ModelReady(self, request, context, response_class):
        try:
            triton_views.check_model(self.service, request.name, request.version)
        except RequestError:
            return response_class(ready=False)
        return response_class(ready=self.service.accepting)

    def _ServerMetadata(self, request, context, response_class):
        return self.protocol.from_dict("ServerMetadataResponse", self.service.server_metadata())

    def _ModelMetadata(self, request, context, response_class):
        model = triton_views.check_model(self.service, request.name, request.version)
        return self.protocol.from_dict("ModelMetadataResponse", self.service.model_metadata(model))

    def _ModelConfig(self, request, context, response_class):
        config = triton_views.model_config(self.service, request.name, request.version)
        return self.protocol.from_dict("ModelConfigResponse", {"config": config})

    def _RepositoryIndex(self, request, context, response_class):
        if request.repository_name:
            raise RequestError(404, "unknown repository {!r}: this server has one, named ''".format(
                request.repository_name))
        models = triton_views.repository_index(self.service, ready_only=request.ready)
        return self.protocol.from_dict("RepositoryIndexResponse", {"models": models})

    def _ModelStatistics(self, request, context, response_class):
        return self.protocol.from_dict("ModelStatisticsResponse",
                                       triton_views.statistics(self.service, request.name, request.version))

    def _ModelInfer(self, request, context, response_class):
        service = self.service
        model = triton_views.check_model(service, request.model_name, request.model_version)
        document, binary = infer_document(request)   # input the model cannot take is no failure, as on HTTP
        parsed = parse_document(document, binary, service.model_input_spec(model), service.output)
        problem = parsed.classification and service.bundle.task.kserve_classification_problem(service.bundle)
        if problem:
            raise RequestError(400, problem)
        remaining = context.time_remaining()
        logits = service.answer(service.submit(parsed.rows, model=model),
                                INFER_TIMEOUT_S if remaining is None else min(INFER_TIMEOUT_S, remaining))
        tensor, datatype, shape = output_tensor(parsed, logits, service.output, service.bundle.classes)
        response = response_class(model_name=model, model_version=MODEL_VERSION, id=parsed.id or "")
        entry = response.outputs.add()
        entry.name, entry.datatype = service.output.name, datatype
        entry.shape.extend(shape)
        response.raw_output_contents.append(raw_bytes(tensor, datatype))
        return response
