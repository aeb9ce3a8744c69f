"""Which engine of a bundle runs on this device, and what a user is told when none does.

Written against the survivors of `make mutation` (tests/mutation.py): the native engine wins over a
fallback one, every field of the key ties an engine to its device, and each refusal names the fix."""

import pytest

from edge.bundle.bundle import Bundle
from edge.tensorrt.matching import build_command, engine_file_name, engine_key, find_engine, mismatch, serves

ORIN = {"gpu": "Orin", "compute_capability": "8.7", "tensorrt_version": "8.6.2"}
NANO = {"gpu": "NVIDIA Tegra X1", "compute_capability": "5.3", "tensorrt_version": "8.2.1.8"}
ONNX_SHA = "a" * 64


def engine(precision, device=ORIN, requested=None, also=None, batch=(1, 2, 4), shape=(3, 32, 32), cache=None,
           **changes):
    key = engine_key(ONNX_SHA, device["tensorrt_version"], device["gpu"], device["compute_capability"], precision,
                     batch, shape, cache)
    entry = {"file": engine_file_name(precision, key), "kind": "tensorrt_engine", "precision": precision,
             "requested_precision": requested or precision, "gpu": device["gpu"],
             "compute_capability": device["compute_capability"], "tensorrt_version": device["tensorrt_version"],
             "onnx_file": "model.onnx", "onnx_sha256": ONNX_SHA,
             "batch": {"min": batch[0], "opt": batch[1], "max": batch[2]}, "input_shape": list(shape), "key": key}
    if also:
        entry["also_requested"] = list(also)
    if cache:
        entry["calibration_cache_sha256"] = cache
    entry.update(changes)
    return entry


def bundle_with(*engines):
    onnx = {"file": "model.onnx", "kind": "onnx", "precision": "fp32", "sha256": ONNX_SHA}
    return Bundle("/data/bundle", {"artifacts": [onnx] + list(engines)})


def test_the_native_engine_wins_over_one_built_as_another_precision():
    """An int8 request on a GPU with both: the int8 engine, not the fp16 one built when int8 was asked."""
    native, fallback = engine("int8"), engine("fp16", requested="int8")
    for order in ((native, fallback), (fallback, native)):
        found, why = find_engine(bundle_with(*order), "int8", ORIN)
        assert (found["file"], why) == (native["file"], None)
    found, _ = find_engine(bundle_with(fallback), "int8", ORIN)
    assert found["file"] == fallback["file"]       # alone, the fallback serves the request


def test_auto_takes_the_fastest_engine_that_fits():
    engines = [engine("fp32"), engine("int8"), engine("fp16")]
    assert find_engine(bundle_with(*engines), "auto", ORIN)[0]["precision"] == "int8"
    assert find_engine(bundle_with(engines[0], engines[2]), "auto", ORIN)[0]["precision"] == "fp16"
    unknown = engine("bf16")                       # a precision this code does not rank: the slowest
    assert find_engine(bundle_with(unknown, engines[0]), "auto", ORIN)[0]["precision"] == "fp32"


def test_serves_its_precision_what_was_asked_and_what_else_was_asked():
    entry = engine("fp16", requested="int8", also=["fp32"])
    assert [p for p in ("fp32", "fp16", "int8") if serves(entry, p)] == ["fp32", "fp16", "int8"]
    assert [p for p in ("fp32", "fp16", "int8") if serves(engine("fp16"), p)] == ["fp16"]


def test_no_engine_names_the_command_that_builds_one():
    bundle = bundle_with(engine("fp16"))
    assert find_engine(bundle, "int8", ORIN) == (
        None, "the bundle has no int8 engine: build it on this device with: edge-export /data/bundle --engine int8")
    assert find_engine(bundle_with(), "auto", ORIN) == (
        None, "the bundle has no TensorRT engine: build it on this device with: "
              "edge-export /data/bundle --engine fp16")
    assert build_command(bundle, "fp32") == "edge-export /data/bundle --engine fp32"


