"""Random edits to a real manifest, through every command's load path: refused in one line, or the same answers.

The bundle is the tiny ONNX classifier of tests/fakes/tiny_bundle.py (fp32 and INT8 models, dynamic
batch 1..8) with what edge-export adds around it (a golden set of the model's own outputs, labels.txt,
the model source, verification figures), so each command runs in milliseconds. Each edit is one of
deleting a key, a value of another type, a list cut short, a duplicated list item, an absurd number,
NaN or an infinity, an artifact path leading out of the bundle, or a string where a mapping was.
For every edit and every command (tests/edge/bundle_commands.py):

    - nothing escapes but a clean exit: no traceback;
    - exit code 2 has one error line;
    - a command that answers gives an answer the unedited bundle gives: its own, or the one it gives
      without the verified INT8 model (editing the verification figures may take that choice away);
      the doctor passes no row that the unedited bundle does not pass.
"""

import copy
import json
import os
import random
import shutil

import numpy as np
import pytest

from edge.bundle.bundle import artifact_entry, labels_text, put_artifact, read_manifest, write_manifest
from tests.edge.bundle_commands import COMMANDS, error_lines, run_command, write_images

EDITS = 400
SEED = 23
WRONG_TYPES = ["text", "", 7, -3, 2.5, True, False, None, [], ["a", "b"], {}, {"a": 1}]
ABSURD = [-1, -0.5, -1e9, 1e9, 10 ** 12, 2 ** 63, 1e300]
NOT_FINITE = [float("nan"), float("inf"), float("-inf")]


def fuzz_bundle(folder):
    """The tiny bundle made to look like what edge-export writes; returns its folder."""
    pytest.importorskip("onnxruntime", reason="the fuzz runs the bundle with ONNX Runtime")
    from edge.bundle.bundle import Bundle
    from edge.bundle.golden import GoldenSet
    from edge.runners.onnxruntime.runner import OnnxRuntimeRunner
    from tests.fakes.tiny_bundle import write_tiny_bundle

    folder = write_tiny_bundle(folder, dynamic=True)
    manifest = read_manifest(folder)
    bundle = Bundle(folder, manifest)
    frames = np.random.RandomState(0).randint(0, 256, size=(6, 32, 32, 3)).astype(np.uint8)
    with OnnxRuntimeRunner(bundle) as runner:
        reference = runner.infer(GoldenSet(frames).inputs(bundle.spec))
    extra = GoldenSet(frames, reference, "onnxruntime-fp32", "random").save(folder, bundle.spec)
    put_artifact(manifest, artifact_entry(folder, "golden.npz", "golden", **extra))
    with open(os.path.join(folder, "labels.txt"), "w") as handle:
        handle.write(labels_text(bundle.classes))
    put_artifact(manifest, artifact_entry(folder, "labels.txt", "labels"))
    manifest["model"]["source"] = {"kind": "onnx", "file": "tiny.onnx", "path": "/desktop/runs/tiny.onnx",
                                   "sha256": "0" * 64}
    manifest["verification"] = {
        "fp32": {"source": "random", "inputs": 6, "max_abs_diff": 0.0, "max_abs_logit": 1.5, "tolerance": 1e-4,
                 "tolerance_rule": "0.0001 * max(1, max|logit|)", "top1_agreement": 1.0},
        "int8": {"tensorrt-qdq-s8s8": {"source": "calibration hold-out", "holdout_images": 6, "max_abs_diff": 0.1,
                                       "top1_agreement": 1.0, "min_agreement": 0.98, "accuracy_fp32": 1.0,
                                       "accuracy_int8": 1.0, "accuracy_delta": 0.0}}}
    write_manifest(folder, manifest)
    return folder


# ----------------------------------------------------------------------------- edits


