"""edge.triton.repo: the Triton model repository edge-export writes for a bundle (device form, edge/ alone).

Every config.pbtxt is parsed with the ModelConfig message tritonclient ships (protobuf's own text
parser), never by hand. Engines come from the strict TensorRT fakes (tests/fakes/trt).
"""

import json
import os
import shutil
import sys

import pytest

from edge.util.atomic import sha256_file
from edge.bundle.bundle import Bundle
from edge.bundle.schema import ORT_INT8, TENSORRT_INT8
from edge.bundle.onnx_io import graph_io
from edge.export import main
from edge.triton.config import quote
from edge.triton.repo import MARKER, write_repository
from edge.util.lazy import available
from tests.bundle_fixtures import EXPORT_CLASSES, snapshot
from tests.fakes.tiny_bundle import CLASSES as TINY_CLASSES
from tests.fakes.tiny_bundle import write_tiny_bundle
from tests.helpers import run_blocked

QUIET = {"log": lambda text: None}


def protobuf_parsers():
    """(text_format, model_config_pb2): tritonclient is a desktop dev extra; a device's test venv lacks it."""
    text_format = pytest.importorskip("google.protobuf.text_format", reason="needs protobuf (tritonclient[grpc])")
    model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2",
                                           reason="needs tritonclient[grpc] (the desktop dev extra)")
    return text_format, model_config_pb2


def model_config(path):
    """The config.pbtxt at `path` as tritonclient's ModelConfig message."""
    text_format, model_config_pb2 = protobuf_parsers()
    with open(path) as handle:
        return text_format.Parse(handle.read(), model_config_pb2.ModelConfig())


def repository_configs(repo):
    """{model name: ModelConfig} of every model folder in `repo`."""
    return dict((name, model_config(os.path.join(repo, name, "config.pbtxt")))
                for name in sorted(os.listdir(repo)) if os.path.isdir(os.path.join(repo, name)))


def dtype_name(config, value):
    return config.DESCRIPTOR.fields_by_name["input"].message_type.fields_by_name["data_type"].enum_type \
        .values_by_number[value].name


def tensor(config, which, index=0):
    """(name, data type name, dims, label_filename) of an input or output."""
    item = getattr(config, which)[index]
    return item.name, dtype_name(config, item.data_type), list(item.dims), getattr(item, "label_filename", "")


def input_format(config):
    """The first input's format, by name (FORMAT_NONE when unset)."""
    return config.input[0].DESCRIPTOR.fields_by_name["format"].enum_type.values_by_number[config.input[0].format].name


def read_lines(path):
    with open(path) as handle:
        return handle.read().splitlines()


def copy_bundle(source, tmp_path, name="bundle"):
    target = str(tmp_path / name)
    shutil.copytree(source, target)
    return target


# ----------------------------------------------------------------------------- exported bundles

def test_fp32_static_bundle(tmp_path, export_fp32_bundle, capsys):
    repo = str(tmp_path / "triton")
    assert main([export_fp32_bundle, "--triton-repo", repo, "--triton-name", "colours"]) == 0
    out = capsys.readouterr().out
    assert "Triton model repository {}".format(repo) in out and "colours" in out
    configs = repository_configs(repo)
    assert sorted(configs) == ["colours", "colours_image"]
    config = configs["colours"]
    assert (config.name, config.platform, config.backend) == ("colours", "onnxruntime_onnx", "onnxruntime")
    # A static batch of 1 in the ONNX file: no batching in Triton, the full shape stated.
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
    assert tensor(config, "input") == ("input", "TYPE_FP32", [1, 3, 32, 32], "")
    # Triton refuses a format where dims are not 3 ("model input NHWC/NCHW require 3 dims"): none without batching.
    assert input_format(config) == "FORMAT_NONE"
    assert tensor(config, "output") == ("logits", "TYPE_FP32", [1, 3], "labels.txt")
    assert len(config.input) == len(config.output) == 1
    image = configs["colours_image"]   # the raw-image twin: uint8 RGB pixels, same batching and output
    assert (image.platform, image.max_batch_size) == ("onnxruntime_onnx", 0)
    assert tensor(image, "input") == ("input", "TYPE_UINT8", [1, 32, 32, 3], "")
    assert input_format(image) == "FORMAT_NONE" and tensor(image, "output") == tensor(config, "output")
    assert read_lines(os.path.join(repo, "colours_image", "labels.txt")) == EXPORT_CLASSES
    bundle = Bundle.load(export_fp32_bundle)
    assert sha256_file(os.path.join(repo, "colours", "1", "model.onnx")) == bundle.onnx("fp32")["sha256"]
    assert read_lines(os.path.join(repo, "colours", "labels.txt")) == EXPORT_CLASSES
    with open(os.path.join(repo, MARKER)) as handle:
        record = json.load(handle)
    assert record["bundle"]["path"] == os.path.abspath(export_fp32_bundle)
    assert [model["file"] for model in record["models"]] == ["colours/1/model.onnx", "colours_image/1/model.onnx"]
    assert record["models"][1]["sha256"] == sha256_file(os.path.join(repo, "colours_image", "1", "model.onnx"))


