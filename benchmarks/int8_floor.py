"""INT8 on this CPU: ONNX Runtime's quantization variants, and the floor they run into.

    .venv/bin/python -m benchmarks.int8_floor BUNDLE --calib VAL_DIR --out /tmp/int8 [--threads 2] [--rounds 15]

1. Variants. The bundle's fp32 model (after quant_pre_process, as edge-export runs it) quantized with
   ONNX Runtime's static quantization in each way it offers on x86: QDQ and QOperator (QLinearConv) formats,
   per-channel and per-tensor weights, u8s8 and u8u8, 7-bit weights (reduce_range), s8s8 (TensorRT's flavor),
   and the bundle's own ORT model loaded from its saved optimized graph (the session's
   optimized_model_filepath, reloaded with graph optimizations off). Calibration on 64 of VAL_DIR's images
   (entropy), top-1 agreement with fp32 on the rest. Latency: batch 1, the sessions timed in turns (rounds
   of 10 calls each, so that every variant sees the same load), median ms.
2. The floor. The model's multiply-accumulates (Conv, Gemm and MatMul, from the graph's shapes), this
   machine's GEMM throughput in ONNX Runtime (MLAS) for fp32 and u8s8/u8u8 (a 1024^3 MatMul / MatMulInteger),
   and so the least time the convolutions can take at each precision; ONNX Runtime's profiler's time by
   operator type for the fp32 model and the fastest INT8 variant: where the rest goes.

A benchmark, not a test: it prints figures (and writes OUT/int8_floor.json).
"""

import contextlib
import glob
import io
import json
import os
import sys
import time

import numpy as np

from edge.cli import make_parser, run_main

GEMM_SIZE = 1024
VARIANTS = {   # name: (format, activations, weights, per-channel, reduce_range)
    "QDQ u8s8 per-channel": ("QDQ", "QUInt8", "QInt8", True, False),
    "QDQ u8s8 per-tensor": ("QDQ", "QUInt8", "QInt8", False, False),
    "QOperator u8s8 per-channel": ("QOperator", "QUInt8", "QInt8", True, False),
    "QOperator u8s8 per-tensor": ("QOperator", "QUInt8", "QInt8", False, False),
    "QDQ u8u8 per-channel": ("QDQ", "QUInt8", "QUInt8", True, False),
    "QDQ u8s8 per-channel 7-bit": ("QDQ", "QUInt8", "QInt8", True, True),
    "QDQ s8s8 per-channel": ("QDQ", "QInt8", "QInt8", True, False),
}


def session(model, threads, profile=None, save=None, optimize=True):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = profile
    if save:
        options.optimized_model_filepath = save
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def quantize(prepared, path, variant, name, batch):
    from onnxruntime import quantization as q

    if os.path.exists(path):
        return path
    fmt, activations, weights, per_channel, reduce_range = VARIANTS[variant]

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.index = 0

        def get_next(self):
            if self.index >= len(batch):
                return None
            self.index += 1
            return {name: batch[self.index - 1:self.index]}

    with contextlib.redirect_stdout(io.StringIO()):
        q.quantize_static(prepared, path, Reader(), quant_format=getattr(q.QuantFormat, fmt), per_channel=per_channel,
                          reduce_range=reduce_range, activation_type=getattr(q.QuantType, activations),
                          weight_type=getattr(q.QuantType, weights), calibrate_method=q.CalibrationMethod.Entropy,
                          extra_options={"WeightSymmetric": True, "ActivationSymmetric": activations == "QInt8"})
    return path


