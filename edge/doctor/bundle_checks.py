"""The bundle on this machine: every runtime and precision that runs here, on the golden inputs,
against the golden outputs the desktop measured.

First the manifest is held against the model files (their input and output names and dims: a
manifest whose classes, size or names were edited fails, even where no runtime runs) and the golden
set against the manifest (frames of the model input's size, one reference output per class).
Rows come from edge.benchmark.candidates (ONNX Runtime fp32/INT8, TensorRT fp32/fp16/INT8 engines
for this GPU): a row that cannot run here is skipped with its reason (TensorRT not installed, an
engine built for another GPU with the command that rebuilds it, a model file this ONNX Runtime
cannot load with ORT's reason, as an older ONNX Runtime refuses a newer opset). Thresholds per
precision, written into each row of the report:

    fp32   max |output - golden| <= 1e-3 * max(1, max |golden|)
    fp16   top-1 agreement 100% and max |output - golden| <= 2e-2 * max(1, max |golden|)
    int8   top-1 agreement >= 98%

A regression bundle's outputs are points (edge.tasks.points), so there is no top-1: fp32 and fp16
keep their max |diff| rule, and int8's points must lie within the bundle's INT8 bar of the
golden ones on average: mean |output - golden| <= max_mae_increase_px (what export held INT8 to,
default 1), in pixels of the golden frames (the model input).
"""

import time

import numpy as np

from edge.benchmark.candidates import candidates
from edge.benchmark.stats import percentile
from edge.bundle.bundle import INT8_MAX_MAE_INCREASE_PX, INT8_MIN_AGREEMENT, PRECISIONS
from edge.doctor.checks import FAIL, PASS, SKIP, Check
from edge.errors import EdgeError
from edge.bundle.golden import GoldenSet, inputs_sha256
from edge.tasks.points import pixels_per_unit
from edge.runners.onnxruntime_runner import CannotLoad

THRESHOLDS = {
    "fp32": {"max_abs_diff_relative": 1e-3},
    "fp16": {"top1_agreement": 1.0, "max_abs_diff_relative": 2e-2},
    "int8": {"top1_agreement": INT8_MIN_AGREEMENT},
}
RUNTIMES = ("onnxruntime", "tensorrt")
TIMING_SECONDS = 0.5
TIMING_MIN_RUNS = 5
LOAD_FIX = ("re-export the bundle with this edge-export (older ones wrote opset imports no node uses), or use an "
            "onnxruntime new enough for the model's opset")


def bundle_checks(bundle, build_engine=False, log=None, runtimes=RUNTIMES, precisions=None, threads=None,
                  checkpoint=None):
    """[Check]: the manifest against the model files, the golden set, this machine's preprocessing, then one row
    per runtime and precision."""
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
        bundle, runtimes=runtimes or RUNTIMES, checkpoint=checkpoint, threads=threads, log=log, precisions=precisions)]
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
        return Check(name, SKIP, candidate.reason, fix=_skip_fix(candidate))
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
    if bundle.targets is not None:
        return judge_points(name, runner.precision, outputs, golden.reference, bundle.spec, int8_bar_px(bundle), p50,
                            described)
    return judge(name, runner.precision, outputs, golden.reference, p50, described)


def int8_bar_px(bundle):
    """The mean distance in pixels a regression bundle's INT8 points may keep from the golden ones: the bar
    export held INT8 to (the strictest flavor's), else the default."""
    records = ((bundle.manifest.get("verification") or {}).get("int8") or {}).values()
    bars = [record["max_mae_increase_px"] for record in records if record.get("max_mae_increase_px") is not None]
    return min(bars) if bars else INT8_MAX_MAE_INCREASE_PX