def test_fused_uint8_bundle_with_dynamic_batch_and_int8(tmp_path, export_fused_int8_bundle):
    """--fuse-preprocess: uint8 HWC input; --dynamic-batch 4: max_batch_size 4 with dynamic batching."""
    onnx = pytest.importorskip("onnx")
    repo = str(tmp_path / "triton")
    result = write_repository(export_fused_int8_bundle, repo, name="fused", max_delay_us=250, **QUIET)
    configs = repository_configs(repo)
    # The ORT INT8 flavor is a model of its own; TensorRT's INT8 flavor and the float-input models are not.
    assert sorted(configs) == ["fused", "fused_image", "fused_int8", "fused_int8_image"]
    bundle = Bundle.load(export_fused_int8_bundle)
    sources = {"fused": bundle.onnx("fp32"), "fused_int8": bundle.onnx("int8", flavor=ORT_INT8)}
    assert bundle.onnx("int8", flavor=TENSORRT_INT8) is not None
    for name, config in configs.items():
        assert config.max_batch_size == 4 and config.HasField("dynamic_batching")
        assert config.dynamic_batching.max_queue_delay_microseconds == 250
        assert tensor(config, "input") == ("input", "TYPE_UINT8", [32, 32, 3], "")
        assert input_format(config) == "FORMAT_NHWC"   # the tensor models take BGR, the _image twins RGB
        if name.endswith("_image"):
            continue
        assert tensor(config, "output") == ("logits", "TYPE_FP32", [3], "labels.txt")
        path = os.path.join(repo, name, "1", "model.onnx")
        assert sha256_file(path) == sources[name]["sha256"]
        # What the model file says, read with the onnx package: the batch axis dynamic, the rest as configured.
        graph = onnx.load(path).graph
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in graph.input[0].type.tensor_type.shape.dim]
        assert dims == [-1, 32, 32, 3] and graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
        assert read_lines(os.path.join(repo, name, "labels.txt")) == EXPORT_CLASSES
    assert [model.config.name for model in result.models] == ["fused", "fused_image", "fused_int8",
                                                              "fused_int8_image"] and result.left_out == []


def test_onnx_io_reads_what_the_onnx_package_reads(export_fused_int8_bundle, export_fp32_bundle):
    onnx = pytest.importorskip("onnx")

    def with_onnx(path):
        model = onnx.load(path)
        initializers = set(init.name for init in model.graph.initializer)

        def describe(value):
            kind = value.type.tensor_type
            return (value.name, onnx.helper.tensor_dtype_to_np_dtype(kind.elem_type).name,
                    [d.dim_value if d.HasField("dim_value") else -1 for d in kind.shape.dim])
        return ([describe(v) for v in model.graph.input if v.name not in initializers],
                [describe(v) for v in model.graph.output])

    paths = [os.path.join(folder, entry["file"]) for folder in (export_fused_int8_bundle, export_fp32_bundle)
             for entry in Bundle.load(folder).artifacts("onnx")]
    assert len(paths) == 6   # fused: fp32, float-pixel fp32, two INT8 flavors, float-pixel INT8; fp32: one
    for path in paths:
        io = graph_io(path)
        assert ([tuple(t) for t in io.inputs], [tuple(t) for t in io.outputs]) == with_onnx(path), path


