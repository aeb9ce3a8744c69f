"""edge-bench: statistics, the JSON document, rows that cannot run, accuracy, and --compare."""

import csv
import json
import sys

import numpy as np
import pytest

from edge.bench import main
from edge.benchmark.stats import percentile, summarize
from edge.benchmark import report

FAST = ["--warmup", "0", "--min-time", "0.05", "--min-iters", "3", "--batch", "1,4"]


def test_percentiles_on_known_samples():
    samples = list(range(1, 101))  # 1..100
    assert percentile(samples, 50) == pytest.approx(50.5)
    assert percentile(samples, 90) == pytest.approx(90.1)
    assert percentile(samples, 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0
    for q in (0, 13, 50, 87.5, 99, 100):
        assert percentile(np.random.RandomState(int(q)).rand(37), q) == pytest.approx(
            np.percentile(np.random.RandomState(int(q)).rand(37), q))
    stats = summarize([4.0, 1.0, 3.0, 2.0])
    assert (stats["min"], stats["max"], stats["mean"], stats["p50"], stats["n"]) == (1.0, 4.0, 2.5, 2.5, 4)
    with pytest.raises(ValueError):
        summarize([])


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory, export_int8_bundle, export_images):
    """One benchmark run with TensorRT absent, as on a desktop (also where it is installed: a Jetson)."""
    out = tmp_path_factory.mktemp("bench")
    argv = [export_int8_bundle, "--data", export_images, "--json", str(out / "r.json"), "--csv", str(out / "r.csv"),
            "--plot", str(out / "r.png")] + FAST
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "tensorrt", None)
        assert main(argv) == 0
    return out, json.load(open(str(out / "r.json")))


def test_json_document_has_rows_environment_and_figures(bench_run):
    _, document = bench_run
    assert document["schema"] == "edge-toolkit/bench" and document["schema_version"] == 1
    assert document["reference"] == "pytorch fp32"
    assert {"cpu", "cores", "libraries", "gpu", "jetson"} <= set(document["environment"])
    rows = {(r["runtime"], r["precision"]): r for r in document["rows"]}
    assert set(rows) == {("pytorch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"),
                         ("tensorrt", "fp32"), ("tensorrt", "fp16"), ("tensorrt", "int8")}
    for key in (("pytorch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8")):
        row = rows[key]
        assert row["runnable"] and row["iterations"] >= 3
        lat = row["latency_ms"]
        assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert set(row["throughput"]) == {"1", "4"} and all(v > 0 for v in row["throughput"].values())
        assert set(row["stages_ms"]) == {"decode", "resize", "normalize", "h2d", "compute", "d2h", "postprocess"}
        assert row["accuracy"]["images"] == 36 and row["accuracy"]["top1"] >= 0.9
        assert row["accuracy"]["agreement"] >= 0.9 and row["model_bytes"] > 0
        assert 0 < row["memory"]["rss_mb"] <= row["memory"]["peak_rss_mb"]
    assert rows[("pytorch", "fp32")]["accuracy"]["agreement"] == 1.0
    assert rows[("onnxruntime", "fp32")]["stages_ms"]["h2d"] == 0.0  # CPU runner: no copies


def test_rows_that_cannot_run_say_why(bench_run, capsys):
    out, document = bench_run
    for row in document["rows"]:
        if row["runtime"] == "tensorrt":
            assert not row["runnable"] and "TensorRT: not installed" in row["reason"]
    with open(str(out / "r.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and rows[-1]["runnable"] == "False" and rows[-1]["reason"]
    assert (out / "r.png").stat().st_size > 0


def test_compare_shows_the_change(bench_run, export_int8_bundle, capsys):
    out, document = bench_run
    capsys.readouterr()
    assert main([export_int8_bundle, "--runtimes", "onnxruntime", "--compare", str(out / "r.json")] + FAST) == 0
    text = capsys.readouterr().out
    assert "change against" in text
    assert "onnxruntime fp32   p50" in text and "%" in text
    assert "pytorch fp32       gone" in text


def test_compare_on_synthetic_rows():
    old = {"created": "then", "environment": {"cpu": "x"}, "rows": [
        {"runtime": "onnxruntime", "precision": "fp32", "runnable": True, "latency_ms": {"p50": 2.0},
         "accuracy": {"top1": 0.9}}]}
    new = {"rows": [{"runtime": "onnxruntime", "precision": "fp32", "runnable": True, "latency_ms": {"p50": 1.0},
                     "accuracy": {"top1": 0.95}}]}
    assert "p50 2.000 -> 1.000 ms (-50.0%), top-1 90.00% -> 95.00%" in report.compare(old, new)


@pytest.mark.parametrize("argv, message", [
    (["--batch", "0"], "--batch must be a whole number from 1"), (["--batch", "a,b"], "--batch"), (["--runtimes", "tflite"], "argument --runtimes: invalid list of"),
    (["--precisions", "int4"], "argument --precisions"), (["--duration", "3"], "--duration only applies with --source"),
    (["--capture-backend", "gstreamer"], "--capture-backend only applies with --source"),
    (["--data", "/nonexistent"], "not a folder"), (["--compare", "/nonexistent.json"], "cannot read"),
])
def test_bad_options_are_one_line(export_fp32_bundle, capsys, argv, message):
    assert main([export_fp32_bundle] + FAST + argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_pipeline_mode_measures_the_camera_path(export_int8_bundle, tmp_path, capsys):
    from tests.edge.realparts import FFMPEG, make_video
    if FFMPEG is None:
        pytest.skip("needs Debian's ffmpeg (apt install ffmpeg)")
    video = make_video(tmp_path / "clip.mp4", seconds=1, rate=30)
    out = str(tmp_path / "pipeline.json")
    assert main([export_int8_bundle, "--source", video, "--duration", "1.5", "--json", out,
                 "--runtimes", "onnxruntime,pytorch"]) == 0
    text = capsys.readouterr().out
    assert "pipeline: onnxruntime" in text and "pipeline: pytorch" in text and "capture_to_result" in text
    document = json.load(open(out))
    # One measurement per runtime asked, in the order asked.
    first, second = document["measurements"]
    assert first["requested"]["runtime"] == "onnxruntime" and second["runtime"].startswith("pytorch")
    # A 30 fps camera stand-in: never faster than the camera; the lower bounds leave room for a busy CI.
    assert first["results"] >= 10 and 5 <= first["fps"] <= 45
    assert first["latency_ms"]["capture_to_result"]["p50"] < 100
    # What a camera-rate loop costs, and the daemon's runner setting: idle threads sleep.
    assert first["cpu_percent"] > 0 and first["cpu_ms_per_result"] > 0 and "no spinning" in first["runtime"]
    assert "cpu: " in text and "of one core" in text


@pytest.mark.parametrize("flag", [["--csv", "r.csv"], ["--plot", "r.png"], ["--compare", "old.json"],
                                  ["--data", "val"], ["--batch", "1,32"]])
def test_source_refuses_what_it_cannot_honour(export_fp32_bundle, capsys, flag):
    assert main([export_fp32_bundle, "--source", "file.mp4"] + flag) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "{} not supported with --source".format(flag[0]) in err
