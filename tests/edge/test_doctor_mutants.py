"""edge-doctor's bundle rows on a tiny bundle (no torch): what passes, what fails, and that a failure
anywhere is a row of the report, never a crash of the doctor.

Written against the survivors of `make mutation` (tests/mutation.py)."""

import json
import os

import numpy as np
import pytest

import edge.util.lazy
import edge.tensorrt.engines
from edge.benchmark.candidates import Candidate
from edge.bundle.bundle import Bundle, artifact_entry, write_manifest
from edge.doctor import bundle_checks as doctor
from edge.tasks import classification, regression
from edge.doctor.checks import FAIL, PASS, SKIP
from edge.errors import EdgeError
from edge.bundle.golden import GoldenSet
from edge.bundle.preprocess import PreprocessSpec, normalize_batch
from edge.tasks.points import RegressionTargets
from edge.runners.onnxruntime.loader import CannotLoad
from tests.edge.golden_judges import judge, judge_points
from tests.fakes.tiny_bundle import tiny_logits, write_tiny_bundle

COUNT = 6


def tiny_golden_bundle(folder, inputs_sha256=None):
    """write_tiny_bundle plus a golden set of generated frames with numpy's reference outputs."""
    folder = write_tiny_bundle(str(folder), qdq=True)
    with open(os.path.join(folder, "manifest.json")) as handle:
        manifest = json.load(handle)
    spec = PreprocessSpec.from_dict(manifest["input"]["preprocess"])
    frames = np.random.RandomState(3).randint(0, 256, (COUNT, 32, 32, 3)).astype(np.uint8)
    extras = GoldenSet(frames, tiny_logits(normalize_batch(frames, spec)), "onnxruntime-fp32", "random").save(
        folder, spec)
    if inputs_sha256:
        extras["inputs_sha256"] = inputs_sha256
    manifest["artifacts"].append(artifact_entry(folder, "golden.npz", "golden", **extras))
    write_manifest(folder, manifest)
    return Bundle(folder, manifest)


def rows(checks):
    return dict((check.name, check) for check in checks)


@pytest.fixture
def tiny(tmp_path):
    return tiny_golden_bundle(tmp_path / "bundle")


def test_a_good_bundle_passes_its_golden_set_preprocessing_and_onnx_runtime_fp32(tiny):
    pytest.importorskip("onnxruntime")
    found = rows(doctor.bundle_checks(tiny, runtimes=("onnxruntime",), precisions=("fp32",)))
    golden = found["golden set"]
    assert (golden.status, golden.detail) == (PASS, "6 generated frames with the desktop's onnxruntime-fp32 outputs")
    assert golden.data == {"count": COUNT, "reference": "onnxruntime-fp32"}
    assert found["preprocessing"].status == PASS
    assert found["preprocessing"].detail == "normalising the golden frames here gives the desktop's float inputs bit " \
                                            "for bit"
    row = found["onnxruntime fp32"]
    assert row.status == PASS, row.detail
    assert row.data["images"] == COUNT and row.data["top1_agreement"] == 1.0 and row.data["p50_ms"] > 0
    assert "runtimes" not in found


def test_preprocessing_that_differs_from_the_desktops_names_both_digests(tmp_path):
    bundle = tiny_golden_bundle(tmp_path / "bundle", inputs_sha256="0123456789abcdef" * 4)
    check = rows(doctor.bundle_checks(bundle, runtimes=("tensorrt",)))["preprocessing"]
    assert check.status == FAIL
    assert check.detail.startswith("the float inputs made here differ from the desktop's (sha256 ")
    assert check.detail.endswith(" vs 0123456789ab)") and len(check.detail.split("sha256 ")[1].split()[0]) == 12
    assert check.fix == "numpy or edge/ differs from the desktop's: reinstall edge/ from the same checkout"


def test_a_bundle_whose_golden_set_cannot_be_read_fails_that_row_and_runs_nothing(tiny):
    os.remove(os.path.join(tiny.path, "golden.npz"))
    checks = doctor.bundle_checks(tiny, runtimes=("onnxruntime",))
    assert checks[-1].name == "golden set" and checks[-1].status == FAIL
    assert "golden.npz but the file is missing" in checks[-1].detail
    assert checks[-1].fix == "re-export the bundle with this edge-export"


