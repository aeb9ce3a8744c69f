"""--tta in edge-predict, edge-camera and edge-bench: the views reach the runner, the results keep the
project's vocabulary, and a bad value or a bundle it cannot apply to is one line with exit code 2."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edge.bundle.bundle import Bundle, read_manifest, write_manifest
from edge.tasks.postprocess import softmax
from edge.bundle.preprocess import preprocess_batch, read_image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FAST = ["--warmup", "0", "--min-time", "0.05", "--min-iters", "3", "--batch", "1"]


def _run(main, argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _view(chw, k):
    """The k-th rotation (and mirror, k >= 4) of a CxHxW input, written out here."""
    turned = np.rot90(chw, k % 4, axes=(1, 2))
    return np.ascontiguousarray(turned[:, :, ::-1] if k >= 4 else turned)


def _d4_by_hand(bundle_dir, paths):
    """Each image's 8 views through ONNX Runtime fp32 one at a time, the softmaxes averaged."""
    from edge.runners.onnxruntime.runner import OnnxRuntimeRunner

    bundle = Bundle.load(bundle_dir)
    batch = preprocess_batch([read_image(path) for path in paths], bundle.spec)
    with OnnxRuntimeRunner(bundle, "fp32") as runner:
        return [np.mean([softmax(runner.infer(_view(chw, k)[None]))[0] for k in range(8)], axis=0) for chw in batch]


def test_predict_with_d4_averages_the_eight_views(export_int8_bundle, export_images, capsys):
    from edge.predict import main

    code, out, err = _run(main, [export_int8_bundle, export_images, "--json", "-", "--runtime", "onnxruntime",
                                 "--precision", "fp32", "--tta", "d4", "--top-k", "3"], capsys)
    assert code == 0, err
    assert "edge-predict: test-time augmentation d4: 8 views of each image in one batch" in err
    document = json.loads(out)
    assert document["tta"] == "d4" and len(document["results"]) == 36
    expected = _d4_by_hand(export_int8_bundle, [row["file"] for row in document["results"]])
    for row, probabilities in zip(document["results"], expected):
        assert set(row) == {"prediction", "confidence", "top", "truth", "file"}
        assert row["top"][0]["index"] == int(np.argmax(probabilities))
        assert np.allclose([item["confidence"] for item in row["top"]], np.sort(probabilities)[::-1][:3],
                           atol=2e-6)
    # Colour does not turn with the picture: the views agree with the truth here.
    assert document["score"]["accuracy"] == 1.0


def test_predict_tta_none_is_the_plain_result_and_the_accuracy_line_names_the_mode(export_fp32_bundle,
                                                                                   export_images, capsys):
    from edge.predict import main

    plain = json.loads(_run(main, [export_fp32_bundle, export_images, "--json", "-"], capsys)[1])
    none = json.loads(_run(main, [export_fp32_bundle, export_images, "--json", "-", "--tta", "none"], capsys)[1])
    assert plain["results"] == none["results"] and none["tta"] == "none"
    code, out, err = _run(main, [export_fp32_bundle, export_images, "--tta", "hflip"], capsys)
    assert code == 0 and "2 views" in err
    assert "chunks of 1" in err           # the fixture bundle's model has a static batch of 1
    assert out.splitlines()[-1].startswith("top-1 accuracy 100.00% with --tta hflip (36 of 36")


def _non_square_copy(bundle_dir, tmp_path):
    target = str(tmp_path / "wide")
    shutil.copytree(bundle_dir, target)
    manifest = read_manifest(target)
    manifest["input"]["preprocess"]["size"] = [32, 48]
    manifest["input"]["shape"][2:] = [32, 48]   # the manifest agrees with itself (edge.bundle.schema checks it)
    for entry in manifest["artifacts"]:
        if entry["kind"] == "golden":
            entry["frames_shape"][1:3] = [32, 48]
    write_manifest(target, manifest)
    return target