def test_onnx_io_leaves_out_initializers_listed_as_inputs_and_refuses_a_broken_file(tmp_path):
    onnx = pytest.importorskip("onnx")
    from tests.fakes.tiny_bundle import tiny_model

    model = tiny_model(dynamic=True)
    weight = [init for init in model.graph.initializer if init.name == "fc_w"][0]
    model.graph.input.append(onnx.helper.make_tensor_value_info("fc_w", weight.data_type, list(weight.dims)))
    path = str(tmp_path / "old-style.onnx")
    onnx.save(model, path)
    io = graph_io(path)
    assert [t.name for t in io.inputs] == ["input"] and io.inputs[0].dims == [-1, 3, 32, 32]
    with open(path, "rb") as handle:
        data = handle.read()
    (tmp_path / "cut.onnx").write_bytes(data[:len(data) // 2])
    from edge.errors import EdgeError
    with pytest.raises(EdgeError, match="is not a valid ONNX model"):
        graph_io(str(tmp_path / "cut.onnx"))


# ----------------------------------------------------------------------------- engines (strict fakes)

def test_only_engines_built_for_this_machine_are_served(monkeypatch, tmp_path):
    from edge.tensorrt.engines import add_engines
    from tests.fakes.trt import install

    folder = write_tiny_bundle(tmp_path / "tiny", dynamic=True, qdq=False)
    install(monkeypatch, "8.2", device="nano")
    nano, = add_engines(folder, ["fp16"], **QUIET)
    install(monkeypatch, "10.3", device="orin")       # the bundle moved to an Orin; its own engine built there
    orin, = add_engines(folder, ["fp16"], **QUIET)
    lines = []
    result = write_repository(folder, str(tmp_path / "triton"), name="tiny", log=lines.append)
    repo = result.path
    configs = repository_configs(repo)
    assert sorted(configs) == ["tiny", "tiny_image", "tiny_trt_fp16"]
    plan = configs["tiny_trt_fp16"]
    assert (plan.platform, plan.backend) == ("tensorrt_plan", "tensorrt")
    assert plan.max_batch_size == 8 and plan.HasField("dynamic_batching")
    assert tensor(plan, "input") == ("input", "TYPE_FP32", [3, 32, 32], "") and input_format(plan) == "FORMAT_NCHW"
    assert tensor(plan, "output") == ("logits", "TYPE_FP32", [3], "labels.txt")
    assert sha256_file(os.path.join(repo, "tiny_trt_fp16", "1", "model.plan")) == orin["sha256"]
    assert read_lines(os.path.join(repo, "tiny_trt_fp16", "labels.txt")) == TINY_CLASSES
    # The Nano's engine is left out, with the reason and the command that rebuilds it, in the log and the record.
    (left_file, why), = result.left_out
    assert left_file == nano["file"]
    assert "NVIDIA Tegra X1" in why and "Orin" in why and "edge-export {} --engine fp16".format(folder) in why
    assert any(why in line and line.startswith("left out of the Triton repository: ") for line in lines)
    with open(os.path.join(repo, MARKER)) as handle:
        assert json.load(handle)["left_out"] == [{"file": nano["file"], "reason": why}]


def test_a_fused_bundles_tensorrt_82_engine_is_served_as_it_takes_float_pixels(monkeypatch, tmp_path,
                                                                                export_fused_int8_bundle):
    from edge.bundle.schema import INPUT_PIXELS
    from edge.tensorrt.engines import add_engines
    from tests.fakes.trt import install

    folder = str(tmp_path / "fused")
    shutil.copytree(export_fused_int8_bundle, folder)
    install(monkeypatch, "8.2", device="nano")
    engine, = add_engines(folder, ["fp16"], **QUIET)
    assert engine["input_format"] == INPUT_PIXELS
    result = write_repository(folder, str(tmp_path / "triton"), name="fused", **QUIET)
    configs = repository_configs(result.path)
    # The float-pixel ONNX models are what the engine was built from: not served themselves.
    assert sorted(configs) == ["fused", "fused_image", "fused_int8", "fused_int8_image", "fused_trt_fp16"]
    assert not [model for model in result.models if model.entry["file"].endswith(".pixels.onnx")]
    plan = configs["fused_trt_fp16"]
    assert tensor(plan, "input") == ("input", "TYPE_FP32", [32, 32, 3], "") and input_format(plan) == "FORMAT_NHWC"
    assert tensor(configs["fused"], "input") == ("input", "TYPE_UINT8", [32, 32, 3], "")


def test_without_tensorrt_every_engine_is_left_out_with_the_reason(monkeypatch, tmp_path):
    from edge.tensorrt.engines import add_engines
    from tests.fakes.trt import install

    folder = write_tiny_bundle(tmp_path / "tiny", dynamic=True, qdq=False)
    install(monkeypatch, "10.3", device="orin")
    engine, = add_engines(folder, ["fp16"], **QUIET)
    monkeypatch.setitem(sys.modules, "tensorrt", None)   # importing it now fails, as on a desktop without it
    result = write_repository(folder, str(tmp_path / "triton"), name="tiny", **QUIET)
    assert [model.config.name for model in result.models] == ["tiny", "tiny_image"]
    (left_file, why), = result.left_out
    assert left_file == engine["file"] and "TensorRT cannot be imported here" in why


def test_a_static_engine_has_no_batching(monkeypatch, tmp_path):
    from edge.tensorrt.engines import add_engines
    from tests.fakes.trt import install

    folder = write_tiny_bundle(tmp_path / "tiny", qdq=False)     # static batch 1
    install(monkeypatch, "8.6", device="orin")
    add_engines(folder, ["fp32"], **QUIET)
    configs = repository_configs(write_repository(folder, str(tmp_path / "triton"), **QUIET).path)
    assert sorted(configs) == ["tiny", "tiny_image", "tiny_trt_fp32"]   # the name defaults to the bundle folder's
    for name, config in configs.items():
        assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
        pixels = [1, 32, 32, 3] if name.endswith("_image") else [1, 3, 32, 32]
        assert tensor(config, "input")[2] == pixels and tensor(config, "output")[2] == [1, 3]


# ----------------------------------------------------------------------------- the folder

def test_rewrites_its_own_repository_whole(tmp_path):
    folder = write_tiny_bundle(tmp_path / "tiny", dynamic=True, qdq=False)
    repo = str(tmp_path / "triton")
    write_repository(folder, repo, name="first", **QUIET)
    write_repository(folder, repo, name="second", **QUIET)
    twin = ["second_image"] if available("onnx") else []   # the raw-image twin needs onnx to write its graph
    assert sorted(os.listdir(repo)) == [MARKER, "second"] + twin
    assert sorted(os.listdir(str(tmp_path))) == ["tiny", "triton"]    # no staging or moved-aside folder left


def test_a_failed_write_leaves_the_previous_repository(tmp_path):
    folder = write_tiny_bundle(tmp_path / "tiny", dynamic=True, qdq=False)
    repo = str(tmp_path / "triton")
    write_repository(folder, repo, name="tiny", **QUIET)
    before = snapshot(repo)
    bundle = Bundle.load(folder)
    bundle.onnx("fp32")["sha256"] = "0" * 64                  # the bundle's model no longer matches its sha256
    bundle.save()
    from edge.errors import EdgeError
    with pytest.raises(EdgeError, match="does not match its sha256"):
        write_repository(folder, repo, name="tiny", **QUIET)
    assert snapshot(repo) == before and sorted(os.listdir(str(tmp_path))) == ["tiny", "triton"]


@pytest.mark.parametrize("make, extra, needle", [
    (lambda d: d.mkdir() or (d / "notes.txt").write_text("mine"), [], "is not a Triton repository edge-export "
                                                                      "wrote"),
    (lambda d: d.write_text("a file"), [], "is a file"),
    (None, ["--triton-name", "no/slash"], "is not a model name"),
    (None, ["--triton-max-delay-us", "-1"], "--triton-max-delay-us must be a whole number from 0"),
])
def test_a_bad_repository_folder_or_option_is_one_line_and_nothing_is_written(tmp_path, capsys, make, extra,
                                                                               needle):
    folder = write_tiny_bundle(tmp_path / "tiny", dynamic=True, qdq=False)
    target = tmp_path / "triton"
    if make is not None:
        make(target)
    before = snapshot(str(tmp_path))
    assert main([folder, "--triton-repo", str(target)] + extra) == 2
    captured = capsys.readouterr()
    assert needle in captured.err and captured.err.count("\n") == 1 and captured.err.startswith("edge-export: error")
    assert captured.out == "" and snapshot(str(tmp_path)) == before


def test_inside_the_bundle_and_options_without_a_folder_are_refused(tmp_path, capsys):
    folder = write_tiny_bundle(tmp_path / "tiny", dynamic=True, qdq=False)
    before = snapshot(folder)
    for argv, needle in (([folder, "--triton-repo", os.path.join(folder, "triton")], "must be separate folders"),
                         ([folder, "--triton-repo", str(tmp_path)], "must be separate folders"),
                         ([folder, "--triton-name", "x"], "--triton-name only apply with --triton-repo"),
                         ([folder, "--triton-repo", str(tmp_path / "t"), "--strict"], "only apply with --engine"),
                         ([folder], "--triton-repo DIR")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, (argv, err)
    assert snapshot(folder) == before and sorted(os.listdir(str(tmp_path))) == ["tiny"]


def test_names_are_quoted_so_protobuf_reads_them_back():
    text_format, model_config_pb2 = protobuf_parsers()

    for name in ("input.1", 'a"b\\c', "tab\tnew\nline", "caf\u00e9-\u540d\u524d", "\x7f\x01"):
        config = text_format.Parse("name: {}".format(quote(name)), model_config_pb2.ModelConfig())
        assert config.name == name


def test_runs_with_edge_alone(tmp_path):
    """As installed on a Jetson: no torch, onnx, onnxruntime, TensorRT, export/ or train/ importable."""
    folder = write_tiny_bundle(tmp_path / "b", dynamic=True, qdq=False)
    code = """
from edge.export import main
status = main([sys.argv[1], '--triton-repo', sys.argv[2]])
print('status', status)
"""
    result = run_blocked(code, ("torch", "onnx", "onnxruntime", "tensorrt", "train", "export"),
                         [folder, str(tmp_path / "triton")])
    assert result.returncode == 0, result.stderr
    assert "status 0" in result.stdout
    assert sorted(os.listdir(str(tmp_path / "triton"))) == ["b", MARKER]   # no b_image: it needs onnx, and says so
    assert "b_image: not written: the onnx package" in result.stdout + result.stderr
    assert model_config(str(tmp_path / "triton" / "b" / "config.pbtxt")).max_batch_size == 8
