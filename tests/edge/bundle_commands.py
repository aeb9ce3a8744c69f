"""Every command's way into a bundle, in-process, for the manifest tests: each returns (exit code, stderr, result).

The commands are called as a user calls them (their main(argv)), except edge-serve, which runs until
stopped: its load path (Bundle.load, make_runner, InferenceService.start) is called as its main
calls it, and one image is asked of it. A result is what the command answered, comparable between
an edited bundle and the original (None when it refused).
"""

import json
import os
import shutil
import signal
import traceback

import numpy as np

from edge.errors import EdgeError


def write_images(folder, count=3, size=(40, 48)):
    """`count` small PNG frames, one dominant colour each (blue, green, red): what edge-predict and the camera read."""
    import cv2

    os.makedirs(folder, exist_ok=True)
    rng = np.random.RandomState(7)
    paths = []
    for index in range(count):
        image = rng.randint(0, 90, size=size + (3,)).astype(np.uint8)
        image[:, :, index % 3] = rng.randint(150, 256, size=size).astype(np.uint8)
        paths.append(os.path.join(folder, "{:03d}.png".format(index)))
        cv2.imwrite(paths[-1], image)
    return paths


def _json(path):
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def predict(bundle, work, images):
    from edge.predict import main

    out = os.path.join(work, "predict.json")
    code = main([bundle, images[0], images[1], "--json", out, "--runtime", "onnxruntime"])
    document = _json(out) if code == 0 else None
    return code, document and {"runtime": document["runtime"], "results": document["results"]}


def camera(bundle, work, images):
    from edge.camera import main

    out = os.path.join(work, "camera.jsonl")
    handlers = dict((number, signal.getsignal(number)) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    try:
        code = main([bundle, "--source", os.path.dirname(images[0]), "--jsonl", out, "--runtime", "onnxruntime",
                     "--max-frames", str(len(images))])
    finally:   # the daemon takes the signals: give them back to the test runner
        for number, handler in handlers.items():
            signal.signal(number, handler)
    if code != 0 or not os.path.isfile(out):
        return code, None
    with open(out) as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return code, [(row.get("prediction"), row.get("confidence"), row.get("values")) for row in rows]


def bench(bundle, work, images):
    from edge.bench import main

    out = os.path.join(work, "bench.json")
    code = main([bundle, "--runtimes", "onnxruntime", "--precisions", "fp32", "--warmup", "0", "--min-time", "0",
                 "--min-iters", "1", "--batch", "1", "--json", out])
    document = _json(out) if code == 0 else None
    return code, document and sorted((row["runtime"], row["precision"], row["runnable"]) for row in document["rows"])


def doctor(bundle, work, images):
    from edge.doctor.cli import main

    out = os.path.join(work, "doctor.json")
    code = main([bundle, "--runtimes", "onnxruntime", "--json", out])
    document = _json(out) if code in (0, 1) else None
    return code, document and dict((check["name"], check["status"]) for check in document["checks"]
                                   if check["name"] in ("manifest", "golden set", "preprocessing") or
                                   check["name"].startswith("onnxruntime"))


def triton(bundle, work, images):
    from edge.export import main

    repo = os.path.join(work, "triton")
    code = main([bundle, "--triton-repo", repo])
    configs = None
    if code == 0:
        configs = {}
        for name in sorted(os.listdir(repo)):
            config = os.path.join(repo, name, "config.pbtxt")
            if os.path.isfile(config):
                with open(config) as handle:
                    configs[name] = [line for line in handle.read().splitlines() if "written by" not in line]
        shutil.rmtree(repo)
    return code, configs


def serve(bundle, work, images):
    """edge-serve's load path as its main runs it (exit code 2 for an EdgeError, as run_main gives), then one image."""
    import cv2

    from edge.bundle.bundle import Bundle
    from edge.runners.select import make_runner
    from edge.serve.metrics import ServeTelemetry
    from edge.serve.service import InferenceService

    try:
        loaded = Bundle.load(bundle)
        runner, _ = make_runner(loaded, "onnxruntime", "auto", spinning=False)
        service = InferenceService(loaded, runner, "model", ServeTelemetry(), max_batch=1, max_delay_ms=0)
        service.start()
    except EdgeError as exc:
        return 2, None, "edge-serve: error: {}\n".format(exc)
    try:
        image = cv2.imread(images[0])
        fields = service.result(service.infer(service.prepare(image))[0], image.shape[:2])
        return 0, {"runtime": runner.describe(), "top": fields.get("top"), "values": fields.get("values")}, ""
    finally:
        service.close()


def api(bundle, work, images):
    """The Python API: edge.load_bundle and a runner, as a notebook uses them (an EdgeError counts as exit 2)."""
    import edge

    try:
        with edge.load_bundle(bundle).runner(runtime="onnxruntime") as model:
            return 0, [tuple(p) if not hasattr(p, "values") else (p.values,) for p in model.predict_batch(images)], ""
    except EdgeError as exc:
        return 2, None, "api: error: {}\n".format(exc)


COMMANDS = {"edge-predict": predict, "edge-camera": camera, "edge-bench": bench, "edge-doctor": doctor,
            "edge-export --triton-repo": triton, "edge-serve": serve, "api": api}


def run_command(name, bundle, work, images, capsys):
    """(exit code, stderr, result) of command `name` on `bundle`; an exception escaping it (a traceback for a user)
    is returned as exit code None with the traceback as stderr."""
    os.makedirs(work, exist_ok=True)
    capsys.readouterr()
    try:
        answer = COMMANDS[name](bundle, work, images)
    except SystemExit as exc:   # argparse and the like: a clean exit, not a traceback
        answer = (exc.code, None)
    except Exception:
        return None, traceback.format_exc(), None
    captured = capsys.readouterr()
    code, result = answer[0], answer[1]
    err = captured.err + (answer[2] if len(answer) > 2 else "")
    return code, err, result


def error_lines(err):
    """The error lines of a command's stderr ("prog: error: ...")."""
    return [line for line in err.splitlines() if ": error: " in line]
