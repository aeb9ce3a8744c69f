"""Stand-in for Triton's onnxruntime backend: the real backend's load-time checks, then ONNX Runtime (CPU).

The checks are those the real backend makes before it serves a model (onnxruntime_backend,
src/onnxruntime.cc ValidateInputs and ValidateOutputs, src/onnxruntime_utils.cc
CompareDimsSupported), written from their description, against what ONNX Runtime says the
model file takes and gives:
- the configuration names as many inputs as the model has, each with the model's element type;
- with max_batch_size > 0 each model tensor's first axis must be dynamic, and the configured dims
  follow it; otherwise the configured dims are the whole shape;
- an input's configured dims must equal the model's fixed axes (a dynamic model axis takes any
  value); an output's must equal the model's exactly (-1 for a dynamic axis).
Each batch Triton's scheduler forms runs as one ONNX Runtime call, requests concatenated.

Tensors cross the stub through DLPack, not as_numpy()/Tensor(name, array): the pytriton wheel's stub
is built against NumPy 1.x (pytriton requires numpy<2), and its NumPy conversions misread NumPy 2
arrays (wrong sizes, wrong values); DLPack does not depend on NumPy's ABI.
"""

import json
import os
import sys

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "site.json")) as _handle:
    sys.path[:0] = json.load(_handle)

import numpy as np  # noqa: E402
import onnxruntime  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402

ORT_TYPES = {"tensor(float)": "TYPE_FP32", "tensor(uint8)": "TYPE_UINT8", "tensor(int8)": "TYPE_INT8",
             "tensor(int32)": "TYPE_INT32", "tensor(int64)": "TYPE_INT64", "tensor(float16)": "TYPE_FP16",
             "tensor(double)": "TYPE_FP64", "tensor(bool)": "TYPE_BOOL"}


def _model_dims(node):
    return [d if isinstance(d, int) else -1 for d in node.shape]


def _compare(model, tensor, max_batch_size, exact):
    dims = [int(d) for d in tensor["dims"]]
    model_dims = _model_dims(model)
    if max_batch_size > 0:
        if not model_dims or model_dims[0] != -1:
            raise pb_utils.TritonModelException(
                "tensor '{}': for the model to support batching the first dimension must be -1; but shape "
                "expected by the model is {}".format(tensor["name"], model_dims))
        dims = [-1] + dims
    same = len(model_dims) == len(dims) and all(
        m == c for m, c in zip(model_dims, dims) if exact or m != -1)
    if not same:
        raise pb_utils.TritonModelException("tensor '{}': the model expects shape {} but the model "
                                            "configuration specifies {}".format(tensor["name"], model_dims, dims))


class TritonPythonModel(object):
    def initialize(self, args):
        config = json.loads(args["model_config"])
        path = os.path.join(args["model_repository"], args["model_version"],
                            config.get("default_model_filename") or "model.onnx")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.batching = config["max_batch_size"] > 0
        model_inputs = dict((node.name, node) for node in self.session.get_inputs())
        model_outputs = dict((node.name, node) for node in self.session.get_outputs())
        if len(config["input"]) != len(model_inputs):
            raise pb_utils.TritonModelException("configuration expects {} inputs, model provides {}".format(
                len(config["input"]), len(model_inputs)))
        for tensors, nodes, exact in ((config["input"], model_inputs, False), (config["output"], model_outputs, True)):
            for tensor in tensors:
                node = nodes.get(tensor["name"])
                if node is None:
                    raise pb_utils.TritonModelException("the model has no tensor '{}'".format(tensor["name"]))
                if ORT_TYPES.get(node.type) != tensor["data_type"]:
                    raise pb_utils.TritonModelException("configuration expects datatype {} for '{}', model "
                                                        "provides {}".format(tensor["data_type"], tensor["name"],
                                                                             node.type))
                _compare(node, tensor, config["max_batch_size"], exact)
        self.inputs = [tensor["name"] for tensor in config["input"]]
        self.outputs = [tensor["name"] for tensor in config["output"]]

    def execute(self, requests):
        feeds = [[np.from_dlpack(pb_utils.get_input_tensor_by_name(request, name)) for name in self.inputs]
                 for request in requests]
        if not self.batching:
            results = [self.session.run(self.outputs, dict(zip(self.inputs, feed))) for feed in feeds]
        else:
            sizes = [feed[0].shape[0] for feed in feeds]
            joined = dict((name, np.concatenate([feed[index] for feed in feeds]))
                          for index, name in enumerate(self.inputs))
            outputs = self.session.run(self.outputs, joined)
            ends = np.cumsum(sizes)
            results = [[output[end - size:end] for output in outputs] for size, end in zip(sizes, ends)]
        return [pb_utils.InferenceResponse([pb_utils.Tensor.from_dlpack(name, np.ascontiguousarray(value).__dlpack__())
                                            for name, value in zip(self.outputs, result)])
                for result in results]
