"""What the bundle reader hands every command: shapes, artifacts and the one-line refusals.

Written against the survivors of `make mutation` (tests/mutation.py). A fused bundle's item shape feeds
the engine keys and the Triton config's dims, so its channel count is pinned here."""

import json
import os
import time

import pytest

import edge
import edge.bundle.bundle
from edge.bundle.bundle import MANIFEST, Bundle, artifact_entry, interrupted_export, labels_text, moved_aside, new_manifest, put_artifact, read_manifest, write_manifest
from edge.bundle.schema import INPUT_FLOAT, INPUT_UINT8
from edge.errors import EdgeError
from edge.bundle.preprocess import PreprocessSpec
from edge.tasks.points import RegressionTargets
from tests.fakes.tiny_bundle import write_tiny_bundle


def manifest(fused=False, size=(48, 64), batch=(1, 2, 8), **options):
    return new_manifest("resnet18", ["cat", "dog", "fox"], PreprocessSpec(size=size), "input", "logits", batch=batch,
                        fused_preprocess=fused, **options)


FUSED = {"dtype": "uint8", "layout": "NHWC", "color_order": "BGR"}


def test_item_shapes_of_a_float_and_a_fused_bundle_have_three_channels():
    plain, fused = Bundle("b", manifest()), Bundle("b", manifest(fused=FUSED))
    assert (plain.input_format, plain.item_shape()) == (INPUT_FLOAT, [3, 48, 64])
    assert (fused.input_format, fused.item_shape()) == (INPUT_UINT8, [48, 64, 3])
    assert fused.item_shape(INPUT_FLOAT) == [3, 48, 64]        # a TensorRT 8.2 engine of a fused bundle
    assert plain.item_shape(INPUT_UINT8) == [48, 64, 3]
    assert (plain.fused_preprocess, fused.fused_preprocess) == (False, FUSED)


def test_a_new_manifest_says_what_every_reader_needs():
    found = manifest(batch=(2, 4, 16))
    assert (found["schema"], found["schema_version"]) == ("edge-toolkit/bundle", 1)
    assert found["model"] == {"arch": "resnet18", "classes": ["cat", "dog", "fox"], "num_classes": 3, "source": {}}
    assert found["input"]["shape"] == [4, 3, 48, 64]
    assert found["input"]["batch"] == {"min": 2, "opt": 4, "max": 16}
    assert (found["input"]["name"], found["input"]["fused_preprocess"]) == ("input", False)
    assert found["output"] == {"name": "logits", "kind": "logits"}
    assert (found["artifacts"], found["verification"]) == ([], {})
    assert found["producer"] == {"tool": "edge-export", "version": edge.__version__}
    assert found["created"].startswith("20") and found["created"].endswith("Z")
    bundle = Bundle("b", found)
    assert (bundle.batch_range, bundle.classes, bundle.arch) == ((2, 4, 16), ["cat", "dog", "fox"], "resnet18")
    assert (bundle.input_name, bundle.output_name, bundle.output_kind, bundle.targets) == (
        "input", "logits", "logits", None)
    assert bundle.spec.size == (48, 64)


def test_a_regression_manifest_is_schema_2_with_its_targets_as_outputs():
    targets = RegressionTargets(["nose_x", "nose_y"])
    found = new_manifest("resnet18", ["ignored"], PreprocessSpec(size=32), "input", "points", targets=targets,
                         source={"kind": "checkpoint"})
    assert found["schema_version"] == 2
    assert found["model"]["classes"] == targets.names and found["model"]["num_classes"] == len(targets.names)
    assert (found["output"]["kind"], found["output"]["name"]) == ("regression", "points")
    assert found["model"]["source"] == {"kind": "checkpoint"}
    bundle = Bundle("b", found)
    assert bundle.output_kind == "regression" and bundle.targets.names == targets.names


def test_labels_are_one_class_a_line_in_output_order():
    assert labels_text(["b", "a"]) == "b\na\n"
    assert labels_text([]) == ""


def test_artifact_entries_are_measured_and_replace_one_of_the_same_name(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"12345")
    entry = artifact_entry(str(tmp_path), "model.onnx", "onnx", precision="fp32")
    assert entry == {"file": "model.onnx", "kind": "onnx", "precision": "fp32", "bytes": 5,
                     "sha256": "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5"}
    with pytest.raises(ValueError, match="^unknown artifact kind 'weights'$"):
        artifact_entry(str(tmp_path), "model.onnx", "weights")
    found = manifest()
    found["artifacts"] = [{"file": "labels.txt", "kind": "labels"}, {"file": "model.onnx", "kind": "onnx"}]
    assert put_artifact(found, entry) is entry
    assert found["artifacts"] == [{"file": "labels.txt", "kind": "labels"}, entry]