def test_when_no_runtime_can_run_here_the_report_fails_and_says_what_to_install(tiny, monkeypatch):
    monkeypatch.setattr(edge.util.lazy, "available", lambda name: False if name == "tensorrt" else True)
    found = rows(doctor.bundle_checks(tiny, runtimes=("tensorrt",), build_engine=True))
    assert (found["build engines"].status, found["build engines"].detail) == (
        SKIP, "TensorRT is not installed: nothing to build")
    skipped = [check for check in found.values() if check.name.startswith("tensorrt ")]
    assert skipped and all(check.status == SKIP for check in skipped)
    assert all(check.fix == "on a Jetson TensorRT comes with JetPack (jetson/install.sh)" for check in skipped)
    final = found["runtimes"]
    assert (final.status, final.detail) == (FAIL, "no runtime could run the golden set here")
    assert final.fix == "install TensorRT (JetPack) and build an engine: edge-export {} --engine fp16".format(tiny.path)


def build_with(monkeypatch, add_engines):
    monkeypatch.setattr(edge.util.lazy, "available", lambda name: True)
    monkeypatch.setattr(edge.tensorrt.engines, "add_engines", add_engines)


@pytest.mark.parametrize("error, detail", [
    (RuntimeError("[TRT] [E] 4: Internal error: cudaMalloc failed"),
     "the engine build raised RuntimeError: [TRT] [E] 4: Internal error: cudaMalloc failed"),
    (MemoryError("out of memory"), "the engine build raised MemoryError: out of memory"),
])
def test_an_engine_build_that_raises_is_a_fail_row_not_a_crash(tiny, monkeypatch, error, detail):
    def add_engines(path, precisions, log):
        raise error
    build_with(monkeypatch, add_engines)
    [check] = doctor._build_missing_engines(tiny, None)
    assert (check.name, check.status, check.detail) == ("build engines", FAIL, detail)
    assert check.fix == "attach the --json report to an issue; see jetson/README.md, Build the engine on the device"


def test_an_engine_build_refused_says_why(tiny, monkeypatch):
    def add_engines(path, precisions, log):
        assert (path, precisions) == (tiny.path, ["fp32", "fp16", "int8"])
        log("building")
        raise EdgeError("no fast INT8 on this GPU (Tegra X1); --strict refuses the FP16 fallback")
    build_with(monkeypatch, add_engines)
    [check] = doctor._build_missing_engines(tiny, None)
    assert (check.name, check.status, check.detail) == ("build engines", FAIL, "no fast INT8 on this GPU (Tegra X1); --strict refuses the FP16 "
                                                  "fallback")
    assert check.fix == "see jetson/README.md, Build the engine on the device"


def test_built_engines_are_listed_once_each_and_the_manifest_reread(tiny, monkeypatch):
    lines = []

    def add_engines(path, precisions, log):
        log("built")
        manifest = dict(tiny.manifest, verification={"reread": True})
        write_manifest(path, manifest)
        return [{"precision": "fp16", "file": "b.plan"}, {"precision": "fp16", "file": "b.plan"},
                {"precision": "fp32", "file": "a.plan"}]
    build_with(monkeypatch, add_engines)
    monkeypatch.setattr(Bundle, "load", classmethod(lambda cls, path: cls(path, json.load(
        open(os.path.join(path, "manifest.json"))))))
    [check] = doctor._build_missing_engines(tiny, lines.append)
    assert (check.status, check.detail, lines) == (PASS, "fp16 (b.plan), fp32 (a.plan)", ["built"])
    assert tiny.manifest["verification"] == {"reread": True}


class FakeRunner(object):
    def __init__(self, outputs=None, raises=None, precision="fp32"):
        self.outputs, self.raises, self.precision = outputs, raises, precision
        self.calls = 0

    def __enter__(self):
        if self.raises:
            raise self.raises
        return self

    def __exit__(self, *exc):
        return False

    def infer(self, inputs):
        self.calls += 1
        return self.outputs[:len(inputs)]

    def describe(self):
        return "fake runner"


