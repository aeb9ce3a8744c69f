"""Choose and build the runner for a bundle: --runtime auto or one of the registry's runtimes
(edge.runners.registry: tensorrt, onnxruntime, pytorch, and any registered).

auto takes the first runtime, in the registry's order, that is installed and says it runs here, and
says why: a TensorRT engine built for this GPU and TensorRT version when there is one (or
--build-engine will build it), else ONNX Runtime (INT8 when the bundle has a verified INT8 model,
which is the fast path on CPUs), never PyTorch (a desktop reference, provided by the training
package). A Jetson has no ONNX Runtime: with no engine for it, auto answers with the command that
builds one.

A runtime's automatic precision is its own (edge.runners.onnxruntime.runtime takes the next model
when this ONNX Runtime cannot load the INT8 one); a precision asked for by name is not swapped, and
one the runtime does not run is refused in one line.
"""

from edge.bundle.schema import PRECISIONS
from edge.errors import EdgeError
from edge.runners import registry
from edge.runners.runtime import Options, Verdict

PRECISION_CHOICES = ("auto",) + PRECISIONS
DEFAULT_FRAME_RATE = 30.0   # frames a second of a camera loop whose source does not say (a camera's usual rate)


def runtime_choices():
    """What --runtime takes: auto, then every runtime of the registry."""
    return ("auto",) + registry.names()


def loop_frame_rate(fps=None):
    """The frames a second a camera loop must keep up with: the source's --fps, else DEFAULT_FRAME_RATE (a file's
    own rate is known only once it is open, after the runner is loaded)."""
    return float(fps) if fps else DEFAULT_FRAME_RATE


def make_runner(bundle, runtime="auto", precision="auto", threads=None, checkpoint=None, build_engine=False,
                log=None, spinning=True, frame_rate=None):
    """A not-yet-activated runner and a one-line reason for the choice.

    spinning=False: ONNX Runtime's threads sleep between calls (a camera-rate loop, not a benchmark).
    frame_rate: the model inputs a second that loop needs (frames a second, loop_frame_rate, times the --tta
    views); with threads None, ONNX Runtime then takes one intra-op thread when that keeps up with it, else its
    default (decided and logged on activation: edge.runners.onnxruntime.threads). Other runtimes ignore it.
    """
    choices = runtime_choices()
    if runtime not in choices:
        raise EdgeError("unknown --runtime {!r}; choose from {}".format(runtime, ", ".join(choices)))
    if precision not in PRECISION_CHOICES:
        raise EdgeError("unknown --precision {!r}; choose from {}".format(precision, ", ".join(PRECISION_CHOICES)))
    if runtime == "auto":
        runtime, why = auto_runtime(bundle, precision, build_engine)
    else:
        why = "asked for"
    chosen = registry.get(runtime)
    if precision != "auto" and precision not in chosen.precisions:
        raise EdgeError(chosen.refusal)
    if precision == "auto" and chosen.choose_precision is not None:
        precision, settled = chosen.choose_precision(bundle)
        why += "; " + settled
    options = Options(threads=threads, checkpoint=checkpoint, build_engine=build_engine, log=log, spinning=spinning,
                      frame_rate=frame_rate)
    return chosen.make(bundle, precision, options), why


def camera_runner(bundle, runtime="auto", precision="auto", threads=None, checkpoint=None, build_engine=False,
                  log=None, fps=None, views=1):
    """make_runner as edge-camera's loop runs it, and edge-bench --source measures it: frames come far apart, so
    idle worker threads sleep instead of spinning, and the thread count fits the source's frame rate (`fps`, its
    --fps; loop_frame_rate) times the model inputs each frame makes (`views`: --tta) unless `threads` is given."""
    return make_runner(bundle, runtime, precision, threads=threads, checkpoint=checkpoint, build_engine=build_engine,
                       log=log, spinning=False, frame_rate=loop_frame_rate(fps) * views)


def auto_runtime(bundle, precision="auto", build_engine=False):
    """(runtime, why): the first runtime, in the registry's order, that is installed and runs here; the reason is
    why the one before it was passed over. One clear error when none is left."""
    automatic = [runtime for runtime in registry.runtimes() if runtime.automatic is not None]
    passed_over = []
    for runtime in automatic:
        if runtime.available():
            verdict = runtime.automatic(bundle, precision, build_engine)
        else:
            verdict = Verdict(False, "{} is not installed".format(runtime.title))
        if verdict.taken:
            return runtime.name, passed_over[0].why if passed_over else verdict.why
        passed_over.append(verdict)
    for index, verdict in enumerate(passed_over):
        if verdict.remedy:   # installed, and could run here: say how, and that nothing is left to fall back to
            later = " or ".join(runtime.title for runtime in automatic[index + 1:])
            raise EdgeError("{} ({}{})".format(verdict.detail, verdict.remedy,
                                                "; {} is not installed to fall back to".format(later) if later else ""))
    raise EdgeError("no runtime available: install {}".format(", or ".join(
        runtime.install for runtime in reversed(automatic))))