def judge_points(name, precision, outputs, reference, spec, int8_bar, p50_ms=None, described=""):
    """PASS or FAIL for a regression model's `outputs` against the golden `reference` (see the module docstring)."""
    pixels = np.tile(pixels_per_unit(spec), reference.shape[1] // 2)
    distance = np.abs(outputs - reference)
    figures = {"max_abs_diff": float(np.max(distance)), "mean_abs_diff_px": float(np.mean(distance * pixels)),
               "max_abs_golden": float(np.max(np.abs(reference))), "p50_ms": p50_ms, "images": int(len(reference))}
    if precision == "int8":
        rule = {"mean_abs_diff_px": float(int8_bar)}
        passed = figures["mean_abs_diff_px"] <= rule["mean_abs_diff_px"]   # NaN fails too
        failure = "mean |diff| {:.2f} px > {:g} px".format(figures["mean_abs_diff_px"], rule["mean_abs_diff_px"])
        rule_text = "threshold mean |diff| <= {:g} px (the bundle's INT8 bar)".format(rule["mean_abs_diff_px"])
        threshold = dict(rule)
    else:
        rule = {"max_abs_diff_relative": THRESHOLDS[precision]["max_abs_diff_relative"]}
        allowed = rule["max_abs_diff_relative"] * max(1.0, figures["max_abs_golden"])
        passed = figures["max_abs_diff"] <= allowed
        failure = "max |diff| {:.2e} > {:.2e}".format(figures["max_abs_diff"], allowed)
        rule_text = "threshold max |diff| <= {:g} x max(1, max |golden|)".format(rule["max_abs_diff_relative"])
        threshold = dict(rule, max_abs_diff=allowed)
    detail = "points {:.3f} px from golden on average, max |diff| {:.2e} on {} golden inputs; p50 {} ms; {}".format(
        figures["mean_abs_diff_px"], figures["max_abs_diff"], figures["images"],
        "-" if p50_ms is None else "{:.2f}".format(p50_ms), rule_text)
    data = dict(figures, threshold=threshold, runner=described)
    if not passed:
        return Check(name, FAIL, failure + " (" + detail + ")", data=data,
                     fix="this path disagrees with the desktop: attach the --json report to an issue")
    return Check(name, PASS, detail, data=data)


def judge(name, precision, outputs, reference, p50_ms=None, described=""):
    """PASS or FAIL for `outputs` against the golden `reference`, by the precision's threshold."""
    rule = THRESHOLDS[precision]
    figures = {"max_abs_diff": float(np.max(np.abs(outputs - reference))),
               "top1_agreement": float(np.mean(outputs.argmax(1) == reference.argmax(1))),
               "max_abs_golden": float(np.max(np.abs(reference))), "p50_ms": p50_ms, "images": int(len(reference))}
    allowed = rule.get("max_abs_diff_relative", 0) * max(1.0, figures["max_abs_golden"])
    failures = []
    if "max_abs_diff_relative" in rule and not figures["max_abs_diff"] <= allowed:   # NaN fails too
        failures.append("max |diff| {:.2e} > {:.2e}".format(figures["max_abs_diff"], allowed))
    if "top1_agreement" in rule and figures["top1_agreement"] < rule["top1_agreement"]:
        failures.append("top-1 agreement {:.1%} < {:.0%}".format(figures["top1_agreement"], rule["top1_agreement"]))
    detail = "top-1 {:.1%}, max |diff| {:.2e} on {} golden inputs; p50 {} ms; {}".format(
        figures["top1_agreement"], figures["max_abs_diff"], figures["images"],
        "-" if p50_ms is None else "{:.2f}".format(p50_ms), _rule_text(precision))
    data = dict(figures, threshold=dict(rule, max_abs_diff=allowed if "max_abs_diff_relative" in rule else None),
                runner=described)
    if failures:
        return Check(name, FAIL, "; ".join(failures) + " (" + detail + ")", data=data,
                     fix="this path disagrees with the desktop: attach the --json report to an issue")
    return Check(name, PASS, detail, data=data)


def _rule_text(precision):
    rule = THRESHOLDS[precision]
    parts = []
    if "top1_agreement" in rule:
        parts.append("top-1 >= {:.0%}".format(rule["top1_agreement"]))
    if "max_abs_diff_relative" in rule:
        parts.append("max |diff| <= {:g} x max(1, max |golden|)".format(rule["max_abs_diff_relative"]))
    return "threshold " + " and ".join(parts)


def _p50_ms(runner, one):
    """Median milliseconds of a batch-1 inference, over half a second (a slow path shows)."""
    samples, deadline = [], time.perf_counter() + TIMING_SECONDS
    while len(samples) < TIMING_MIN_RUNS or time.perf_counter() < deadline:
        started = time.perf_counter()
        runner.infer(one)
        samples.append((time.perf_counter() - started) * 1000.0)
    return percentile(samples, 50)


def _skip_fix(candidate):
    if candidate.runtime == "tensorrt" and "edge-export" in (candidate.reason or ""):
        return "build it on this device (the command above), or run edge-doctor with --build-engine"
    if candidate.runtime == "tensorrt" and "not installed" in (candidate.reason or ""):
        return "on a Jetson TensorRT comes with JetPack (jetson/install.sh)"
    return None