def test_a_row_that_cannot_load_is_skipped_one_that_errs_fails_one_that_agrees_passes(tiny):
    golden, _ = GoldenSet.load(tiny)
    skip = doctor._row(tiny, golden, Candidate("onnxruntime", "int8", FakeRunner(raises=CannotLoad("opset 21"))))
    assert (skip.name, skip.status, skip.detail, skip.fix) == ("onnxruntime int8", SKIP, "opset 21", doctor.LOAD_FIX)
    fail = doctor._row(tiny, golden, Candidate("tensorrt", "fp16", FakeRunner(raises=EdgeError("engine is stale"))))
    assert (fail.status, fail.detail) == (FAIL, "engine is stale")
    assert fail.fix == "see the message; jetson/README.md covers engines and memory"
    crash = doctor._row(tiny, golden, Candidate("tensorrt", "fp16", FakeRunner(
        raises=RuntimeError("[TRT] [E] 1: [executionContext.cpp] CUDA error 700"))))
    assert (crash.status, crash.detail) == (FAIL, "RuntimeError: [TRT] [E] 1: [executionContext.cpp] CUDA error 700")
    runner = FakeRunner(golden.reference)
    good = doctor._row(tiny, golden, Candidate("onnxruntime", "fp32", runner))
    assert good.status == PASS and good.data["runner"] == "fake runner"
    assert runner.calls >= 1 + doctor.TIMING_MIN_RUNS
    absent = doctor._row(tiny, golden, Candidate("tensorrt", "fp16", None, "engine-fp16 was built for Orin; "
                                                 "rebuild it with: edge-export b --engine fp16"))
    assert (absent.status, absent.fix) == (
        SKIP, "build it on this device (the command above), or run edge-doctor with --build-engine")
    other = doctor._row(tiny, golden, Candidate("onnxruntime", "int8", None, "no INT8 model"))
    assert (other.status, other.fix) == (SKIP, None)


def logits(top, count=50, classes=3, scale=1.0):
    out = np.zeros((count, classes), np.float32)
    out[np.arange(count), top] = scale
    return out


@pytest.mark.parametrize("precision, agree, status", [
    ("int8", 49, PASS),     # 98% exactly
    ("int8", 48, FAIL),
    ("fp16", 50, PASS),
    ("fp16", 49, FAIL),     # fp16 must agree everywhere
])
def test_top1_bars_per_precision(precision, agree, status):
    reference = logits(np.zeros(50, int), scale=0.01)
    top = np.zeros(50, int)
    top[agree:] = 1
    outputs = logits(top, scale=0.01)
    check = judge("row", precision, outputs, reference, p50_ms=1.5, described="r")
    assert check.status == status, check.detail
    assert check.data["top1_agreement"] == pytest.approx(agree / 50.0)
    if status == FAIL:
        assert "top-1 agreement {:.1%} < {:.0%}".format(agree / 50.0, classification.THRESHOLDS[precision]["top1_agreement"]) \
            in check.detail
        assert check.fix == "this path disagrees with the desktop: attach the --json report to an issue"


@pytest.mark.parametrize("golden_max, diff, precision, status", [
    (0.5, 0.0009, "fp32", PASS),     # |golden| below 1: the bar is 1e-3
    (0.5, 0.0015, "fp32", FAIL),
    (4.0, 0.0039, "fp32", PASS),     # above 1 it scales: 4e-3
    (4.0, 0.0041, "fp32", FAIL),
    (0.5, 0.019, "fp16", PASS),
    (0.5, 0.021, "fp16", FAIL),
    (0.5, float("nan"), "fp32", FAIL),
])
def test_max_diff_bars_per_precision(golden_max, diff, precision, status):
    reference = logits(np.zeros(50, int), scale=golden_max)
    outputs = reference.copy()
    outputs[0, 1] += diff
    check = judge("row", precision, outputs, reference)
    assert check.status == status, check.detail
    allowed = classification.THRESHOLDS[precision]["max_abs_diff_relative"] * max(1.0, golden_max)
    assert check.data["threshold"]["max_abs_diff"] == pytest.approx(allowed)
    assert check.data["max_abs_golden"] == pytest.approx(golden_max)
    assert "p50 - ms" in check.detail and "on 50 golden inputs" in check.detail


