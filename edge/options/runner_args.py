"""The runner options, declared once for edge-predict, edge-camera, edge-bench and edge-doctor.

A command that runs one runner (predict, camera) takes `--runtime` and `--precision`; a command
that measures or checks every runner it can (bench, doctor) takes `--runtimes` and `--precisions`,
comma lists that restrict its rows. `--threads`, `--checkpoint` and `--build-engine` mean the same
in all four. `--tta` (test-time augmentation, edge.tasks.tta) is declared here too, for edge-predict,
edge-camera, edge-bench and edge-train's final evaluation.
"""

from edge.cli import comma_list
from edge.options.ranges import help_text
from edge.runners import registry
from edge.runners.select import PRECISION_CHOICES, runtime_choices
from edge.tasks.tta import MODES as TTA_MODES

TTA_HELP = ("test-time augmentation: none (default); hflip, the image and its mirror; d4, the 8 rotations by 90 "
            "degrees and mirrors (top-down imagery, square inputs). The views run as one batch and their "
            "probabilities are averaged: 2x or 8x the compute")

# The numbers these flags take, checked against edge.options.ranges (edge-camera checks them with its YAML).
RUNNER_NUMBERS = ("threads",)
ROW_PRECISIONS = tuple(precision for precision in PRECISION_CHOICES if precision != "auto")


def add_runner_arguments(parser, rows=False):
    """The runtime group; `rows=True` for commands with one row per runtime and precision."""
    group = parser.add_argument_group("runtime")
    # The registry's runtimes, read when the parser is built: a runtime registered before is among them.
    if rows:
        row_runtimes = registry.names()
        group.add_argument("--runtimes", type=comma_list(row_runtimes), default=None, metavar="LIST",
                           help="only these runtimes: comma list of {} (default all)".format(",".join(row_runtimes)))
        group.add_argument("--precisions", type=comma_list(ROW_PRECISIONS), default=None, metavar="LIST",
                           help="only these precisions: comma list of {} (default all)".format(
                               ",".join(ROW_PRECISIONS)))
    else:
        group.add_argument("--runtime", default=None, choices=runtime_choices(),
                           help="auto (default): TensorRT engine for this GPU if any, else ONNX Runtime")
        group.add_argument("--precision", default=None, choices=PRECISION_CHOICES,
                           help="auto (default): the fastest verified precision the runtime has")
    group.add_argument("--threads", type=int, default=None,
                       help=help_text("threads", "CPU threads for ONNX Runtime / PyTorch; default: the runtime's, "
                                                 "but edge-camera and edge-bench --source give ONNX Runtime 1 thread "
                                                 "when that keeps up with the frame rate"))
    group.add_argument("--checkpoint", default=None,
                       help="PyTorch runtime: the model.pt (default: the one the bundle was exported from)")
    group.add_argument("--build-engine", action="store_true", default=None,
                       help="TensorRT: build the engine for this device on first run if missing, then cache it")
    return group


def add_tta_argument(parser, default="none", also=None):
    """--tta {none,hflip,d4}; `also`: what the command does with it besides (appended to the help)."""
    return parser.add_argument("--tta", default=default, choices=TTA_MODES,
                               help=TTA_HELP + ("; " + also if also else ""))
