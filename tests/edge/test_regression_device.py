"""A regression bundle on the device: edge-predict's pixels, the Python API, and edge-camera on every sink."""

import json
import os

import numpy as np
import pytest

from edge.predict import main as predict_main
from tests.edge.realparts import Broker, Subscriber, free_port, needs_mosquitto
from tests.edge.test_camera_daemon import get, read_jsonl, start_daemon, wait_until
from tests.helpers import spot_image, write_png


def predict_json(argv, capsys):
    code = predict_main([str(arg) for arg in argv] + ["--json", "-"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_predict_gives_points_in_pixels_with_truth_and_the_mae(regression_bundle, regression_images, capsys):
    code, document, err = predict_json([regression_bundle, regression_images, "--runtime", "onnxruntime",
                                        "--precision", "fp32"], capsys)
    assert code == 0
    rows = document["results"]
    assert len(rows) == 24
    for row in rows:
        assert set(row) == {"file", "values", "image", "truth"}
        assert list(row["values"]) == ["x", "y"] and row["image"] == {"width": 48, "height": 40}
        name_x, name_y = os.path.basename(row["file"]).split("_")[:2]
        assert row["truth"] == {"x": float(name_x), "y": float(name_y)}
    errors = [abs(row["values"][k] - row["truth"][k]) for row in rows for k in ("x", "y")]
    assert document["score"]["images"] == 24 and document["score"]["mae_px"] == pytest.approx(np.mean(errors),
                                                                                              abs=0.01)
    assert document["score"]["training_val"]["mae_px"] == 1.5     # what the checkpoint says training measured
    capsys.readouterr()
    assert predict_main([regression_bundle, regression_images, "--runtime", "onnxruntime"]) == 0
    out = capsys.readouterr().out
    assert "  x " in out and "(labelled x " in out and "labelled images; training measured MAE 1.50 px" in out


def test_an_image_of_another_size_gets_points_in_its_own_pixels(regression_bundle, tmp_path, capsys):
    # The bundle's input is 32x32 (plain resize). B is A blown up 3x across and 2x down by repeating pixels:
    # OpenCV's bilinear resize of B back to 32x32 gives A exactly, so the model sees the same input, and
    # B's points must be A's mapped through the two resizes: x_B = 3 (x_A + 0.5) - 0.5, y_B = 2 (y_A + 0.5) - 0.5.
    small = spot_image(32, 32, 11, 20, seed=5)
    big = np.repeat(np.repeat(small, 2, axis=0), 3, axis=1)
    write_png(str(tmp_path / "small.png"), small)
    write_png(str(tmp_path / "big.png"), big)
    code, document, _ = predict_json([regression_bundle, tmp_path / "big.png", tmp_path / "small.png",
                                      "--runtime", "onnxruntime", "--precision", "fp32"], capsys)
    assert code == 0
    big_row, small_row = document["results"]
    assert big_row["image"] == {"width": 96, "height": 64} and small_row["image"] == {"width": 32, "height": 32}
    assert big_row["values"]["x"] == pytest.approx(3 * (small_row["values"]["x"] + 0.5) - 0.5, abs=0.02)
    assert big_row["values"]["y"] == pytest.approx(2 * (small_row["values"]["y"] + 0.5) - 0.5, abs=0.02)
    assert document["score"] is None          # no labels for these names


def test_a_labels_csv_of_other_targets_is_refused(regression_bundle, tmp_path, capsys):
    write_png(str(tmp_path / "a.png"), spot_image(40, 48, 5, 5))
    (tmp_path / "labels.csv").write_text("file,nose_x,nose_y\na.png,5,5\n")
    assert predict_main([regression_bundle, str(tmp_path)]) == 2
    assert "labels targets nose_x,nose_y, the bundle outputs x,y" in capsys.readouterr().err


def test_the_python_api_returns_points(regression_bundle, regression_images):
    import edge
    from edge.tasks.postprocess import Points

    path = sorted(os.listdir(regression_images))[0]
    with edge.load_bundle(regression_bundle).runner(runtime="onnxruntime", precision="fp32") as model:
        points = model.predict(os.path.join(regression_images, path))
    assert isinstance(points, Points) and (points.width, points.height) == (48, 40)
    assert list(points.values) == ["x", "y"]
    assert points.as_dict() == {"values": dict(points.values), "image": {"width": 48, "height": 40}}


# ----------------------------------------------------------------------------- edge-camera


@needs_mosquitto
def test_camera_publishes_points_on_every_sink_and_draws_them(regression_bundle, regression_images, tmp_path):
    import cv2

    port, http_port = free_port(), free_port()
    jsonl = str(tmp_path / "results.jsonl")
    broker = Broker(port).start()
    subscriber = Subscriber(port, "edge/camera/results")
    daemon = None
    try:
        assert subscriber.connected.wait(10)
        daemon = start_daemon([regression_bundle, "--source", regression_images, "--loop", "--realtime", "--fps",
                               "10", "--duration", "30", "--jsonl", jsonl, "--http-port", http_port, "--mqtt-host",
                               "127.0.0.1", "--mqtt-port", port, "--mqtt-outbox", tmp_path / "outbox.db"])
        assert wait_until(lambda: len(read_jsonl(jsonl)) >= 5, 30), daemon.stderr.read() if daemon.poll() else ""
        assert wait_until(lambda: len(subscriber.messages) >= 5, 15)
        status, _, body = get("http://127.0.0.1:{}/latest".format(http_port))
        latest = json.loads(body.decode())
        for result in [latest, read_jsonl(jsonl)[-1], subscriber.messages[-1]]:
            assert list(result["values"]) == ["x", "y"] and result["image"] == {"width": 48, "height": 40}
            assert "prediction" not in result and "confidence" not in result and "top" not in result
            assert set(result["latency_ms"]) >= {"inference", "capture_to_result"}
        assert status == 200
        # One part of the preview: a JPEG of the frame with the point drawn on it.
        import urllib.request
        with urllib.request.urlopen("http://127.0.0.1:{}/stream.mjpg".format(http_port), timeout=10) as stream:
            data = b""
            while data.count(b"\xff\xd9") < 1 and len(data) < 2000000:
                data += stream.read(4096)
        jpeg = data[data.index(b"\xff\xd8"):data.index(b"\xff\xd9") + 2]
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (40, 48, 3)
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.communicate(timeout=30)
        subscriber.close()
        broker.cleanup()


def test_the_preview_draws_each_point_where_it_is():
    import cv2

    from edge.sinks.http import annotate_jpeg

    image = np.zeros((120, 160, 3), np.uint8)
    result = {"values": {"x": 100.0, "y": 70.0, "tail_x": 30.0, "tail_y": 90.0}}
    drawn = cv2.imdecode(np.frombuffer(annotate_jpeg(image, result, 12.0), np.uint8), cv2.IMREAD_COLOR)

    def yellow(x, y):
        blue, green, red = (float(v) for v in drawn[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).mean(axis=0))
        return green > 120 and red > 120 and blue < green / 2

    assert yellow(100, 70) and yellow(30, 90)            # the cross at each point
    assert not yellow(65, 70) and not yellow(140, 30)    # nothing drawn elsewhere in those rows


def test_classifier_filters_are_refused_for_a_regression_bundle(regression_bundle, regression_images, tmp_path):
    for flag in (["--on-change"], ["--min-confidence", "0.5"]):
        out, err = start_daemon([regression_bundle, "--source", regression_images, "--max-frames", "2",
                                 "--jsonl", tmp_path / "r.jsonl"] + flag).communicate(timeout=60)
        assert "filter on a classifier's top-1" in err and err.strip().count("\n") == 0, err


def test_the_publish_policy_does_not_fail_on_regression_results():
    from edge.sinks.filters import PublishPolicy

    def result(x):
        return {"values": {"x": x, "y": 1.0}, "image": {"width": 4, "height": 4}}

    confident = PublishPolicy(min_confidence=0.8)
    assert confident.wants(result(1.0))                  # no confidence to filter on: passes
    change = PublishPolicy(on_change=True)
    assert [change.wants(result(x)) for x in (1.0, 1.0, 2.0)] == [True, False, True]


def test_bench_reports_the_mae_of_every_runtime(regression_bundle, regression_images, tmp_path, capsys):
    from edge.bench import main as bench_main

    out_json = str(tmp_path / "bench.json")
    code = bench_main([regression_bundle, "--data", regression_images, "--runtimes", "pytorch,onnxruntime",
                       "--batch", "1", "--warmup", "0", "--min-time", "0.05", "--min-iters", "2",
                       "--json", out_json, "--csv", str(tmp_path / "bench.csv"), "--plot", str(tmp_path / "b.png")])
    out = capsys.readouterr().out
    assert code == 0
    document = json.load(open(out_json))
    rows = dict(("{} {}".format(r["runtime"], r["precision"]), r) for r in document["rows"] if r["runnable"])
    assert set(rows) == {"pytorch fp32", "onnxruntime fp32", "onnxruntime int8"}
    for row in rows.values():
        accuracy = row["accuracy"]
        assert accuracy["images"] == 24 and accuracy["mae_px"] > 0 and set(accuracy["per_target"]) == {"x", "y"}
        assert "top1" not in accuracy
    assert rows["onnxruntime fp32"]["accuracy"]["mean_abs_diff_px"] < 0.01      # against the PyTorch reference
    assert rows["pytorch fp32"]["accuracy"]["mae_px"] == pytest.approx(rows["onnxruntime fp32"]["accuracy"]["mae_px"],
                                                                       abs=0.01)
    assert "MAE px" in out and "vs ref px" in out and "agreement: mean distance from pytorch fp32" in out
    assert os.path.getsize(str(tmp_path / "b.png")) > 0
    assert "mae_px" in open(str(tmp_path / "bench.csv")).readline()


def test_bench_data_for_a_regression_bundle_must_be_labelled_like_training_data(regression_bundle, tmp_path, capsys):
    from edge.bench import main as bench_main

    write_png(str(tmp_path / "photo.png"), spot_image(40, 48, 5, 5))
    assert bench_main([regression_bundle, "--data", str(tmp_path), "--runtimes", "onnxruntime"]) == 2
    assert "file name photo.png does not give a point" in capsys.readouterr().err