def test_the_rule_texts_name_each_bar():
    assert classification.rule_text("fp32") == "threshold max |diff| <= 0.001 x max(1, max |golden|)"
    assert classification.rule_text("fp16") == "threshold top-1 >= 100% and max |diff| <= 0.02 x max(1, max |golden|)"
    assert classification.rule_text("int8") == "threshold top-1 >= 98%"
    check = judge("row", "int8", logits(np.zeros(50, int)), logits(np.zeros(50, int)), p50_ms=2.0)
    assert check.detail == ("top-1 100.0%, max |diff| 0.00e+00 on 50 golden inputs; p50 2.00 ms; "
                            "threshold top-1 >= 98%")
    assert check.data["threshold"] == {"top1_agreement": 0.98, "max_abs_diff": None}


def regression_bundle(bars):
    targets = RegressionTargets(["nose_x", "nose_y"])
    manifest = {"output": dict(targets.to_dict(), name="points", kind="regression"),
                "verification": {"int8": dict((name, {"max_mae_increase_px": bar}) for name, bar in bars.items())}}
    return Bundle("b", manifest)


def test_the_int8_bar_for_points_is_the_strictest_recorded_else_one_pixel():
    assert regression.int8_bar_px(regression_bundle({"a": 2.0, "b": 0.5})) == 0.5
    assert regression.int8_bar_px(regression_bundle({"a": None})) == 1.0
    assert regression.int8_bar_px(Bundle("b", {"verification": {}})) == 1.0


@pytest.mark.parametrize("precision, shift, bar, status", [
    ("int8", 0.05, 1.0, PASS),    # 0.05 units x 16 px = 0.8 px on average (x only: 0.4 px mean)
    ("int8", 0.2, 1.0, FAIL),     # 3.2 px on x: 1.6 px mean
    ("int8", 0.09375, 0.75, PASS),  # 1.5 px on x, 0 on y: 0.75 px mean, exactly the bar
    ("fp32", 0.0009, 1.0, PASS),
    ("fp32", 0.0011, 1.0, FAIL),
])
def test_points_are_judged_in_pixels_of_the_model_input(precision, shift, bar, status):
    spec = PreprocessSpec(size=32)
    reference = np.zeros((10, 2), np.float32)
    outputs = reference.copy()
    outputs[:, 0] += shift
    check = judge_points("row", precision, outputs, reference, spec, bar, p50_ms=None, described="r")
    assert check.status == status, check.detail
    assert check.data["mean_abs_diff_px"] == pytest.approx(shift * 16 / 2)
    assert check.data["images"] == 10 and check.data["runner"] == "r"
    if precision == "int8":
        assert check.data["threshold"] == {"mean_abs_diff_px": bar}
        assert "threshold mean |diff| <= {:g} px (the bundle's INT8 bar)".format(bar) in check.detail
    else:
        assert check.data["threshold"]["max_abs_diff"] == pytest.approx(1e-3)
        assert "threshold max |diff| <= 0.001 x max(1, max |golden|)" in check.detail


def test_the_golden_row_says_real_images_and_the_options_reach_every_row(tiny, monkeypatch):
    golden, entry = GoldenSet.load(tiny)
    golden.source = "images"
    monkeypatch.setattr(GoldenSet, "load", classmethod(lambda cls, bundle: (golden, dict(entry, reference="pytorch"))))
    asked = {}

    def candidates(bundle, **options):
        asked.update(options, bundle=bundle)
        return [Candidate("onnxruntime", "fp32", FakeRunner(golden.reference))]
    monkeypatch.setattr(doctor, "candidates", candidates)
    monkeypatch.setattr(edge.util.lazy, "available", lambda name: True)
    monkeypatch.setattr(edge.tensorrt.engines, "add_engines", lambda path, precisions, log: log("built") or [])
    monkeypatch.setattr(Bundle, "load", classmethod(lambda cls, path: cls(path, tiny.manifest)))
    lines = []
    found = rows(doctor.bundle_checks(tiny, build_engine=True, log=lines.append, runtimes=None, precisions=("fp32",),
                                      threads=2, checkpoint="model.pt"))
    assert found["golden set"].detail == "6 real images with the desktop's pytorch outputs"
    assert asked == {"bundle": tiny, "runtimes": ("onnxruntime", "tensorrt"), "checkpoint": "model.pt",
                     "threads": 2, "log": lines.append, "precisions": ("fp32",)}
    assert lines == ["built"] and found["build engines"].status == PASS
    assert found["onnxruntime fp32"].status == PASS


