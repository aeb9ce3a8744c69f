"""Checkpoint -> ONNX -> INT8 QDQ -> golden set, into a verified deployment bundle (the desktop).

Needs torch, onnx and onnxruntime. TensorRT engines are built on the device by edge.tensorrt;
given a bundle, edge-export hands over to it.

    from export import export_bundle, ExportOptions
    manifest = export_bundle("runs/x/model.pt", "bundle", int8=True, calib="data/val")

    cli            edge-export: argv -> ExportOptions, which flags apply to which input
    options        ExportOptions: the export's values and defaults, checked in one place
    pipeline       export_bundle(source_path, out, options, **values): the export as a plain callable
    model_source   what an export starts from (model.pt, state dict, TorchScript, ONNX), loaded
    bundle_models  the phases that write models into the bundle: fp32, its check, INT8, float-pixel
    onnx_export    PyTorch -> ONNX, and what an ONNX file takes
    fuse           preprocessing folded into the graph (the default; --no-fuse-preprocess: plain)
    quantize       the INT8 QDQ flavors (ONNX Runtime static quantization)
    verify         parity checks: PyTorch vs ONNX Runtime, INT8 vs FP32; image folders for them
    bundle_writer  all-or-nothing: a staging folder swapped in at the end
"""

# The public names load on first use (PEP 562): `edge-export bundle/ --engine` on a device imports
# this package but needs none of the desktop pipeline.
PUBLIC = {"export_bundle": "export.pipeline", "ExportOptions": "export.options"}

__all__ = sorted(PUBLIC)


def __getattr__(name):
    if name not in PUBLIC:
        raise AttributeError("module 'export' has no attribute {!r}".format(name))
    import importlib
    return getattr(importlib.import_module(PUBLIC[name]), name)
