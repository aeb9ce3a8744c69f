"""The daemon's CPU per stream: ONNX Runtime's thread count fitted to the frame interval, the CPU accounting of
edge-bench --source, and no per-frame work that nobody asked for (a preview JPEG without a viewer)."""

import json
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from edge.bundle.bundle import Bundle
from edge.runners.onnxruntime.threads import fit_threads
from edge.runners.select import DEFAULT_FRAME_RATE, camera_runner, loop_frame_rate, make_runner


def session_threads(runner):
    return runner.session.get_session_options().intra_op_num_threads


def probe_of(samples, calls):
    return lambda session: calls.append(session) or list(samples)


def test_one_thread_fits_when_its_p90_is_within_half_the_frame_interval():
    assert fit_threads([5.0] * 9 + [16.6], 30)[0] == 1      # p90 5.0 + 0.9 * 11.6 = 15.4 <= 16.7
    assert fit_threads([16.0] * 10, 30)[0] == 1
    threads, line = fit_threads([20.0] * 10, 30)
    assert threads is None and "default" in line and "20.0 ms > 16.7 ms" in line
    assert fit_threads([20.0] * 10, 15)[0] == 1             # a 15 fps source leaves 33 ms
    assert loop_frame_rate(None) == DEFAULT_FRAME_RATE == 30.0 and loop_frame_rate(15) == 15.0


def test_a_camera_runner_keeps_one_thread_when_it_keeps_up(export_fp32_bundle):
    lines, calls = [], []
    runner, _ = camera_runner(Bundle.load(export_fp32_bundle), "onnxruntime", "fp32", log=lines.append)
    runner.probe = probe_of([4.0] * 10, calls)
    with runner:
        assert len(calls) == 1 and runner.fitted_threads == 1 and session_threads(runner) == 1
        assert "1 thread," in runner.describe() and "no spinning" in runner.describe()
        assert runner.infer(np.zeros((1, 3, 32, 32), np.float32)).shape[0] == 1
    assert lines == ["ONNX Runtime threads: 1 (one-thread inference p90 4.0 ms <= 16.7 ms, half the interval at 30 "
                     "inputs a second)"]


def test_a_camera_runner_too_slow_on_one_thread_takes_the_runtimes_default_and_says_so(export_fp32_bundle):
    lines, calls = [], []
    runner, _ = camera_runner(Bundle.load(export_fp32_bundle), "onnxruntime", "fp32", log=lines.append, fps=60)
    runner.probe = probe_of([9.0] * 10, calls)
    with runner:
        assert runner.fitted_threads is None and session_threads(runner) == 0   # 0: ONNX Runtime's default
        assert "default threads" in runner.describe()
    assert len(calls) == 1 and len(lines) == 1
    assert lines[0].startswith("ONNX Runtime threads: the runtime's default (one-thread inference p90 9.0 ms > 8.3 ms")


def test_threads_given_or_no_frame_rate_time_nothing(export_fp32_bundle):
    bundle = Bundle.load(export_fp32_bundle)
    never = lambda session: pytest.fail("timed although the thread count was given")
    for runner, threads in ((camera_runner(bundle, "onnxruntime", "fp32", threads=2)[0], 2),
                            (make_runner(bundle, "onnxruntime", "fp32")[0], 0)):
        runner.probe = never
        with runner:
            assert session_threads(runner) == threads and runner.fitted_threads is None


def test_edge_camera_fits_threads_to_the_source_rate(export_fp32_bundle):
    from edge.camera import daemon_runner
    config = {"runtime": "onnxruntime", "precision": "fp32", "threads": None, "checkpoint": None,
              "build_engine": None, "fps": None, "tta": "none"}
    bundle = Bundle.load(export_fp32_bundle)
    runner = daemon_runner(config, bundle)[0]
    assert (runner.frame_rate, runner.threads, runner.spinning) == (30.0, None, False)
    config.update(fps=15, tta="hflip")     # each frame makes two model inputs
    assert daemon_runner(config, bundle)[0].frame_rate == 30.0
    config.update(threads=3)
    assert daemon_runner(config, bundle)[0].threads == 3