def test_artifacts_match_every_key_and_onnx_picks_by_precision_flavor_and_input_format():
    found = manifest(fused=FUSED)
    found["artifacts"] = [
        {"file": "engine-fp32-0.plan", "kind": "tensorrt_engine", "precision": "fp32", "input_format": INPUT_FLOAT},
        {"file": "fp32.onnx", "kind": "onnx", "precision": "fp32", "input_format": INPUT_FLOAT},
        {"file": "fused.onnx", "kind": "onnx", "precision": "fp32"},
        {"file": "trt.onnx", "kind": "onnx", "precision": "int8", "flavor": "tensorrt-qdq-s8s8"},
        {"file": "ort.onnx", "kind": "onnx", "precision": "int8", "flavor": "ort-qdq-u8s8"},
        {"file": "labels.txt", "kind": "labels"},
    ]
    bundle = Bundle("/b", found)
    assert [e["file"] for e in bundle.artifacts("onnx", precision="int8")] == ["trt.onnx", "ort.onnx"]
    assert [e["file"] for e in bundle.artifacts()] == [e["file"] for e in found["artifacts"]]
    assert bundle.artifact("onnx", precision="fp16") is None
    assert bundle.artifact("labels")["file"] == "labels.txt"
    assert [e["file"] for e in bundle.artifacts("labels")] == ["labels.txt"]
    assert bundle.artifact("onnx", precision="int8")["file"] == "trt.onnx"
    assert bundle.onnx("fp32")["file"] == "fused.onnx"                       # the bundle's own format
    assert bundle.onnx("fp32", input_format=INPUT_FLOAT)["file"] == "fp32.onnx"
    assert bundle.onnx("int8", flavor="ort-qdq-u8s8")["file"] == "ort.onnx"
    assert bundle.onnx("int8", flavor="tensorrt-qdq-s8s8")["file"] == "trt.onnx"
    assert bundle.onnx("int8", flavor="ort-qdq-u8s8", input_format=INPUT_FLOAT) is None
    assert bundle.model_input_format(found["artifacts"][1]) == INPUT_FLOAT
    assert bundle.model_input_format(found["artifacts"][2]) == INPUT_UINT8
    assert bundle.file(found["artifacts"][5]) == os.path.join("/b", "labels.txt")


def test_check_refuses_a_missing_or_changed_file_in_one_line(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"12345")
    bundle = Bundle(str(tmp_path), manifest())
    entry = artifact_entry(str(tmp_path), "model.onnx", "onnx")
    assert bundle.check(entry) == str(tmp_path / "model.onnx")
    assert bundle.check(entry, digest=entry["sha256"]) == str(tmp_path / "model.onnx")
    with pytest.raises(EdgeError, match="does not match its sha256 in the manifest"):
        bundle.check(entry, digest="0" * 64)
    (tmp_path / "model.onnx").write_bytes(b"54321")
    with pytest.raises(EdgeError) as caught:
        bundle.check(entry)
    assert str(caught.value) == "{} does not match its sha256 in the manifest (corrupt or replaced); " \
                                "re-run edge-export".format(tmp_path / "model.onnx")
    with pytest.raises(EdgeError) as caught:
        bundle.check({"file": "gone.onnx", "sha256": "x"})
    assert str(caught.value) == "bundle {} lists gone.onnx but the file is missing; re-run edge-export".format(tmp_path)


def test_save_writes_the_manifest_back(tmp_path):
    bundle = Bundle(str(tmp_path), manifest())
    bundle.manifest["verification"] = {"fp32": {"top1_agreement": 1.0}}
    bundle.save()
    with open(str(tmp_path / MANIFEST)) as handle:
        assert json.load(handle) == bundle.manifest


def refusal(folder):
    with pytest.raises(EdgeError) as caught:
        read_manifest(folder)
    return str(caught.value)


def test_read_manifest_refuses_what_is_not_a_bundle_in_one_line(tmp_path):
    folder, path = str(tmp_path), str(tmp_path / MANIFEST)
    missing = str(tmp_path / "nowhere")
    assert refusal(missing) == missing + " is not a directory; pass the bundle folder edge-export wrote"
    assert refusal(folder) == "{} has no manifest.json: not a bundle (make one with edge-export model.pt -o {})".format(
        folder, folder)
    (tmp_path / MANIFEST).write_text(u"{not json")
    message = refusal(folder)
    assert message.startswith(path + " is not valid JSON (Expecting property name") and message.endswith(
        "); re-run edge-export")
    (tmp_path / MANIFEST).write_text(u'{"schema": "something/else"}')
    assert refusal(folder) == path + " is not an edge-toolkit bundle manifest"
    for version in (99, 3, "2"):
        newer = manifest()
        newer["schema_version"] = version
        write_manifest(folder, newer)
        assert refusal(folder) == "{} has schema version {}, this edge-toolkit reads up to 2: upgrade it".format(
            path, version)


