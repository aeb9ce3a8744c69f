"""Live model swap (edge.daemon.swap) with real parts: edge-camera as a process on a looping 30 fps video made
with ffmpeg, reloaded by SIGHUP; the results switch to the new bundle with no gap over two seconds, a bundle
whose model was replaced is refused while the old model goes on answering, and /healthz and /metrics say so."""

import datetime
import hashlib
import json
import os
import shutil
import signal
import time

import pytest

from tests.edge.realparts import free_port, needs_ffmpeg
from tests.edge.test_camera_daemon import get, read_jsonl, start_daemon, wait_until


def bundle_id(folder):
    with open(os.path.join(folder, "manifest.json"), "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:12]


def replace_folder(live, source):
    """Put a copy of bundle folder `source` where `live` is (renames: the daemon never sees half a bundle)."""
    staged = live + ".new"
    shutil.copytree(source, staged)
    os.rename(live, live + ".old-{}".format(time.time()))
    os.rename(staged, live)


def when(result):
    return datetime.datetime.strptime(result["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def largest_gap(rows):
    times = [when(row) for row in rows]
    return max(later - earlier for earlier, later in zip(times, times[1:]))


def healthz(port):
    status, _, body = get("http://127.0.0.1:{}/healthz".format(port))
    return json.loads(body.decode()) if status == 200 else None


def swap_state(port, states):
    health = healthz(port)
    return health if health and health["model"]["swap"]["state"] in states else None


def weights_negated(bundle, out):
    """A copy of `bundle` whose model.onnx has its weights negated and the manifest re-signed to match: it loads and
    validates, and only the golden check can tell it is not the model the desktop measured."""
    import onnx
    from onnx import numpy_helper

    shutil.copytree(bundle, out)
    path = os.path.join(out, "model.onnx")
    model = onnx.load(path)
    for index, tensor in enumerate(model.graph.initializer):
        values = numpy_helper.to_array(tensor)
        if values.dtype.kind == "f" and values.size > 1:
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(-values, tensor.name))
    onnx.save(model, path)
    resign(out, "model.onnx")
    return out


def resign(folder, *names):
    """Write the sha256 and size of files `names` into the manifest of `folder` (as if exported that way)."""
    from edge.util.atomic import sha256_file

    with open(os.path.join(folder, "manifest.json")) as handle:
        manifest = json.load(handle)
    for entry in manifest["artifacts"]:
        if entry["file"] in names:
            path = os.path.join(folder, entry["file"])
            entry["sha256"], entry["bytes"] = sha256_file(path), os.path.getsize(path)
    with open(os.path.join(folder, "manifest.json"), "w") as handle:
        json.dump(manifest, handle, indent=2)


def negated_head(bundle, out):
    """A copy of `bundle` whose classifier head (the last Gemm) is negated, and its golden outputs with it: a good
    bundle (its golden check passes) whose answers differ from the original's (the top class becomes the last)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    shutil.copytree(bundle, out)
    path = os.path.join(out, "model.onnx")
    model = onnx.load(path)
    head = [node for node in model.graph.node if node.op_type == "Gemm"][-1]
    for index, tensor in enumerate(model.graph.initializer):
        if tensor.name in head.input[1:]:
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(tensor),
                                                                            tensor.name))
    onnx.save(model, path)
    golden = os.path.join(out, "golden.npz")
    with np.load(golden) as data:
        arrays = dict((key, data[key]) for key in data.files)
    arrays["reference"] = -arrays["reference"]
    with open(golden, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    resign(out, "model.onnx", "golden.npz")
    return out


def run_camera(live, video, tmp_path, *more):
    port, jsonl = free_port(), str(tmp_path / "results.jsonl")
    daemon = start_daemon([live, "--source", video, "--realtime", "--loop", "--duration", "90", "--runtime",
                           "onnxruntime", "--precision", "fp32", "--threads", "1", "--http-port", port,
                           "--jsonl", jsonl] + list(more))
    assert wait_until(lambda: len(read_jsonl(jsonl)) >= 10, 30), daemon.stderr.read() if daemon.poll() else ""
    return daemon, port, jsonl


def stop(daemon):
    daemon.send_signal(signal.SIGTERM)
    out, err = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, err
    return err


@needs_ffmpeg
def test_sighup_swaps_to_a_good_bundle_between_two_results(export_int8_bundle, export_fp32_bundle, video, tmp_path):
    live = str(tmp_path / "live")
    shutil.copytree(export_fp32_bundle, live)
    old_id, new_id = bundle_id(export_fp32_bundle), bundle_id(export_int8_bundle)
    assert old_id != new_id
    daemon, port, jsonl = run_camera(live, video, tmp_path)
    try:
        health = healthz(port)
        assert health["model"]["id"] == old_id and health["model"]["name"] == "live"
        assert health["model"]["swap"]["state"] == "idle"
        replace_folder(live, export_int8_bundle)
        daemon.send_signal(signal.SIGHUP)
        health = wait_until(lambda: swap_state(port, ("switched", "refused")), 60, step=0.2)
        assert health and health["model"]["swap"]["state"] == "switched", health
        assert health["model"]["id"] == new_id and health["state"] == "ok"
        count = len(read_jsonl(jsonl))
        assert wait_until(lambda: len(read_jsonl(jsonl)) >= count + 30, 20)
        health = healthz(port)   # the gap across the swap is stated once the first result of the new model is out
        status, _, body = get("http://127.0.0.1:{}/metrics".format(port))
        text = body.decode()
        assert 'edge_model_info{{name="live",id="{}"}} 1'.format(new_id) in text
        assert 'edge_model_swaps_total{result="switched"} 1' in text
    finally:
        err = stop(daemon)
    rows = read_jsonl(jsonl)
    ids = [row["model"]["id"] for row in rows]
    switch = ids.index(new_id)
    assert set(ids[:switch]) == {old_id} and set(ids[switch:]) == {new_id}   # one switch, never back
    gap = largest_gap(rows)
    swap = health["model"]["swap"]
    print("largest gap between results: {:.3f} s (at the switch: {} s); RSS MiB {}".format(
        gap, swap["gap_s"], swap["rss_mb"]))
    assert gap < 2.0 and swap["gap_s"] < 2.0
    assert swap["mode"] == "beside" and all(swap["rss_mb"][key] > 0 for key in ("before", "beside", "after"))
    assert "signal 1: reloading the model" in err and "model swap: now running live ({})".format(new_id) in err


@needs_ffmpeg
@pytest.mark.parametrize("how", ["file replaced", "weights changed, manifest re-signed"])
def test_a_bundle_whose_model_was_replaced_is_refused_and_the_old_model_goes_on(
        export_fp32_bundle, video, tmp_path, how):
    live = str(tmp_path / "live")
    shutil.copytree(export_fp32_bundle, live)
    old_id = bundle_id(live)
    bad = str(tmp_path / "bad")
    if how == "file replaced":
        shutil.copytree(export_fp32_bundle, bad)
        with open(os.path.join(bad, "model.onnx"), "ab") as handle:
            handle.write(b"\0")
        expected = "does not match its sha256"
    else:
        weights_negated(export_fp32_bundle, bad)
        expected = "golden check failed"
    daemon, port, jsonl = run_camera(live, video, tmp_path)
    try:
        replace_folder(live, bad)
        daemon.send_signal(signal.SIGHUP)
        health = wait_until(lambda: swap_state(port, ("switched", "refused")), 60, step=0.2)
        assert health and health["model"]["swap"]["state"] == "refused", health
        assert expected in health["model"]["swap"]["reason"]
        assert health["model"]["id"] == old_id and health["state"] == "ok"
        count = len(read_jsonl(jsonl))
        assert wait_until(lambda: len(read_jsonl(jsonl)) >= count + 15, 20)   # the old model still answers
        status, _, body = get("http://127.0.0.1:{}/metrics".format(port))
        assert 'edge_model_swaps_total{result="refused"} 1' in body.decode()
    finally:
        err = stop(daemon)
    rows = read_jsonl(jsonl)
    assert set(row["model"]["id"] for row in rows) == {old_id}
    assert largest_gap(rows) < 2.0
    assert "model swap refused: " in err and expected in err


@needs_ffmpeg
@pytest.mark.parametrize("good", [True, False], ids=["good bundle", "weights changed"])
def test_stop_then_load_states_its_gap_and_gives_way_to_the_old_bundle_when_refused(
        export_fp32_bundle, video, tmp_path, good):
    # Memory for one model only (--swap stop-then-load, what auto picks when MemAvailable is short): the old model
    # is freed before the new one loads; results stop meanwhile, and the record states how long.
    # Bundles deployed into their own folders behind a symlink: a refused new model gives way to the old folder.
    live, first = str(tmp_path / "live"), str(tmp_path / "v1")
    shutil.copytree(export_fp32_bundle, first)
    os.symlink(first, live)
    old_id = bundle_id(live)
    new = (negated_head if good else weights_negated)(export_fp32_bundle, str(tmp_path / "v2"))
    daemon, port, jsonl = run_camera(live, video, tmp_path, "--swap", "stop-then-load")
    try:
        os.symlink(new, live + ".next")
        os.rename(live + ".next", live)
        daemon.send_signal(signal.SIGHUP)
        health = wait_until(lambda: swap_state(port, ("switched", "refused")), 60, step=0.2)
        count = len(read_jsonl(jsonl))
        assert wait_until(lambda: len(read_jsonl(jsonl)) >= count + 15, 20)
        health = healthz(port)
    finally:
        stop(daemon)
    swap = health["model"]["swap"]
    assert swap["mode"] == "stop-then-load" and swap["state"] == ("switched" if good else "refused"), swap
    assert health["model"]["id"] == (bundle_id(new) if good else old_id)
    rows = read_jsonl(jsonl)
    gap = largest_gap(rows)
    print("stop-then-load ({}): largest gap {:.3f} s, stated {} s; RSS MiB {}".format(
        swap["state"], gap, swap["gap_s"], swap["rss_mb"]))
    assert swap["gap_s"] is not None and abs(gap - swap["gap_s"]) < 0.5   # the gap stated is the one seen
    assert [row["model"]["id"] for row in rows][-1] == health["model"]["id"]


def test_edge_serve_reload_answers_taken_requests_with_the_old_model_and_new_ones_with_the_new(
        export_fused_int8_bundle, export_images, tmp_path):
    from tests.edge.test_serve_cli import get_json, start_server

    live = str(tmp_path / "live")   # batches of up to 4 (--dynamic-batch 4)
    shutil.copytree(export_fused_int8_bundle, live)
    new = negated_head(export_fused_int8_bundle, str(tmp_path / "negated"))
    port = free_port()
    # Batches wait 10 s for company: requests taken before the swap are answered at once only by the old
    # batcher draining them with the old model.
    server = start_server([live, "--port", port, "--max-batch", "4", "--max-delay-ms", "10000", "--no-grpc",
                           "--runtime", "onnxruntime", "--precision", "fp32", "--threads", "1"])
    base = "http://127.0.0.1:{}".format(port)
    with open(os.path.join(export_images, "red", "red_000.png"), "rb") as handle:
        image = handle.read()
    try:
        assert wait_until(lambda: get_json(base + "/v2/health/ready")[0] == 200, 60), server.stderr.read()
        assert get_json(base + "/healthz")[1]["model"]["id"] == bundle_id(live)
        taken = posts(base, image, 3)
        assert wait_until(lambda: (get_json(base + "/healthz")[1] or {}).get("in_flight") == 3, 20), (
            taken[1], get_json(base + "/healthz"))
        replace_folder(live, new)
        signalled = time.time()
        server.send_signal(signal.SIGHUP)
        old_answers = finish(taken)
        answered_after = time.time() - signalled
        health = wait_until(lambda: swapped(get_json(base + "/healthz")[1]), 60, step=0.2)
        assert health and health["model"]["swap"]["state"] == "switched", health
        assert health["model"]["id"] == bundle_id(new) and health["model"]["name"] == "live"
        new_answers = finish(posts(base, image, 4))   # a full batch: no 10 s wait
        metrics = urllib_text(base + "/metrics")
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=20)
    assert server.returncode == 0, err
    assert [code for code, _ in old_answers] == [200] * 3 and answered_after < 8.0, (old_answers, answered_after)
    assert [answer["prediction"] for _, answer in old_answers] == ["red"] * 3   # the old model answered them
    assert [code for code, _ in new_answers] == [200] * 4
    assert all(answer["prediction"] != "red" for _, answer in new_answers)    # the negated head's answer
    assert 'edge_model_swaps_total{result="switched"} 1' in metrics
    assert "signal 1: reloading the model" in err and "model swap: now running live" in err
    rss = health["model"]["swap"]["rss_mb"]
    print("edge-serve swap: RSS MiB {}".format(rss))
    assert all(rss[key] > 0 for key in ("before", "beside", "after"))


def posts(base, image, count):
    import threading
    from tests.edge.test_serve_cli import post_image

    answers = []
    threads = [threading.Thread(target=post_image, args=(base + "/v1/predict", image, answers)) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, answers


def finish(posted):
    threads, answers = posted
    for thread in threads:
        thread.join(60)
    return answers


def swapped(health):
    return health if health and health["model"]["swap"]["state"] in ("switched", "refused") else None


def urllib_text(url):
    return get(url)[2].decode()