@pytest.mark.parametrize("command", ["edge.predict", "edge.bench"])
def test_bad_values_and_d4_on_a_non_square_model_are_one_line(command, export_fp32_bundle, export_images,
                                                              tmp_path, capsys):
    import importlib

    main = importlib.import_module(command).main
    extra = [export_images] if command == "edge.predict" else FAST
    code, _, err = _run(main, [export_fp32_bundle] + extra + ["--tta", "d8"], capsys)
    assert code == 2 and err.count("\n") == 1 and "argument --tta: invalid choice: 'd8'" in err
    wide = _non_square_copy(export_fp32_bundle, tmp_path)
    code, out, err = _run(main, [wide] + extra + ["--tta", "d4"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--tta d4 needs a square model input" in err, err
    assert "32x48" in err and out == ""


def test_bench_shows_the_cost_beside_the_accuracy_change(export_int8_bundle, export_images, tmp_path, capsys):
    from edge.bench import main

    path = str(tmp_path / "bench.json")
    code, out, err = _run(main, [export_int8_bundle, "--data", export_images, "--runtimes", "onnxruntime",
                                 "--tta", "d4", "--json", path, "--csv", str(tmp_path / "b.csv")] + FAST, capsys)
    assert code == 0, err
    document = json.load(open(path))
    assert document["settings"]["tta"] == "d4"
    ran = [row for row in document["rows"] if row["runnable"]]
    assert [row["precision"] for row in ran] == ["fp32", "int8"]
    for row in ran:
        tta = row["tta"]
        assert tta["mode"] == "d4" and tta["views"] == 8 and tta["iterations"] >= 3
        assert tta["cost"] == pytest.approx(tta["latency_ms"]["p50"] / row["latency_ms"]["p50"])
        assert tta["accuracy"]["images"] == 36
        assert tta["top1_change"] == pytest.approx(tta["accuracy"]["top1"] - row["accuracy"]["top1"])
    header = out.splitlines()[0]
    assert "d4 p50 ms" in header and "d4 cost" in header and "d4 top-1" in header and "change pts" in header
    assert "tta: --tta d4: each image's 8 views in one batch" in out
    assert "tta d4: p50" in err
    with open(str(tmp_path / "b.csv")) as handle:
        assert "tta_cost" in handle.readline()


def test_bench_without_tta_has_no_tta_columns(export_fp32_bundle, capsys):
    from edge.bench import main

    code, out, _ = _run(main, [export_fp32_bundle, "--runtimes", "onnxruntime", "--precisions", "fp32"] + FAST,
                        capsys)
    assert code == 0 and "cost" not in out.splitlines()[0]


def _camera(argv):
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    daemon = subprocess.Popen([sys.executable, "-m", "edge.camera"] + [str(a) for a in argv], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    out, err = daemon.communicate(timeout=120)
    return daemon.returncode, out, err


def test_camera_classifies_every_frame_with_its_views(export_int8_bundle, export_images, tmp_path):
    jsonl = str(tmp_path / "results.jsonl")
    folder = os.path.join(export_images, "red")
    code, _, err = _camera([export_int8_bundle, "--source", folder, "--runtime", "onnxruntime", "--precision",
                            "fp32", "--tta", "d4", "--jsonl", jsonl])
    assert code == 0, err
    assert "test-time augmentation d4: 8 views" in err
    with open(jsonl) as handle:
        results = [json.loads(line) for line in handle]
    assert len(results) == 12
    assert all(r["runtime"].endswith(", tta d4") and {"prediction", "confidence", "top"} <= set(r) for r in results)
    paths = sorted(os.path.join(folder, name) for name in os.listdir(folder))
    expected = sorted(round(float(p.max()), 6) for p in _d4_by_hand(export_int8_bundle, paths))
    assert sorted(r["confidence"] for r in results) == pytest.approx(expected, abs=2e-6)


def test_camera_config_file_takes_tta_and_refuses_a_bad_one(export_int8_bundle, export_images, tmp_path):
    config = tmp_path / "camera.yaml"
    config.write_text("bundle: {}\nsource: {}\ntta: hflip\nmax-frames: 2\n".format(
        export_int8_bundle, os.path.join(export_images, "red")))
    code, _, err = _camera(["--config", config])
    assert code == 0 and "test-time augmentation hflip: 2 views" in err, err
    config.write_text("bundle: {}\nsource: {}\ntta: d8\n".format(export_int8_bundle, export_images))
    code, _, err = _camera(["--config", config])
    assert code == 2 and "tta must be one of none, hflip, d4, got 'd8'" in err and "Traceback" not in err


def test_the_python_api_takes_tta_like_the_commands(export_int8_bundle, export_images):
    import edge
    from edge.errors import EdgeError

    bundle = edge.load_bundle(export_int8_bundle)
    folder = os.path.join(export_images, "green")
    paths = sorted(os.path.join(folder, name) for name in os.listdir(folder))[:4]
    with bundle.runner(runtime="onnxruntime", precision="fp32", tta="d4") as model:
        predictions = model.predict_batch(paths)
        assert "test-time augmentation d4: 8 views" in model.describe()
    for prediction, probabilities in zip(predictions, _d4_by_hand(export_int8_bundle, paths)):
        assert prediction.top[0].index == int(np.argmax(probabilities))
        assert prediction.confidence == pytest.approx(float(probabilities.max()), abs=2e-6)
    with pytest.raises(EdgeError, match="--tta must be one of none, hflip, d4"):
        bundle.runner(tta="rot90")


def test_bench_source_runs_the_camera_pipeline_with_the_views(export_int8_bundle, export_images, tmp_path, capsys):
    from edge.bench import main

    code, out, err = _run(main, [export_int8_bundle, "--source", os.path.join(export_images, "blue"), "--duration",
                                 "1", "--runtimes", "onnxruntime", "--precisions", "fp32", "--tta", "d4", "--json",
                                 "-"], capsys)
    assert code == 0, err
    measurement, = json.loads(out)["measurements"]
    assert measurement["tta"] == "d4" and measurement["runtime"].endswith(", tta d4") and measurement["results"] >= 2
    wide = _non_square_copy(export_int8_bundle, tmp_path)
    code, _, err = _run(main, [wide, "--source", export_images, "--tta", "d4"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--tta d4 needs a square model input" in err
