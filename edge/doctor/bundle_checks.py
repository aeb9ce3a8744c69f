"""The bundle on this machine: every runtime and precision that runs here, on the golden inputs,
against the golden outputs the desktop measured.

First the manifest is held against the model files (their input and output names and dims: a
manifest whose classes, size or names were edited fails, even where no runtime runs) and the golden
set against the manifest (frames of the model input's size, one reference output per class).
Rows come from edge.benchmark.candidates (ONNX Runtime fp32/INT8, TensorRT fp32/fp16/INT8 engines
for this GPU): a row that cannot run here is skipped with its reason (TensorRT not installed, an
engine built for another GPU with the command that rebuilds it, a model file this ONNX Runtime
cannot load with ORT's reason, as an older ONNX Runtime refuses a newer opset). The bundle's task
(edge.tasks) judges each row against the golden outputs; its thresholds per precision, written into
each row of the report, are for a classifier (edge.tasks.classification):

    fp32   max |output - golden| <= 1e-3 * max(1, max |golden|)
    fp16   top-1 agreement 100% and max |output - golden| <= 2e-2 * max(1, max |golden|)
    int8   top-1 agreement >= 98%

A regression bundle's outputs are points (edge.tasks.regression), so there is no top-1: fp32 and fp16
keep their max |diff| rule, and int8's points must lie within the bundle's INT8 bar of the
golden ones on average: mean |output - golden| <= max_mae_increase_px (what export held INT8 to,
default 1), in pixels of the golden frames (the model input).
"""

import time

from edge.benchmark.candidates import candidates
from edge.benchmark.stats import percentile
from edge.bundle.schema import PRECISIONS
from edge.doctor.checks import FAIL, PASS, SKIP, Check
from edge.errors import EdgeError
from edge.bundle.golden import GoldenSet, inputs_sha256
from edge.runners import registry
from edge.runners.onnxruntime.loader import CannotLoad

TIMING_SECONDS = 0.5
TIMING_MIN_RUNS = 5
LOAD_FIX = ("re-export the bundle with this edge-export (older ones wrote opset imports no node uses), or use an "
            "onnxruntime new enough for the model's opset")


def bundle_checks(bundle, build_engine=False, log=None, runtimes=None, precisions=None, threads=None,
                  checkpoint=None):
    """[Check]: the manifest against the model files, the golden set, this machine's preprocessing, then one row
    per runtime and precision (runtimes: default, those of the registry edge-doctor checks)."""
    checks = [manifest_check(bundle)]
    try:
        golden, entry = GoldenSet.load(bundle)
    except EdgeError as exc:
        return checks + [Check("golden set", FAIL, str(exc), fix="re-export the bundle with this edge-export")]
    origin = "real images" if golden.source == "images" else "generated frames"
    checks += [Check("golden set", PASS, "{} {} with the desktop's {} outputs".format(len(golden), origin,
                                                                                   entry.get("reference")),
                    data={"count": len(golden), "reference": entry.get("reference")})]
    checks.append(_preprocessing(bundle, golden, entry))
    if build_engine:
        checks.extend(_build_missing_engines(bundle, log))
    rows = [_row(bundle, golden, candidate) for candidate in candidates(
        bundle, runtimes=runtimes or registry.doctor_names(), checkpoint=checkpoint, threads=threads, log=log,
        precisions=precisions)]
    checks.extend(rows)
    if not any(row.status in (PASS, FAIL) for row in rows):
        checks.append(Check("runtimes", FAIL, "no runtime could run the golden set here",
                            fix="install TensorRT (JetPack) and build an engine: edge-export {} --engine fp16".format(
                                bundle.path)))
    return checks


def manifest_check(bundle):
    """The manifest against every ONNX model file of the bundle, read without a runtime (edge.bundle.onnx_io): each
    takes the preprocessing's image under the manifest's input name and gives one output per class."""
    from edge.bundle.schema import model_io_problem
    from edge.bundle.onnx_io import graph_io

    fix = "re-export the bundle, or restore the manifest edge-export wrote"
    files = []
    for entry in bundle.artifacts("onnx"):
        try:
            io = graph_io(bundle.check(entry))
        except EdgeError as exc:
            return Check("manifest", FAIL, str(exc), fix=fix)
        problem = model_io_problem(bundle, [(t.name, t.dims) for t in io.inputs],
                                   [(t.name, t.dims) for t in io.outputs], bundle.model_input_format(entry))
        if problem:
            return Check("manifest", FAIL, "{}: {}".format(entry["file"], problem), fix=fix)
        files.append(entry["file"])
    if not files:
        return Check("manifest", SKIP, "no ONNX model in the bundle to hold the manifest against")
    return Check("manifest", PASS, "{} outputs ({}) and a {} input agree with {}".format(
        len(bundle.classes), bundle.output_kind, "x".join(str(d) for d in bundle.item_shape()), ", ".join(files)))