def test_the_pipeline_reports_the_cpu_outside_inference(export_int8_bundle, video, capsys):
    from edge.bench import main
    out = video + ".json"
    assert main([export_int8_bundle, "--source", video, "--duration", "1.5", "--json", out,
                 "--runtimes", "onnxruntime", "--precisions", "int8"]) == 0
    text = capsys.readouterr()
    document = json.load(open(out))
    assert document["schema_version"] == 3
    cpu = document["measurements"][0]["cpu"]
    assert cpu["window"]["results"] == document["measurements"][0]["results"] - 1 >= 10
    assert cpu["ms_per_result"] > 0 and cpu["inference_ms"] > 0 and cpu["inference_replay"]["calls"] >= 20
    assert cpu["outside_inference_ms"] == pytest.approx(cpu["ms_per_result"] - cpu["inference_ms"])
    assert document["measurements"][0]["cpu_ms_per_result"] == cpu["ms_per_result"]
    if cpu["thread_clock"]:
        inference = cpu["inference_parts"]    # the loop thread's, measured in the run, and the workers', replayed
        assert inference["calling_thread_ms"] > 0 and inference["worker_threads_ms"] >= 0
        assert cpu["inference_ms"] == pytest.approx(inference["calling_thread_ms"] + inference["worker_threads_ms"])
        parts = cpu["outside"]
        assert all(value >= 0 for value in parts.values()) and parts["capture_ms"] > 0
        assert parts["publish_ms"] <= parts["host_stages_ms"] + 0.05
        named = parts["capture_ms"] + parts["host_stages_ms"] + parts["loop_ms"]
        # other is what the clocks leave of outside, never below 0: the parts add up to outside unless the two
        # clocks already exceed it (the replay then read inference above its cost in the run).
        assert parts["other_ms"] == pytest.approx(max(0.0, cpu["outside_inference_ms"] - named), abs=1e-9)
        assert "(capture {:.2f}, host stages".format(parts["capture_ms"]) in text.out
    assert "ms per result: inference" in text.out and "outside inference" in text.out
    assert "ONNX Runtime threads:" in text.err and "thread" in document["measurements"][0]["runtime"]


def test_the_loop_counts_its_threads_cpu_and_runs_opencv_on_its_own_threads(export_fp32_bundle, video):
    import cv2
    from edge.benchmark.pipeline import run_daemon
    from edge.sources.factory import open_source
    bundle = Bundle.load(export_fp32_bundle)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(4)
    run = run_daemon(bundle, lambda: make_runner(bundle, "onnxruntime", "fp32", threads=1)[0],
                     lambda: open_source(video), frames=20)
    assert len(run.results) == 20 and run.inference is None
    assert run.daemon.frame_cpu_s >= run.daemon.publish_cpu_s >= 0 and run.grabber.capture_cpu_s >= 0
    first, last = run.marks
    assert first.wall <= last.wall and first.frame <= last.frame and first.read <= last.read
    assert cv2.getNumThreads() == 1   # no OpenCV worker pool for frame-sized work (edge.daemon.loop)
    cv2.setNumThreads(threads)


def test_no_preview_jpeg_is_encoded_without_a_viewer(monkeypatch):
    import cv2
    from edge.daemon.telemetry import Telemetry
    from edge.sinks.http import HttpSink
    from edge.sources.base import Frame

    encoded = []
    real = cv2.imencode
    monkeypatch.setattr(cv2, "imencode", lambda *args: encoded.append(args[0]) or real(*args))
    sink = HttpSink(Telemetry(), port=0)
    sink.start()
    try:
        result = {"top": [{"label": "cat", "index": 0, "confidence": 0.9}], "prediction": "cat", "confidence": 0.9}
        for index in range(30):
            sink.publish(dict(result, frame=index), Frame(np.full((48, 64, 3), index, np.uint8), index))
        for path in ("/", "/healthz", "/metrics", "/latest"):
            try:
                urllib.request.urlopen(sink.url + path, timeout=5).read()
            except urllib.error.HTTPError as answer:   # /healthz: 503 while the daemon is still "starting"
                answer.read()
        assert encoded == []      # 30 frames, the page and its JSON: no JPEG
        for _ in range(3):        # the page's live view: the newest frame, encoded once however often asked
            urllib.request.urlopen(sink.url + "/latest.jpg", timeout=5).read()
        assert encoded == [".jpg"]
    finally:
        sink.close()


def test_an_offline_consumer_slower_than_the_stall_timeout_is_not_a_stall(tmp_path):
    """A video read offline waits for its consumer (every frame wanted); that wait is no stalled read."""
    from edge.sources.factory import open_source
    from edge.sources.grabber import LatestFrameGrabber
    from tests.edge.realparts import FFMPEG, make_video
    if FFMPEG is None:
        pytest.skip("needs Debian's ffmpeg (apt install ffmpeg)")
    video = make_video(tmp_path / "short.mp4", seconds=0.2, rate=30)
    grabber = LatestFrameGrabber(lambda: open_source(video), stall_timeout=0.3).start()
    indices = []
    try:
        while True:
            frame = grabber.get(timeout=2.0)
            if frame is None:
                break
            indices.append(frame.index)
            time.sleep(0.5 if frame.index < 2 else 0.0)   # a consumer slower than the stall timeout
    finally:
        grabber.stop()
    assert indices == list(range(6)) and grabber.reconnects == 0 and grabber.last_error is None
    assert grabber.capture_cpu_s >= 0
