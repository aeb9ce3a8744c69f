"""What Triton's extensions answer about edge-serve's models, as plain dicts in Triton's JSON shapes: the one
home of these answers for every front end (HTTP edge.serve.http; gRPC parses the same dicts into its messages).

    model_config(service, name)      the model configuration extension: model_config.proto as JSON, the
                                     fields edge.triton.config.config_json writes into config.pbtxt
    repository_index(service)        the model repository extension: [{name, version, state, reason}]
    statistics(service, name=None)   the statistics extension: {"model_stats": [...]} (edge.serve.statistics)

An unknown model or version is a RequestError 404. The configuration describes the model as edge-serve
runs it: its runtime's Triton platform and backend, edge-serve's batching (max_batch_size = --max-batch
within the bundle's range, dims without the batch axis, dynamic_batching's delay = --max-delay-ms), the
input's layout (FORMAT_NCHW for the normalised float tensor, FORMAT_NHWC for uint8 pixels) and the labels
file the exported repository names for the class scores. Python 3.6 compatible.
"""

from edge.bundle.bundle import LABELS
from edge.runners.registry import runtime_of
from edge.serve.errors import RequestError
from edge.serve.service import MODEL_VERSION, kserve_platform
from edge.triton.config import FORMAT_NCHW, FORMAT_NHWC, ModelConfig, TensorConfig, config_json

# Triton's states in the repository index (model_repository extension).
READY = "READY"
UNAVAILABLE = "UNAVAILABLE"
# What Triton's configuration route prints for fields a configuration leaves unset (protobuf's defaults, always
# printed): clients read them without checking they are there (image_client.py reads an input's "format").
INPUT_DEFAULTS = {"format": "FORMAT_NONE", "is_shape_tensor": False, "allow_ragged_batch": False, "optional": False,
                  "is_non_linear_format_io": False}
OUTPUT_DEFAULTS = {"label_filename": "", "is_shape_tensor": False, "is_non_linear_format_io": False}
VERSION_POLICY = {"latest": {"num_versions": 1}}   # one version, the latest: Triton's default, and what we serve


def check_model(service, name, version=None):
    """`name` when the service serves it (at `version`, if given: "" or None for the latest); else RequestError
    404 saying what it serves."""
    names = service.model_names()
    if name not in names:
        raise RequestError(404, "unknown model {!r}: this server serves {}".format(
            name, ", ".join(repr(served) for served in names)))
    if version not in (None, "", MODEL_VERSION):
        raise RequestError(404, "model {!r} has version {} only, not {!r}".format(name, MODEL_VERSION, version))
    return name


def _tensor(spec, label_file=None, layout=None):
    """The TensorConfig of a TensorSpec (edge.serve.tensors)."""
    return TensorConfig(spec.name, "TYPE_" + spec.datatype, list(spec.item_shape), label_file, layout)


def layout(spec):
    """Triton's Format of an image input: FORMAT_NHWC for uint8 pixels, FORMAT_NCHW for the float tensor."""
    return FORMAT_NHWC if spec.datatype == "UINT8" else FORMAT_NCHW


def served_config(service, name):
    """The ModelConfig of served model `name` as edge-serve runs it."""
    runtime = runtime_of(service.runner)
    backend = runtime.triton.backend if runtime is not None and runtime.triton is not None else ""
    spec_in, spec_out = service.model_input_spec(name), service.output
    labels = LABELS if service.bundle.task.labels_output else None
    delay_us = int(round(service.max_delay_ms * 1000.0)) if service.max_batch > 1 else None
    return ModelConfig(name, kserve_platform(service.runner), backend, service.max_batch,
                       [_tensor(spec_in, layout=layout(spec_in))], [_tensor(spec_out, labels)], delay_us)


def model_config(service, name, version=None):
    """Triton's model configuration of `name` as JSON (GET /v2/models/NAME/config; gRPC ModelConfig): config_json
    of served_config, with the defaults Triton prints for what it leaves unset."""
    check_model(service, name, version)
    fields = config_json(served_config(service, name))
    fields["version_policy"] = VERSION_POLICY
    fields["input"] = [dict(INPUT_DEFAULTS, **tensor) for tensor in fields["input"]]
    fields["output"] = [dict(OUTPUT_DEFAULTS, **tensor) for tensor in fields["output"]]
    return fields


def repository_index(service, ready_only=False):
    """Triton's repository index: one {name, version, state[, reason]} per served model (only the ready ones
    with ready_only); as Triton's, "reason" only when there is one."""
    state, reason = (READY, "") if service.accepting else (
        UNAVAILABLE, "shutting down" if service.draining else "starting")
    if ready_only and state != READY:
        return []
    return [dict({"name": name, "version": MODEL_VERSION, "state": state}, **({"reason": reason} if reason else {}))
            for name in service.model_names()]


def statistics(service, name=None, version=None):
    """Triton's statistics: {"model_stats": [ModelStatistics as JSON]} for `name`, or every served model."""
    names = [check_model(service, name, version)] if name else service.model_names()
    return {"model_stats": [service.model_statistics(model).view(model, MODEL_VERSION) for model in names]}
