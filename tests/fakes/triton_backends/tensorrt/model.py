"""Stand-in for Triton's TensorRT backend where there is no GPU: it loads nothing and runs nothing.

With it, Triton's core loads a tensorrt_plan model's configuration (parses it, checks batching and
dynamic batching, reads the label file), which it does only once the backend is found. The plan
file must be there and not empty; every request is answered with an error saying no engine runs here.
"""

import json
import os
import sys

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "site.json")) as _handle:
    sys.path[:0] = json.load(_handle)

import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel(object):
    def initialize(self, args):
        config = json.loads(args["model_config"])
        path = os.path.join(args["model_repository"], args["model_version"],
                            config.get("default_model_filename") or "model.plan")
        if not os.path.isfile(path) or not os.path.getsize(path):
            raise pb_utils.TritonModelException("no plan file at {}".format(path))

    def execute(self, requests):
        return [pb_utils.InferenceResponse(error=pb_utils.TritonError("stand-in TensorRT backend: no engine runs "
                                                                      "on this machine"))
                for _ in requests]
