"""Command-line options shared by edge-predict, edge-camera and edge-bench for choosing a runner."""

from edge.option_ranges import help_text
from edge.runners.select import PRECISION_CHOICES, RUNTIMES

# The numbers these flags take, checked against edge.option_ranges (edge-camera checks them with its YAML).
RUNNER_NUMBERS = ("threads",)


def add_runner_arguments(parser):
    group = parser.add_argument_group("runtime")
    group.add_argument("--runtime", default=None, choices=RUNTIMES,
                       help="auto (default): TensorRT engine for this GPU if any, else ONNX Runtime")
    group.add_argument("--precision", default=None, choices=PRECISION_CHOICES,
                       help="auto (default): the fastest verified precision the runtime has")
    group.add_argument("--threads", type=int, default=None,
                       help=help_text("threads", "CPU threads for ONNX Runtime / PyTorch; default: the runtime's"))
    group.add_argument("--checkpoint", default=None,
                       help="PyTorch runtime: the model.pt (default: the one the bundle was exported from)")
    group.add_argument("--build-engine", action="store_true", default=None,
                       help="TensorRT: build the engine for this device on first run if missing, then cache it")
    return group