def test_an_engine_for_another_gpu_is_refused_with_both_devices_and_the_rebuild_command():
    assert find_engine(bundle_with(engine("fp16", device=NANO)), "fp16", ORIN) == (None, (
        "{} was built for NVIDIA Tegra X1 (sm_53) with TensorRT 8.2.1.8; this is Orin (sm_87) with TensorRT "
        "8.6.2: rebuild it on this device with: edge-export /data/bundle --engine fp16").format(
            engine("fp16", device=NANO)["file"]))
    assert find_engine(bundle_with(engine("fp16", device=NANO)), "auto", ORIN)[1].endswith("--engine fp16")


@pytest.mark.parametrize("device", [
    dict(ORIN, gpu="Xavier"),
    dict(ORIN, compute_capability="7.2"),
    dict(ORIN, tensorrt_version="10.3.0"),
])
def test_each_device_field_alone_refuses_an_engine(device):
    assert mismatch(bundle_with(), engine("fp16"), device).startswith(engine("fp16")["file"] + " was built for Orin")


def test_an_engine_from_an_older_onnx_or_without_its_key_is_refused():
    stale = engine("fp16", onnx_sha256="b" * 64)
    assert mismatch(bundle_with(stale), stale, ORIN) == "{} was built from an older model.onnx".format(stale["file"])
    other = engine("fp16", onnx_file="other.onnx")
    assert mismatch(bundle_with(other), other, ORIN) == "{} was built from an older other.onnx".format(other["file"])
    for entry in (engine("fp16", key=""), dict(engine("fp16"), batch=[1, 1, 1])):
        assert mismatch(bundle_with(entry), entry, ORIN) == (
            "{} lacks its batch range or key (an older edge-export made it)".format(entry["file"]))
    forged = engine("fp16", key="0" * 12)
    assert mismatch(bundle_with(forged), forged, ORIN) == (
        "{} does not carry the key of this device and model".format(forged["file"]))


@pytest.mark.parametrize("field, value", [
    ("batch", {"min": 1, "opt": 2, "max": 8}),
    ("input_shape", [3, 64, 64]),
    ("calibration_cache_sha256", "d" * 64),
    ("precision", "fp16"),
])
def test_the_key_covers_the_shapes_the_precision_and_the_calibration(field, value):
    entry = engine("int8", cache="c" * 64)
    assert mismatch(bundle_with(entry), entry, ORIN) is None
    changed = dict(entry, **{field: value})
    assert mismatch(bundle_with(changed), changed, ORIN) == (
        "{} does not carry the key of this device and model".format(entry["file"]))


def test_engine_keys_are_12_hex_digits_and_batch_may_be_a_dict_or_a_tuple():
    key = engine_key(ONNX_SHA, "8.6.2", "Orin", "8.7", "fp16", (1, 2, 4), [3, 32, 32])
    assert len(key) == 12 and int(key, 16) >= 0
    assert key == engine_key(ONNX_SHA, "8.6.2", "Orin", "8.7", "fp16", {"min": 1, "opt": 2, "max": 4}, (3, 32, 32))
    assert key != engine_key(ONNX_SHA, "8.6.2", "Orin", "8.7", "fp16", (1, 2, 4))
    assert engine_file_name("fp16", key) == "engine-fp16-{}.plan".format(key)


def test_an_explicit_precision_gets_its_own_engine_before_a_faster_one_that_also_serves_it():
    """--precision fp32 (for accuracy) runs the fp32 engine, not an fp16 one that was also asked as fp32."""
    native, faster = engine("fp32"), engine("fp16", also=["fp32"])
    for order in ((native, faster), (faster, native)):
        assert find_engine(bundle_with(*order), "fp32", ORIN)[0]["file"] == native["file"]
    assert find_engine(bundle_with(native, faster), "auto", ORIN)[0]["file"] == faster["file"]
