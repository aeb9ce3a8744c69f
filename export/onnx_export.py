"""PyTorch -> ONNX with the TorchScript exporter, and reading what an ONNX file takes.

The TorchScript exporter (`dynamo=False`) is used because it can write opset 13, the highest
TensorRT 8.2 (JetPack 4.6) reads; the dynamo exporter starts at opset 18. Tensors are named
"input" and "logits"; batch is static 1 unless a dynamic batch range is asked for.

Every model file a bundle carries goes through `keep_used_opsets` once written: ONNX Runtime's
quantization tools stamp a model with every opset domain ORT itself registers (ai.onnx.ml 5, the
training and preview domains, com.microsoft.nchwc, org.pytorch.aten, ...), and an older ONNX
Runtime refuses a model that imports a domain version newer than it knows, used or not: 1.10 (the
last for Python 3.6, JetPack 4.6's era) stops at "Opset 5 is under development" for ai.onnx.ml,
and 1.16 and 1.17 refuse it too.
"""

import warnings

from edge.errors import EdgeError, first_line
from edge.util.lazy import require
from edge.tensorrt.compat import TENSORRT_82_MAX_OPSET

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = TENSORRT_82_MAX_OPSET
MIN_OPSET = 11          # below this the exporter's Resize/Pad/Clip semantics differ; refuse
MAX_OPSET = 20          # the TorchScript exporter's ceiling
INT8_MIN_OPSET = 13     # per-channel QuantizeLinear (axis attribute) needs opset 13


def check_opset(opset, int8=False, what="--opset"):
    """Raise EdgeError for an opset we cannot write; return a warning line (or None)."""
    if opset is None or opset < MIN_OPSET or opset > MAX_OPSET:
        raise EdgeError("{} {} is not supported: use {}..{} (default {}, the highest TensorRT 8.2 "
                        "reads)".format(what, opset, MIN_OPSET, MAX_OPSET, DEFAULT_OPSET))
    if int8 and opset < INT8_MIN_OPSET:
        raise EdgeError("--int8 needs opset {} or higher (per-channel QDQ), {} is {}".format(
            INT8_MIN_OPSET, what, opset))
    if opset > TENSORRT_82_MAX_OPSET:
        return ("opset {} > {}: TensorRT 8.2 (JetPack 4.6, Nano/TX2) cannot read this ONNX; "
                "fine for JetPack 5/6 and ONNX Runtime".format(opset, TENSORRT_82_MAX_OPSET))
    return None


def export_onnx(model, path, example, opset=DEFAULT_OPSET, dynamic_batch=False,
                input_name=INPUT_NAME, output_name=OUTPUT_NAME):
    """Export `model` (eval mode) traced on `example` to `path`, then check the file.

    Returns the checked onnx.ModelProto.
    """
    torch = require("torch", "ONNX export")
    onnx = require("onnx", "ONNX export")
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {input_name: {0: "batch"}, output_name: {0: "batch"}}
    with warnings.catch_warnings():
        # The TorchScript exporter announces its own deprecation on every call; it is chosen on purpose.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        try:
            with torch.no_grad():
                torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=opset,
                                  input_names=[input_name], output_names=[output_name],
                                  dynamic_axes=dynamic_axes, do_constant_folding=True,
                                  export_params=True)
        except Exception as exc:  # unsupported operators in a user's model: one line, not a traceback
            raise EdgeError("ONNX export failed at opset {}: {}".format(
                opset, first_line(exc)))
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _dim(dim):
    return dim.dim_value if dim.HasField("dim_value") else None


def describe_onnx(path):
    """What an ONNX classifier file takes and gives, checked to be an image classifier.

    Returns {"input_name", "output_name", "opset", "batch" (int or None when dynamic),
             "size" ((H, W) or None), "num_outputs" (classes or None), "elem_type"}.
    """
    onnx = require("onnx", "reading ONNX files")
    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto)
    except Exception as exc:  # protobuf DecodeError, ValidationError, OSError: all "not a valid ONNX file"
        raise EdgeError("{} is not a valid ONNX model ({})".format(
            path, first_line(exc, limit=160)))
    initializers = set(init.name for init in proto.graph.initializer)
    inputs = [value for value in proto.graph.input if value.name not in initializers]
    if len(inputs) != 1 or len(proto.graph.output) != 1:
        raise EdgeError("{} has {} inputs and {} outputs; an image classifier has one of each".format(
            path, len(inputs), len(proto.graph.output)))
    tensor_in = inputs[0].type.tensor_type
    dims = [_dim(d) for d in tensor_in.shape.dim]
    if len(dims) != 4 or dims[1] != 3 or tensor_in.elem_type != onnx.TensorProto.FLOAT:
        raise EdgeError("{} input {!r} is not a float32 Nx3xHxW image tensor (shape {})".format(
            path, inputs[0].name, dims))
    tensor_out = proto.graph.output[0].type.tensor_type
    out_dims = [_dim(d) for d in tensor_out.shape.dim]
    opset = max((op.version for op in proto.opset_import if op.domain in ("", "ai.onnx")), default=None)
    size = (dims[2], dims[3]) if dims[2] and dims[3] else None
    return {"input_name": inputs[0].name, "output_name": proto.graph.output[0].name, "opset": opset,
            "batch": dims[0], "size": size, "num_outputs": out_dims[1] if len(out_dims) == 2 else None,
            "elem_type": tensor_in.elem_type}


def onnx_opset(path):
    """The default-domain opset of an ONNX file."""
    onnx = require("onnx", "reading ONNX files")
    proto = onnx.load(str(path), load_external_data=False)
    return max(op.version for op in proto.opset_import if op.domain in ("", "ai.onnx"))


DEFAULT_DOMAINS = ("", "ai.onnx")


def used_domains(nodes, found=None):
    """The operator domains `nodes` use, those of the subgraphs in their attributes included."""
    found = set() if found is None else found
    for node in nodes:
        found.add(node.domain)
        for attribute in node.attribute:
            if attribute.HasField("g"):
                used_domains(attribute.g.node, found)
            for graph in attribute.graphs:
                used_domains(graph.node, found)
    return found


def keep_used_opsets(path):
    """Rewrite the ONNX file `path` with only the opset imports its nodes use (the graph's, its subgraphs'
    and its functions'), and always the default domain's. Returns the [(domain, version)] dropped;
    the file is left as it was when there are none."""
    onnx = require("onnx", "writing ONNX files")
    proto = onnx.load(str(path))
    used = used_domains(proto.graph.node)
    for function in proto.functions:
        used_domains(function.node, used)
    kept, dropped = [], []
    for opset in proto.opset_import:
        wanted = opset.domain in used or opset.domain in DEFAULT_DOMAINS
        (kept if wanted else dropped).append((opset.domain, opset.version))
    if dropped:
        del proto.opset_import[:]
        proto.opset_import.extend(onnx.helper.make_opsetid(domain, version) for domain, version in kept)
        onnx.save(proto, str(path))
    return dropped


def foreign_domains(path):
    """Operator domains other than the standard one (TensorRT reads only the standard domain)."""
    onnx = require("onnx", "reading ONNX files")
    proto = onnx.load(str(path), load_external_data=False)
    return sorted(set(node.domain for node in proto.graph.node if node.domain not in ("", "ai.onnx")))
