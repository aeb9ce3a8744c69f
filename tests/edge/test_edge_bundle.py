"""The bundle manifest: what readers refuse, and artifact look-up and integrity checks."""

import json
import os

import pytest

from edge.bundle.bundle import Bundle, artifact_entry, new_manifest, put_artifact, write_manifest
from edge.errors import EdgeError
from edge.bundle.preprocess import PreprocessSpec
from edge.bundle.schema import FUSED_INPUT, INPUT_FLOAT, INPUT_UINT8
from tests.helpers import undocumented_manifest_keys


def make_bundle(path):
    os.makedirs(str(path), exist_ok=True)
    manifest = new_manifest("resnet18", ["cat", "dog"], PreprocessSpec(32), "input", "logits", batch=(1, 4, 8))
    (path / "model.onnx").write_bytes(b"onnx bytes")
    put_artifact(manifest, artifact_entry(str(path), "model.onnx", "onnx", precision="fp32", opset=13))
    write_manifest(str(path), manifest)
    return str(path)


def test_a_written_bundle_reads_back(tmp_path):
    bundle = Bundle.load(make_bundle(tmp_path / "b"))
    assert bundle.classes == ["cat", "dog"] and bundle.spec == PreprocessSpec(32)
    assert bundle.batch_range == (1, 4, 8) and bundle.manifest["input"]["shape"] == [4, 3, 32, 32]
    entry = bundle.artifact("onnx", precision="fp32")
    assert entry["opset"] == 13 and bundle.check(entry).endswith("model.onnx")
    assert bundle.artifact("onnx", precision="int8") is None


@pytest.mark.parametrize("fused, shape", [(False, [4, 3, 24, 40]), (FUSED_INPUT, [4, 24, 40, 3])])
def test_the_manifest_input_shape_and_item_shape_follow_the_input_format(fused, shape):
    manifest = new_manifest("resnet18", ["cat"], PreprocessSpec((24, 40)), "input", "logits", batch=(1, 4, 8),
                            fused_preprocess=fused)
    bundle = Bundle("unused", manifest)
    assert manifest["input"]["shape"] == shape and bundle.item_shape() == shape[1:]
    assert bundle.item_shape(INPUT_FLOAT) == [3, 24, 40] and bundle.item_shape(INPUT_UINT8) == [24, 40, 3]


def test_an_older_bundle_spelling_flavour_reads_as_flavor(tmp_path):
    path = make_bundle(tmp_path / "b")
    (tmp_path / "b" / "model.int8.onnx").write_bytes(b"int8 bytes")
    manifest = Bundle.load(path).manifest
    put_artifact(manifest, artifact_entry(path, "model.int8.onnx", "onnx", precision="int8", opset=13,
                                          flavour="ort-qdq-u8s8"))
    write_manifest(path, manifest)
    bundle = Bundle.load(path)
    assert bundle.onnx("int8", flavor="ort-qdq-u8s8")["file"] == "model.int8.onnx"
    assert bundle.artifact("onnx", precision="int8") == dict(bundle.onnx("int8"), flavor="ort-qdq-u8s8")
    assert "flavour" not in bundle.onnx("int8")
    bundle.save()   # written back in the current spelling
    assert '"flavor": "ort-qdq-u8s8"' in (tmp_path / "b" / "manifest.json").read_text()


def test_replacing_an_artifact_keeps_one_entry(tmp_path):
    bundle = Bundle.load(make_bundle(tmp_path / "b"))
    put_artifact(bundle.manifest, artifact_entry(bundle.path, "model.onnx", "onnx", precision="fp32", opset=17))
    assert [a["opset"] for a in bundle.artifacts("onnx")] == [17]


def test_tampered_or_missing_artifacts_are_refused(tmp_path):
    bundle = Bundle.load(make_bundle(tmp_path / "b"))
    entry = bundle.artifact("onnx")
    (tmp_path / "b" / "model.onnx").write_bytes(b"other bytes")
    with pytest.raises(EdgeError, match="sha256"):
        bundle.check(entry)
    os.unlink(str(tmp_path / "b" / "model.onnx"))
    with pytest.raises(EdgeError, match="missing"):
        bundle.check(entry)


@pytest.mark.parametrize("content, message", [
    (None, "not a bundle"), ("{broken", "not valid JSON"), ('{"schema": "other"}', "not an edge-toolkit"),
    ('{"schema": "edge-toolkit/bundle", "schema_version": 99}', "upgrade"),
    ('{"schema": "edge-toolkit/bundle", "schema_version": 1, "model": {}}', "lacks"),
])
def test_bad_manifests_get_one_clear_error(tmp_path, content, message):
    os.makedirs(str(tmp_path / "b"))
    if content is not None:
        (tmp_path / "b" / "manifest.json").write_text(content)
    with pytest.raises(EdgeError, match=message):
        Bundle.load(str(tmp_path / "b"))


def test_manifest_is_plain_json_with_the_preprocessing(tmp_path):
    path = make_bundle(tmp_path / "b")
    manifest = json.load(open(os.path.join(path, "manifest.json")))
    assert manifest["input"]["preprocess"]["mean"] == [0.485, 0.456, 0.406]
    assert manifest["model"]["num_classes"] == 2


def test_the_schema_docstring_names_every_key_an_export_writes(export_int8_bundle):
    manifest = Bundle.load(export_int8_bundle).manifest
    assert undocumented_manifest_keys(manifest) == []