class FakeClock(object):
    """time.perf_counter for _p50_ms: only the runner's infer() moves it, by the next of `steps` seconds."""

    def __init__(self, steps):
        self.now, self.steps, self.batches = 100.0, list(steps), []

    def __call__(self):
        return self.now

    def infer(self, one):
        self.batches.append(len(one))
        self.now += self.steps.pop(0)


@pytest.mark.parametrize("seconds, steps, runs, p50", [
    (0.625, [0.125] * 8, 5, 125.0),                          # the minimum runs end exactly at the deadline
    (0.625, [0.25] * 8, 5, 250.0),                           # past the deadline: still the minimum runs
    (0.625, [0.0625] * 12, 10, 62.5),                        # fast: as many as half a second holds
    (0.5, [0.1, 0.4, 0.2, 0.5, 0.3, 0.5], 5, 300.0),         # the median, not a neighbour
])
def test_p50_times_batch_1_for_the_minimum_runs_then_until_the_deadline(monkeypatch, seconds, steps, runs, p50):
    clock = FakeClock(steps)
    monkeypatch.setattr(doctor.time, "perf_counter", clock)
    monkeypatch.setattr(doctor, "TIMING_SECONDS", seconds)
    assert doctor._p50_ms(clock, np.zeros((1, 3))) == pytest.approx(p50)
    assert clock.batches == [1] * runs


def test_a_regression_row_is_judged_in_pixels_against_the_bundles_bar():
    from edge.bundle.bundle import new_manifest

    targets = RegressionTargets(["nose_x", "nose_y"])
    manifest = new_manifest("tiny", [], PreprocessSpec(size=32), "input", "points", targets=targets)
    manifest["verification"] = {"int8": {"ort-qdq-u8s8": {"max_mae_increase_px": 0.5}}}
    bundle = Bundle("b", manifest)
    reference = np.zeros((4, 2), np.float32)
    golden = GoldenSet(np.zeros((4, 32, 32, 3), np.uint8), reference)
    outputs = reference.copy()
    outputs[:, 0] = 0.125                                    # 2 px on x: 1 px mean, over the 0.5 px bar
    runner = FakeRunner(outputs, precision="int8")
    seen = []
    runner.infer = lambda inputs: seen.append(len(inputs)) or outputs[:len(inputs)]
    check = doctor._row(bundle, golden, Candidate("onnxruntime", "int8", runner))
    assert (check.name, check.status) == ("onnxruntime int8", FAIL)
    assert check.data["threshold"] == {"mean_abs_diff_px": 0.5} and check.data["runner"] == "fake runner"
    assert check.data["mean_abs_diff_px"] == pytest.approx(1.0) and check.data["p50_ms"] >= 0
    assert seen[0] == 4 and set(seen[1:]) == {1}


def test_the_fail_and_pass_lines_in_full():
    reference = np.zeros((2, 3))
    reference[:, 0] = 0.5
    outputs = reference.copy()
    outputs[0, 1] = 0.001                                    # exactly the fp32 bar: passes
    assert judge("r", "fp32", outputs, reference).status == PASS
    outputs[0, 1] = 0.6                                      # and now the top-1 changes too
    check = judge("onnxruntime fp16", "fp16", outputs, reference, p50_ms=3.25)
    assert (check.name, check.status) == ("onnxruntime fp16", FAIL)
    assert check.detail == ("max |diff| 6.00e-01 > 2.00e-02; top-1 agreement 50.0% < 100% (top-1 50.0%, max |diff| "
                            "6.00e-01 on 2 golden inputs; p50 3.25 ms; threshold top-1 >= 100% and max |diff| <= "
                            "0.02 x max(1, max |golden|))")
    assert check.fix == "this path disagrees with the desktop: attach the --json report to an issue"