def test_read_manifest_reads_both_schema_versions(tmp_path):
    plain = write_tiny_bundle(str(tmp_path / "plain"))
    assert read_manifest(plain)["schema_version"] == 1
    (tmp_path / "points").mkdir()
    targets = RegressionTargets(["nose_x", "nose_y"])
    write_manifest(str(tmp_path / "points"), new_manifest("tiny", [], PreprocessSpec(size=32), "input", "points",
                                                          targets=targets))
    found = Bundle.load(str(tmp_path / "points"))
    assert found.manifest["schema_version"] == 2 and found.targets == targets and found.path == str(tmp_path / "points")


def test_an_interrupted_export_points_at_the_previous_bundle(tmp_path):
    target = tmp_path / "bundle"
    assert moved_aside(str(target)) is None and interrupted_export(str(target)) is None
    older, newer = tmp_path / ".bundle.old-aaaa" / "bundle", tmp_path / ".bundle.old-bbbb" / "bundle"
    for folder, stamp in ((newer, time.time() - 100), (older, time.time())):
        folder.mkdir(parents=True)
        write_manifest(str(folder), manifest())
        os.utime(str(folder / MANIFEST), (stamp, stamp))
    (tmp_path / ".bundle.old-cccc").mkdir()                    # no bundle inside: not a candidate
    assert moved_aside(str(target)) == str(older)
    error = interrupted_export(str(target))
    assert str(error) == ("{} is missing, but the previous bundle is in {}: an export was interrupted; re-run "
                          "edge-export, or rename it back (mv {} {})".format(target, older, older, target))
    with pytest.raises(EdgeError) as caught:
        read_manifest(str(target))
    assert str(caught.value) == str(error)
    target.mkdir()
    assert interrupted_export(str(target)) is None             # the bundle is there again
    assert moved_aside(str(tmp_path / "missing" / "bundle")) is None


def test_an_output_kind_this_code_does_not_know_is_refused(tmp_path):
    newer = manifest()
    newer["output"]["kind"] = "boxes"
    write_manifest(str(tmp_path), newer)
    assert refusal(str(tmp_path)) == "{} has an output kind 'boxes' this edge-toolkit does not know: upgrade it".format(
        tmp_path / MANIFEST)


checks_files = pytest.mark.skipif(not hasattr(edge.bundle.bundle, "check_files"), reason="this bundle.py does not check files")


def labelled(folder, labels):
    folder = write_tiny_bundle(str(folder))
    with open(os.path.join(folder, MANIFEST)) as handle:
        found = json.load(handle)
    with open(os.path.join(folder, "labels.txt"), "w") as handle:
        handle.write(labels)
    found["artifacts"].append(artifact_entry(folder, "labels.txt", "labels"))
    write_manifest(folder, found)
    return folder


@checks_files
def test_labels_txt_must_name_the_manifests_classes_in_order(tmp_path):
    good = labelled(tmp_path / "good", "blue\ngreen\nred\n")
    assert read_manifest(good)["model"]["classes"] == ["blue", "green", "red"]
    edited = labelled(tmp_path / "edited", "red\ngreen\nblue\n")
    assert refusal(edited) == ("{}: model.classes differ from labels.txt (the classes in output order); {}".format(
        os.path.join(edited, MANIFEST), edge.bundle.bundle.FIX))


@checks_files
def test_an_artifact_that_leads_out_of_the_bundle_through_a_link_is_refused(tmp_path):
    folder = write_tiny_bundle(str(tmp_path / "bundle"))
    outside = tmp_path / "secret.onnx"
    os.rename(os.path.join(folder, "model.onnx"), str(outside))
    os.symlink(str(outside), os.path.join(folder, "model.onnx"))
    assert refusal(folder) == ("{}: artifact model.onnx leads out of the bundle folder (to {}); {}".format(
        os.path.join(folder, MANIFEST), os.path.realpath(str(outside)), edge.bundle.bundle.FIX))


@checks_files
def test_a_schema_refusal_names_the_manifest_file(tmp_path):
    folder = write_tiny_bundle(str(tmp_path / "bundle"))
    with open(os.path.join(folder, MANIFEST)) as handle:
        found = json.load(handle)
    found["model"]["num_classes"] = 2
    write_manifest(folder, found)
    assert refusal(folder).startswith(os.path.join(folder, MANIFEST) + ": ")


def test_a_manifest_from_before_output_kinds_reads_as_a_classifier(tmp_path):
    folder = write_tiny_bundle(str(tmp_path / "bundle"))
    with open(os.path.join(folder, MANIFEST)) as handle:
        found = json.load(handle)
    del found["output"]["kind"]
    write_manifest(folder, found)
    bundle = Bundle.load(folder)
    assert (bundle.output_kind, bundle.targets) == ("logits", None)
