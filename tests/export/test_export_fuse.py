"""--fuse-preprocess: the uint8 NHWC BGR graph matches the unfused PyTorch path on real images."""

import numpy as np

from edge.bundle.bundle import Bundle
from edge.bundle.preprocess import normalize, preprocess, read_image, resize_and_crop


def test_fused_model_matches_unfused_on_real_images(export_run, export_checkpoint, export_model, export_images,
                                                    export_spec, tmp_path):
    import onnxruntime as ort
    import torch

    from export.verify import list_images

    code, out, err = export_run([export_checkpoint, "-o", tmp_path / "b", "--fuse-preprocess",
                                 "--dynamic-batch", "8", "--verify", export_images, "--verify-count", "6"])
    assert code == 0, err
    bundle = Bundle.load(str(tmp_path / "b"))
    assert bundle.fused_preprocess == {"dtype": "uint8", "layout": "NHWC", "color_order": "BGR"}
    assert bundle.manifest["input"]["shape"] == [1, 32, 32, 3]
    assert bundle.spec == export_spec      # resize/crop still described for the host side
    fp32 = bundle.manifest["verification"]["fp32"]
    assert fp32["source"] == "images" and fp32["inputs"] == 6 and fp32["max_abs_diff"] < 1e-4

    images = [read_image(path) for path, _ in list_images(export_images)]
    frames = np.stack([resize_and_crop(image, export_spec) for image in images])   # uint8 NHWC BGR
    session = ort.InferenceSession(str(tmp_path / "b" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(uint8)"
    fused = np.concatenate([session.run(None, {"input": frames[i:i + 8]})[0] for i in range(0, len(frames), 8)])
    with torch.no_grad():
        unfused = export_model(torch.from_numpy(np.stack([preprocess(im, export_spec) for im in images]))).numpy()
    assert np.abs(fused - unfused).max() < 1e-4
    assert (fused.argmax(1) == unfused.argmax(1)).all()
    assert "TensorRT 8.2" in out          # uint8 inputs need TensorRT 8.5+: said plainly


def test_fused_module_handles_bgr_models(export_model):
    """A model trained on BGR input: no channel swap in the graph, same numbers as preprocess."""
    import torch

    from edge.bundle.preprocess import PreprocessSpec
    from export.fuse import fused_module

    spec = PreprocessSpec(size=32, color_order="BGR", mean=(0.1, 0.2, 0.3), std=(0.5, 0.6, 0.7))
    frames = np.random.RandomState(0).randint(0, 256, size=(2, 32, 32, 3)).astype(np.uint8)
    with torch.no_grad():
        fused = fused_module(export_model, spec)(torch.from_numpy(frames)).numpy()
        plain = export_model(torch.from_numpy(np.stack([normalize(f, spec) for f in frames]))).numpy()
    assert np.abs(fused - plain).max() < 1e-5