def _preprocessing(bundle, golden, entry):
    """The float inputs this machine makes from the golden frames, against the desktop's (sha256)."""
    digest = inputs_sha256(golden.inputs(bundle.spec))
    if digest == entry.get("inputs_sha256"):
        return Check("preprocessing", PASS, "normalising the golden frames here gives the desktop's float inputs "
                                            "bit for bit")
    return Check("preprocessing", FAIL, "the float inputs made here differ from the desktop's (sha256 {} vs {})".format(
        digest[:12], str(entry.get("inputs_sha256"))[:12]),
        fix="numpy or edge/ differs from the desktop's: reinstall edge/ from the same checkout")


def _build_missing_engines(bundle, log):
    """--build-engine: the engines this GPU can run, built where missing (reused where present)."""
    from edge.util.lazy import available

    if not available("tensorrt"):
        return [Check("build engines", SKIP, "TensorRT is not installed: nothing to build")]
    from edge.bundle.bundle import Bundle
    from edge.tensorrt.engines import add_engines

    try:
        entries = add_engines(bundle.path, list(PRECISIONS), log=log or (lambda text: None))
    except EdgeError as exc:
        return [Check("build engines", FAIL, str(exc), fix="see jetson/README.md, Build the engine on the device")]
    except Exception as exc:   # TensorRT or CUDA raising on its own: a FAIL row, and the report goes on
        return [Check("build engines", FAIL, "the engine build raised {}: {}".format(type(exc).__name__, exc),
                      fix="attach the --json report to an issue; see jetson/README.md, Build the engine on the "
                          "device")]
    bundle.manifest = Bundle.load(bundle.path).manifest
    return [Check("build engines", PASS, ", ".join(sorted(set("{} ({})".format(e["precision"], e["file"])
                                                              for e in entries))))]


def _row(bundle, golden, candidate):
    name = candidate.label
    if candidate.runner is None:
        return Check(name, SKIP, candidate.reason, fix=candidate.fix)
    try:
        with candidate.runner as runner:
            inputs = golden.model_inputs(bundle)
            outputs = runner.infer(inputs)
            p50 = _p50_ms(runner, inputs[:1])
            described = runner.describe()
    except CannotLoad as exc:   # this ONNX Runtime cannot run the model here: not a wrong answer
        return Check(name, SKIP, str(exc), fix=LOAD_FIX)
    except EdgeError as exc:
        return Check(name, FAIL, str(exc), fix="see the message; jetson/README.md covers engines and memory")
    except Exception as exc:   # a runtime raising on its own (TensorRT, CUDA, ORT): a FAIL row, the report goes on
        return Check(name, FAIL, "{}: {}".format(type(exc).__name__, exc),
                     fix="attach the report (--json) to an issue; jetson/README.md covers engines and memory")
    return golden_check(name, bundle.task.golden_verdict(runner.precision, outputs, golden.reference, bundle, p50),
                        described)


def runner_checks(bundle, runner, name="golden set on this runner"):
    """[Check] for one runner already active (what a live model swap runs before it switches): the manifest against
    the model files, the golden set, this machine's preprocessing, and this runner's outputs for the golden inputs
    judged by the bundle's task as edge-doctor's rows are. runner None: all but the last (nothing loaded)."""
    checks = [manifest_check(bundle)]
    try:
        golden, entry = GoldenSet.load(bundle)
    except EdgeError as exc:
        return checks + [Check("golden set", FAIL, str(exc), fix="re-export the bundle with this edge-export")]
    checks.append(_preprocessing(bundle, golden, entry))
    if runner is None:
        return checks
    try:
        inputs = golden.model_inputs(bundle)
        outputs = runner.infer(inputs)
        p50 = _p50_ms(runner, inputs[:1])
    except Exception as exc:   # a runtime raising on the golden inputs: the check fails, the caller goes on
        return checks + [Check(name, FAIL, "{}: {}".format(type(exc).__name__, exc))]
    checks.append(golden_check(name, bundle.task.golden_verdict(runner.precision, outputs, golden.reference, bundle,
                                                                p50), runner.describe()))
    return checks


def golden_check(name, verdict, described=""):
    """The row of one runtime path from its task's GoldenVerdict against the golden set (edge.tasks)."""
    data = dict(verdict.data, runner=described)
    if not verdict.passed:
        return Check(name, FAIL, verdict.failure + " (" + verdict.detail + ")", data=data,
                     fix="this path disagrees with the desktop: attach the --json report to an issue")
    return Check(name, PASS, verdict.detail, data=data)


def _p50_ms(runner, one):
    """Median milliseconds of a batch-1 inference, over half a second (a slow path shows)."""
    samples, deadline = [], time.perf_counter() + TIMING_SECONDS
    while len(samples) < TIMING_MIN_RUNS or time.perf_counter() < deadline:
        started = time.perf_counter()
        runner.infer(one)
        samples.append((time.perf_counter() - started) * 1000.0)
    return percentile(samples, 50)