def macs(model_path):
    """Multiply-accumulates of the graph's Conv, Gemm and MatMul nodes at batch 1 (from inferred shapes)."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(model_path))
    shapes = {}
    for value in list(model.graph.value_info) + list(model.graph.output) + list(model.graph.input):
        shapes[value.name] = [d.dim_value or 1 for d in value.type.tensor_type.shape.dim]
    weights = dict((init.name, list(init.dims)) for init in model.graph.initializer)
    total = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            out, kernel = shapes[node.output[0]], weights[node.input[1]]
            total += int(np.prod(out)) * int(np.prod(kernel[1:]))
        elif node.op_type in ("Gemm", "MatMul"):
            total += int(np.prod(shapes[node.output[0]])) * shapes[node.input[0]][-1]
    return total


def gemm_model(kind, size):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.RandomState(0)
    if kind == "fp32":
        weight, op, out_type, in_type = rng.randn(size, size).astype(np.float32), "MatMul", TensorProto.FLOAT, \
            TensorProto.FLOAT
    else:
        dtype = np.int8 if kind == "u8s8" else np.uint8
        weight = rng.randint(-100 if dtype == np.int8 else 0, 100, size=(size, size)).astype(dtype)
        op, out_type, in_type = "MatMulInteger", TensorProto.INT32, TensorProto.UINT8
    graph = helper.make_graph([helper.make_node(op, ["a", "w"], ["y"])], "gemm",
                              [helper.make_tensor_value_info("a", in_type, [size, size])],
                              [helper.make_tensor_value_info("y", out_type, [size, size])],
                              [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def gemm_rates(threads, size=GEMM_SIZE):
    """GMAC/s of a size^3 MatMul (fp32) and MatMulInteger (u8s8, u8u8) in ONNX Runtime on this machine."""
    rates = {}
    rng = np.random.RandomState(1)
    for kind in ("fp32", "u8s8", "u8u8"):
        run = session(gemm_model(kind, size), threads)
        a = rng.randn(size, size).astype(np.float32) if kind == "fp32" else \
            rng.randint(0, 255, size=(size, size)).astype(np.uint8)
        seconds = timed_turns({kind: lambda: run.run(None, {"a": a})}, rounds=7, calls=1)[kind]
        rates[kind] = size ** 3 / (seconds / 1000.0) / 1e9
    return rates


def timed_turns(calls_by_name, rounds, calls=10):
    """Median ms per call of each callable, timed in turns (a round calls each `calls` times), after a warm-up."""
    for call in calls_by_name.values():
        for _ in range(3):
            call()
    samples = dict((name, []) for name in calls_by_name)
    for _ in range(rounds):
        for name, call in calls_by_name.items():
            started = time.perf_counter()
            for _ in range(calls):
                call()
            samples[name].append((time.perf_counter() - started) * 1000.0 / calls)
    return dict((name, float(np.median(values))) for name, values in samples.items())


def profile_by_op(model, threads, feed, calls=20):
    """ms per call by operator type, from ONNX Runtime's profiler."""
    run = session(model, threads, profile=os.path.join(os.path.dirname(model), "profile"))
    for _ in range(calls):
        run.run(None, feed)
    path = run.end_profiling()
    with open(path) as handle:
        events = json.load(handle)
    os.unlink(path)
    by_op = {}
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            op = event["args"]["op_name"]
            by_op[op] = by_op.get(op, 0.0) + event["dur"] / 1000.0 / calls
    return dict(sorted(by_op.items(), key=lambda item: -item[1]))


def calibration_frames(bundle, folder, count=64):
    from edge.bundle.preprocess import preprocess_batch, read_image

    paths = sorted(glob.glob(os.path.join(folder, "*", "*.*")) + glob.glob(os.path.join(folder, "*.*")))
    paths = [p for p in paths if p.lower().endswith((".png", ".jpg", ".jpeg", ".bmp"))]
    np.random.RandomState(0).shuffle(paths)
    frames = [frame for frame in (read_image(p) for p in paths) if frame is not None]
    if len(frames) <= count:
        raise SystemExit("--calib needs more than {} images, found {}".format(count, len(frames)))
    batch = preprocess_batch(frames, bundle.spec, bool(bundle.fused_preprocess))
    return batch[:count], batch[count:]


