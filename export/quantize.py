"""INT8 QDQ ONNX models with ONNX Runtime's static quantization, in two flavors.

    tensorrt-qdq-s8s8  int8 activations and weights, symmetric (zero point 0): what TensorRT's
                       explicit quantization reads. Runs in ONNX Runtime too (slower on x86).
    ort-qdq-u8s8       uint8 activations, int8 weights: ONNX Runtime's fast x86 CPU path.

Both: `quant_pre_process` (shape inference + graph optimisation), then `quantize_static` in QDQ
format, per-channel weights, at the FP32 model's opset (13 by default). A regression model's head
(the layer that writes the output) keeps float weights and a float output (`float_nodes`; its
input is still 8-bit): the outputs are pixel positions, and on the regression demo (64 px) an
8-bit head and output cost the symmetric flavor 1.1 px of MAE, against 0.1 px with them float;
the head is a sliver of the compute. Calibration images come
from an image folder through the bundle's own preprocessing; a seeded hold-out part of the
sample is kept out of calibration and used to compare INT8 with FP32.
"""

import contextlib
import io
import os

import numpy as np

from edge.bundle.schema import ORT_INT8, TENSORRT_INT8
from edge.errors import EdgeError, first_line
from edge.util.lazy import require
from edge.util.progress import Progress

FLAVORS = {
    # TensorRT's parser takes only int8 Q/DQ with zero points 0: biases stay float (it fuses them itself).
    # Weights stay float initializers behind a Q/DQ pair: the 8.0/8.2 parser rejects an int8
    # initializer read by a DequantizeLinear ("invalid weights type of Int8").
    TENSORRT_INT8: {"file": "model.int8.trt.onnx", "activations": "QInt8", "weights": "QInt8",
                          "symmetric_activations": True, "quantize_bias": False, "float_weights": True},
    ORT_INT8: {"file": "model.int8.ort.onnx", "activations": "QUInt8", "weights": "QInt8",
                     "symmetric_activations": False, "quantize_bias": True, "float_weights": False},
}
CALIB_METHODS = ("entropy", "minmax", "percentile")


class CalibrationSplit(object):
    """The sampled calibration images and the hold-out ones (entries are (path, label))."""

    def __init__(self, calibration, holdout):
        self.calibration = calibration
        self.holdout = holdout


def split_sample(entries, sample_size, holdout_fraction, seed):
    """Seeded sample of `sample_size` entries, `holdout_fraction` of it held out (at least one each)."""
    if len(entries) < 2:
        raise EdgeError("--calib needs at least 2 images (some to calibrate, some to hold out), found {}".format(
            len(entries)))
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(entries))[:min(sample_size, len(entries))]
    chosen = [entries[i] for i in order]
    n_holdout = min(len(chosen) - 1, max(1, int(round(len(chosen) * holdout_fraction))))
    return CalibrationSplit(calibration=chosen[n_holdout:], holdout=chosen[:n_holdout])


def _data_reader(input_name, batch, shown):
    """An onnxruntime CalibrationDataReader over a numpy batch, one image per call, counted on `shown` (a
    Progress); once the images are all read, `shown` says the ranges are being computed."""
    quantization = require("onnxruntime.quantization", "INT8 quantization")

    class BatchReader(quantization.CalibrationDataReader):
        def __init__(self):
            self.index = 0

        def get_next(self):
            if self.index >= len(batch):
                shown.set_stage("computing ranges and writing the quantized model")
                return None
            item = {input_name: batch[self.index:self.index + 1]}
            self.index += 1
            shown.update(items=1)
            return item

        def rewind(self):
            self.index = 0

    return BatchReader()


def preprocess_for_quantization(fp32_path, out_path):
    """quant_pre_process: symbolic shape inference and ORT's graph optimisation, saved to `out_path`."""
    require("onnxruntime.quantization", "INT8 quantization")
    from onnxruntime.quantization.shape_inference import quant_pre_process
    shown = Progress("int8 pre-processing")
    shown.set_stage("shape inference and graph optimisation")
    try:
        with shown, shown.heartbeat():
            quant_pre_process(str(fp32_path), str(out_path), skip_symbolic_shape=False)
    except Exception as exc:  # ORT's shape inference fails on exotic graphs: report, don't trace back
        raise EdgeError("INT8 pre-processing of {} failed ({})".format(
            fp32_path, first_line(exc)))
    return out_path


def output_nodes(model_path):
    """The names of the nodes that write the graph's outputs (a regression model's head)."""
    onnx = require("onnx", "INT8 quantization")
    graph = onnx.load(str(model_path), load_external_data=False).graph
    outputs = set(output.name for output in graph.output)
    return [node.name for node in graph.node if outputs.intersection(node.output)]


def quantize_flavor(prepared_path, out_path, flavor, input_name, calibration_batch, method="entropy",
                     float_nodes=()):
    """Write the QDQ INT8 model of `flavor` calibrated on `calibration_batch`; returns its entry extras.

    float_nodes: names of nodes left unquantized (a regression model's head: output_nodes).
    """
    quantization = require("onnxruntime.quantization", "INT8 quantization")
    if flavor not in FLAVORS:
        raise EdgeError("unknown INT8 flavor {!r}; choose from {}".format(flavor, ", ".join(FLAVORS)))
    if method not in CALIB_METHODS:
        raise EdgeError("unknown calibration method {!r}; choose from {}".format(method, ", ".join(CALIB_METHODS)))
    info = FLAVORS[flavor]
    calibrate_method = {"entropy": quantization.CalibrationMethod.Entropy,
                        "minmax": quantization.CalibrationMethod.MinMax,
                        "percentile": quantization.CalibrationMethod.Percentile}[method]
    extra_options = {"WeightSymmetric": True, "ActivationSymmetric": info["symmetric_activations"],
                     "QuantizeBias": info["quantize_bias"], "AddQDQPairToWeight": info["float_weights"]}
    # quantize_static keeps its augmented calibration model in its own temporary directory; its
    # calibrators print progress chatter to stdout, which is kept off our progress lines (edge.util.progress:
    # the images as calibration reads them, then a line every interval while it computes and quantizes).
    shown = Progress("int8 {} calibration ({})".format(flavor, os.path.basename(str(out_path))),
                     total=len(calibration_batch), unit="image", items="img")
    shown.set_stage("preparing the calibration model")
    with shown, shown.heartbeat(), contextlib.redirect_stdout(io.StringIO()):
        quantization.quantize_static(
            str(prepared_path), str(out_path), _data_reader(input_name, calibration_batch, shown),
            quant_format=quantization.QuantFormat.QDQ, per_channel=True, reduce_range=False,
            activation_type=getattr(quantization.QuantType, info["activations"]),
            weight_type=getattr(quantization.QuantType, info["weights"]),
            calibrate_method=calibrate_method, extra_options=extra_options, nodes_to_exclude=list(float_nodes))
    from export.onnx_export import foreign_domains, keep_used_opsets, onnx_opset
    keep_used_opsets(out_path)   # quant_pre_process stamps it with every domain ONNX Runtime registers
    domains = foreign_domains(out_path)
    if domains:
        raise EdgeError("INT8 {} model uses non-standard operator domains {}; TensorRT cannot read it".format(
            flavor, domains))
    return {"precision": "int8", "opset": onnx_opset(out_path), "flavor": flavor,
            "calibration": {"method": method, "images": int(len(calibration_batch)),
                            "activations": "int8" if info["activations"] == "QInt8" else "uint8",
                            "weights": "int8", "per_channel": True,
                            "symmetric_activations": info["symmetric_activations"],
                            "float_nodes": list(float_nodes)}}
