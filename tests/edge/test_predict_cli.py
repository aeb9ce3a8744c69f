"""edge-predict end to end: agreement with PyTorch, JSON output, unreadable files, bad input."""

import json
import os
import shutil

import pytest

from edge.predict import main


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_top1_agrees_with_pytorch_on_every_image(export_int8_bundle, export_images, capsys):
    code, fp32, err = _run([export_int8_bundle, export_images, "--json", "-", "--runtime", "onnxruntime",
                            "--precision", "fp32"], capsys)
    assert code == 0 and "edge-predict: runtime: onnxruntime-cpu fp32" in err
    code, torch_out, _ = _run([export_int8_bundle, export_images, "--json", "-", "--runtime", "pytorch"], capsys)
    assert code == 0
    document = json.loads(fp32)
    ort_rows, torch_rows = document["results"], json.loads(torch_out)["results"]
    assert len(ort_rows) == len(torch_rows) == 36
    assert [r["prediction"] for r in ort_rows] == [r["prediction"] for r in torch_rows]
    # The predictions are right too: each image sits in its class folder, which predict reads as truth.
    assert all(r["prediction"] == r["top"][0]["label"] == r["truth"] == os.path.basename(os.path.dirname(r["file"]))
               for r in ort_rows)
    assert all(r["confidence"] == r["top"][0]["confidence"] for r in ort_rows) and "label" not in ort_rows[0]
    assert document["score"]["accuracy"] == 1.0 and document["score"]["images"] == 36
    assert document["schema"] == "edge-toolkit/predict" and document["unreadable"] == []


def test_class_named_folders_are_scored_against_the_training_figure(export_fp32_bundle, export_images, tmp_path,
                                                                     capsys):
    from edge.bundle.bundle import read_manifest, write_manifest

    bundle = str(tmp_path / "bundle")
    shutil.copytree(export_fp32_bundle, bundle)
    manifest = read_manifest(bundle)
    manifest["model"]["source"]["metrics"] = {"val": {"accuracy": 0.975, "images": 40}}
    write_manifest(bundle, manifest)
    # Two images filed under the wrong class: the device must count them as misses.
    folder = tmp_path / "val"
    shutil.copytree(export_images, str(folder))
    for name in sorted(os.listdir(str(folder / "red")))[:2]:
        os.rename(str(folder / "red" / name), str(folder / "blue" / ("moved-" + name)))
    code, out, _ = _run([bundle, folder, "--top-k", "1"], capsys)
    assert code == 0
    assert out.splitlines()[-1] == ("top-1 accuracy 94.44% (34 of 36 images in class-named folders); "
                                    "training measured 97.50% on 40 validation images")


def test_unreadable_images_are_reported_and_skipped(export_fp32_bundle, export_images, tmp_path, capsys):
    folder = tmp_path / "imgs"
    shutil.copytree(os.path.join(export_images, "red"), str(folder))
    (folder / "broken.png").write_bytes(b"not a png")
    code, out, err = _run([export_fp32_bundle, folder, "--top-k", "2"], capsys)
    assert code == 1
    assert "skipped" in err and "broken.png" in err
    # "imgs" is no class name: nothing to score, so no accuracy line.
    assert len(out.splitlines()) == 12 and all(" red " in line for line in out.splitlines())


@pytest.mark.parametrize("argv, message", [
    (["{bundle}", "missing.jpg"], "missing.jpg not found"),
    (["{tmp}", "x.jpg"], "no manifest.json"),
    (["{bundle}", "{tmp}"], "no images found"),
    (["{bundle}", "{tmp}", "--top-k", "0"], "--top-k"),
])
def test_bad_input_is_one_line(export_fp32_bundle, tmp_path, capsys, argv, message):
    argv = [a.format(bundle=export_fp32_bundle, tmp=tmp_path) for a in argv]
    code, _, err = _run(argv, capsys)
    assert code == 2 and message in err and err.count("\n") == 1