def test_the_points_fail_and_pass_lines_in_full():
    spec = PreprocessSpec(size=32)
    reference = np.zeros((2, 2))
    reference[:, 0] = 4.0                                    # |golden| 4: the fp32 bar scales to 4e-3
    outputs = reference.copy()
    outputs[0, 1] = 0.004
    check = judge_points("r", "fp32", outputs, reference, spec, 1.0, p50_ms=2.0, described="d")
    assert (check.name, check.status) == ("r", PASS)
    assert check.detail == ("points 0.016 px from golden on average, max |diff| 4.00e-03 on 2 golden inputs; p50 "
                            "2.00 ms; threshold max |diff| <= 0.001 x max(1, max |golden|)")
    assert check.data["threshold"] == {"max_abs_diff_relative": 0.001, "max_abs_diff": 0.004}
    assert check.data["p50_ms"] == 2.0
    outputs[0, 1] = 0.005
    check = judge_points("r", "fp32", outputs, reference, spec, 1.0)
    assert (check.name, check.status) == ("r", FAIL)
    assert check.detail == ("max |diff| 5.00e-03 > 4.00e-03 (points 0.020 px from golden on average, max |diff| "
                            "5.00e-03 on 2 golden inputs; p50 - ms; threshold max |diff| <= 0.001 x max(1, max "
                            "|golden|))")
    assert check.fix == "this path disagrees with the desktop: attach the --json report to an issue"
    outputs[0, 1] = 0.125                                    # int8: 2 px on one of four values, 0.5 px mean
    assert judge_points("r", "int8", outputs, reference, spec, 0.5).status == PASS
    check = judge_points("r", "int8", outputs, reference, spec, 0.25)
    assert check.detail == ("mean |diff| 0.50 px > 0.25 px (points 0.500 px from golden on average, max |diff| "
                            "1.25e-01 on 2 golden inputs; p50 - ms; threshold mean |diff| <= 0.25 px (the bundle's "
                            "INT8 bar))")


def test_a_skip_keeps_its_reason_and_only_tensorrt_skips_name_the_fix(tiny):
    golden, _ = GoldenSet.load(tiny)
    check = doctor._row(tiny, golden, Candidate("onnxruntime", "int8", None, "onnxruntime is not installed"))
    assert (check.status, check.detail, check.fix) == (SKIP, "onnxruntime is not installed", None)
    check = doctor._row(tiny, golden, Candidate("tensorrt", "fp16", FakeRunner(raises=EdgeError("stale engine"))))
    assert (check.name, check.status) == ("tensorrt fp16", FAIL)


manifest_rows = pytest.mark.skipif(not hasattr(doctor, "manifest_check"), reason="the doctor has no manifest row yet")


@manifest_rows
def test_the_manifest_row_holds_the_manifest_against_every_model_file(tiny):
    check = rows(doctor.bundle_checks(tiny, runtimes=("tensorrt",)))["manifest"]
    assert (check.status, check.detail) == (PASS, "3 outputs (logits) and a 3x32x32 input agree with model.onnx, "
                                                  "model.int8.trt.onnx")


@manifest_rows
def test_the_manifest_row_fails_an_edited_manifest_or_a_missing_model_and_skips_without_one(tiny):
    fix = "re-export the bundle, or restore the manifest edge-export wrote"
    edited = Bundle(tiny.path, json.loads(json.dumps(tiny.manifest)))
    edited.manifest["model"]["classes"] = ["blue", "green"]
    edited.manifest["model"]["num_classes"] = 2
    check = doctor.manifest_check(edited)
    assert (check.name, check.status, check.fix) == ("manifest", FAIL, fix)
    assert check.detail.startswith("model.onnx: ") and " 3 " in check.detail and " 2 " in check.detail
    os.remove(os.path.join(tiny.path, "model.int8.trt.onnx"))
    check = doctor.manifest_check(tiny)
    assert (check.name, check.status, check.fix) == ("manifest", FAIL, fix)
    assert check.detail == "bundle {} lists model.int8.trt.onnx but the file is missing; re-run edge-export".format(
        tiny.path)
    tiny.manifest["artifacts"] = [entry for entry in tiny.manifest["artifacts"] if entry["kind"] != "onnx"]
    check = doctor.manifest_check(tiny)
    assert (check.name, check.status, check.detail) == (
        "manifest", SKIP, "no ONNX model in the bundle to hold the manifest against")