def variant_models(bundle, out, calib, threads):
    """{label: model path}: fp32, the bundle's ORT INT8 model reloaded from its saved optimized graph, every variant."""
    from export.quantize import preprocess_for_quantization

    fp32 = bundle.check(bundle.onnx("fp32"))
    models = {"fp32": fp32}
    own = bundle.onnx("int8", flavor="ort-qdq-u8s8")
    if own is not None:
        saved = os.path.join(out, "bundle-ort-int8.optimized.onnx")
        session(bundle.check(own), threads, save=saved)   # ONNX Runtime writes its optimized graph on load
        models["bundle's ORT INT8, saved optimized graph"] = saved
    prepared = os.path.join(out, "prepared.onnx")
    if not os.path.exists(prepared):
        preprocess_for_quantization(fp32, prepared)
    for index, variant in enumerate(VARIANTS):
        models[variant] = quantize(prepared, os.path.join(out, "variant-{}.onnx".format(index)), variant,
                                   bundle.input_name, calib)
    return models


def _main(argv):
    parser = make_parser("python -m benchmarks.int8_floor", __doc__)
    parser.add_argument("bundle")
    parser.add_argument("--calib", required=True, help="an image folder (class folders or flat)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    from edge.bundle.bundle import Bundle

    bundle = Bundle.load(args.bundle)
    os.makedirs(args.out, exist_ok=True)
    calib, holdout = calibration_frames(bundle, args.calib)
    models = variant_models(bundle, os.path.abspath(args.out), calib, args.threads)
    sessions = dict((label, session(path, args.threads, optimize="saved optimized" not in label))
                    for label, path in models.items())
    name, one = bundle.input_name, holdout[:1]
    top1 = dict((label, np.array([run.run(None, {name: holdout[i:i + 1]})[0].argmax() for i in range(len(holdout))]))
                for label, run in sessions.items())
    latency = timed_turns(dict((label, (lambda run: lambda: run.run(None, {name: one}))(run))
                               for label, run in sessions.items()), args.rounds)
    print("{:<44} {:>8} {:>9} {:>10}".format("model ({} threads, batch 1)".format(args.threads), "p50 ms", "x fp32",
                                              "agreement"))
    for label in sessions:
        print("{:<44} {:>8.2f} {:>8.2f}x {:>9.1%}".format(label, latency[label], latency["fp32"] / latency[label],
                                                           float((top1[label] == top1["fp32"]).mean())))
    eligible = [label for label in sessions if label != "fp32" and (top1[label] == top1["fp32"]).mean() >= 0.98]
    best = min(eligible or [label for label in sessions if label != "fp32"], key=latency.get)
    count, rates = macs(models["fp32"]), gemm_rates(args.threads)
    print("\nmodel: {:.3f} GMAC a frame; this machine's GEMM in ONNX Runtime ({} threads): {}".format(
        count / 1e9, args.threads, ", ".join("{} {:.0f} GMAC/s".format(k, v) for k, v in rates.items())))
    print("floor (MACs / GEMM rate): fp32 {:.2f} ms (measured {:.2f}), int8 u8s8 {:.2f} ms (best: {}, {:.2f}); the "
          "GEMM ratio u8s8/fp32 is {:.2f}x".format(count / rates["fp32"] / 1e6, latency["fp32"],
                                                  count / rates["u8s8"] / 1e6, best, latency[best],
                                                  rates["u8s8"] / rates["fp32"]))
    profiles = {}
    for label in ("fp32", best):
        profiles[label] = profile_by_op(models[label], args.threads, {name: one})
        print("profile, {}: {}".format(label, ", ".join("{} {:.2f} ms".format(op, ms)
                                                        for op, ms in list(profiles[label].items())[:6])))
    with open(os.path.join(args.out, "int8_floor.json"), "w") as handle:
        json.dump({"latency_ms": latency, "agreement": dict((k, float((v == top1["fp32"]).mean()))
                                                            for k, v in top1.items()),
                   "macs": count, "gemm_gmacs": rates, "best": best, "profile_ms": profiles,
                   "threads": args.threads}, handle, indent=1)
    return 0


def main(argv=None):
    return run_main("python -m benchmarks.int8_floor", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