def all_paths(value, prefix=()):
    """Every path (a tuple of keys and indices) below `value`."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield prefix + (key,)
        for path in all_paths(child, prefix + (key,)):
            yield path


def at(manifest, path):
    for key in path:
        manifest = manifest[key]
    return manifest


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def kind_of(value):
    return "number" if is_number(value) else type(value).__name__


def random_edit(manifest, rng, outside):
    """(edited copy, what was done): one random edit of the kinds in the module docstring."""
    edited = copy.deepcopy(manifest)
    paths = list(all_paths(edited))
    lists = [p for p in paths if isinstance(at(edited, p), list) and at(edited, p)]
    numbers = [p for p in paths if is_number(at(edited, p))]
    mappings = [p for p in paths if isinstance(at(edited, p), dict)]
    files = [p + ("file",) for p in paths if len(p) == 2 and p[0] == "artifacts"]
    kind = rng.choice(["delete", "type", "cut", "duplicate", "absurd", "not finite", "escape", "string"])
    if kind == "delete":
        path = rng.choice(paths)
        del at(edited, path[:-1])[path[-1]]
        return edited, "delete {}".format(path)
    if kind == "type":
        path = rng.choice(paths)
        value = rng.choice([v for v in WRONG_TYPES if kind_of(v) != kind_of(at(edited, path))])
    elif kind == "cut":
        path = rng.choice(lists)
        value = at(edited, path)[:rng.randrange(len(at(edited, path)))]
    elif kind == "duplicate":
        path = rng.choice(lists)
        value = at(edited, path) + [copy.deepcopy(rng.choice(at(edited, path)))]
    elif kind == "absurd":
        path, value = rng.choice(numbers), rng.choice(ABSURD)
    elif kind == "not finite":
        path, value = rng.choice(numbers + paths), rng.choice(NOT_FINITE)
    elif kind == "escape":
        path = rng.choice(files)
        name = os.path.basename(at(edited, path))
        value = rng.choice(["../outside/" + name, os.path.join(outside, name), "x/../../outside/" + name,
                            "./" + name, name + "/../" + name, "", "../" + os.path.basename(outside)])
    else:
        path, value = rng.choice(mappings), rng.choice(["text", "{}", "model.onnx", ""])
    at(edited, path[:-1])[path[-1]] = value
    return edited, "{} {} = {!r}".format(kind, path, value)


# ----------------------------------------------------------------------------- the test


def answers(bundle, work, images, capsys):
    """{command: (exit code, stderr, result)} of every command on `bundle`."""
    found = {}
    for name in sorted(COMMANDS):
        found[name] = run_command(name, bundle, os.path.join(work, name.split()[0]), images, capsys)
        shutil.rmtree(os.path.join(work, name.split()[0]), ignore_errors=True)
    return found


def problem(name, answer, expected):
    """What is wrong with one command's answer to an edited bundle, or None."""
    code, err, result = answer
    if code is None:
        return "a traceback:\n" + err
    if code == 2:
        lines = error_lines(err)
        return None if len(lines) == 1 and "Traceback" not in err else "exit 2 without one error line: " + err
    if name == "edge-doctor" and code in (0, 1):
        passing = set(check for check, status in result.items() if status == "pass")
        allowed = set().union(*[set(c for c, s in r.items() if s == "pass") for r in expected])
        return None if passing <= allowed else "the doctor passes {} ({})".format(sorted(passing - allowed), result)
    if code != 0:
        return "exit code {}: {}".format(code, err)
    return None if result in expected else "a different answer: {} (expected one of {})".format(result, expected)


def test_random_manifest_edits_are_refused_or_change_nothing(tmp_path, capsys, monkeypatch):
    import edge.doctor.bundle_checks

    monkeypatch.setattr(edge.doctor.bundle_checks, "TIMING_SECONDS", 0.0)   # the doctor's timing is not under test
    bundle = fuzz_bundle(str(tmp_path / "fuzz" / "bundle"))
    outside = str(tmp_path / "fuzz" / "outside")
    os.makedirs(outside)
    for name in ("model.onnx", "model.int8.trt.onnx", "golden.npz", "labels.txt"):   # escapes find the same bytes
        shutil.copy(os.path.join(bundle, name), outside)
    images = write_images(str(tmp_path / "frames"))
    work = str(tmp_path / "work")
    path = os.path.join(bundle, "manifest.json")
    with open(path) as handle:
        original = json.load(handle)

    without_int8 = copy.deepcopy(original)
    del without_int8["verification"]["int8"]
    expected = {}
    for manifest in (original, without_int8):
        with open(path, "w") as handle:
            json.dump(manifest, handle)
        for name, answer in answers(bundle, work, images, capsys).items():
            assert answer[0] == 0, (name, answer)
            expected.setdefault(name, []).append(answer[2])
    assert expected["edge-predict"][0]["runtime"] != expected["edge-predict"][1]["runtime"]   # int8, then fp32

    rng, failures, outcomes = random.Random(SEED), [], {}
    for _ in range(EDITS):
        manifest, what = random_edit(original, rng, outside)
        with open(path, "w") as handle:
            json.dump(manifest, handle)
        found = answers(bundle, work, images, capsys)
        refusals = sum(answer[0] == 2 for answer in found.values())
        outcome = "refused by every command" if refusals == len(found) else \
            "answered as the original by every command" if not refusals else "refused by some commands"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        failures += ["{}: {}: {}".format(what, name, problem(name, answer, expected[name]))
                     for name, answer in found.items() if problem(name, answer, expected[name])]
    with capsys.disabled():
        print("\nmanifest fuzz: {} edits tried through {} commands each: {}; {} problems".format(
            EDITS, len(COMMANDS), ", ".join("{} {}".format(n, o) for o, n in sorted(outcomes.items())), len(failures)))
    assert failures == [], "\n".join(failures[:20])
