"""edge.cuda.gpu: naming the GPU without CUDA, the same way for engine keys and benchmark records."""

import os
import stat

import pytest

from edge.cuda import gpu
from edge.benchmark import environment


@pytest.mark.parametrize("model, expected", [
    ("NVIDIA Jetson Nano Developer Kit", ("NVIDIA Tegra X1", "5.3")),
    ("quill / NVIDIA Jetson TX2", ("NVIDIA Tegra X2", "6.2")),
    ("NVIDIA Jetson Xavier NX Developer Kit", ("Xavier", "7.2")),
    ("NVIDIA Jetson AGX Orin Developer Kit", ("Orin", "8.7")),
    ("NVIDIA Jetson Orin Nano Developer Kit", ("Orin", "8.7")),
    ("quill", ("NVIDIA Tegra X2", "6.2")),              # a TX2 on L4T 32.x
    ("Jetson-AGX", ("Xavier", "7.2")),                  # an AGX Xavier on L4T 32.x
    ("Raspberry Pi 4 Model B", None),
])
def test_jetson_models(model, expected):
    assert gpu.jetson_gpu(model) == expected


def fake_nvidia_smi(tmp_path, monkeypatch, output, code=0):
    script = tmp_path / "nvidia-smi"
    script.write_text("#!/bin/sh\nprintf '%s' '{}'\nexit {}\n".format(output, code))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ["PATH"])


@pytest.mark.parametrize("output, expected", [
    ("NVIDIA GeForce RTX 3060, 8.6, 12288\n", ("NVIDIA GeForce RTX 3060", "8.6", 12288)),
    ("Orin (nvgpu), 8.7, [N/A]\n", ("Orin (nvgpu)", "8.7", None)),
    ("Field \"compute_cap\" is not a valid field to query.\n", None),   # drivers before 510
    ("", None),
])
def test_nvidia_smi_answers(tmp_path, monkeypatch, output, expected):
    fake_nvidia_smi(tmp_path, monkeypatch, output)
    found = gpu.from_nvidia_smi()
    if expected is None:
        assert found is None
    else:
        assert (found["name"], found["compute_capability"], found["memory_mb"]) == expected
        assert found["source"] == "nvidia-smi"


def test_failing_nvidia_smi_is_no_answer(tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch, "NVIDIA-SMI has failed because it couldn't communicate", code=9)
    assert gpu.from_nvidia_smi() is None


def test_benchmark_environment_names_a_jetson_like_the_engine_key(tmp_path, monkeypatch):
    # No torch CUDA and no nvidia-smi: the device tree answers, with the CUDA name and capability
    # the engine keys use (the benchmark once recorded the raw model string and no capability).
    monkeypatch.setenv("PATH", str(tmp_path))
    model = tmp_path / "model"
    model.write_bytes(b"NVIDIA Jetson Nano Developer Kit\x00")
    monkeypatch.setattr(gpu, "DEVICE_TREE_MODEL", str(model))
    monkeypatch.delitem(__import__("sys").modules, "torch", raising=False)
    info = environment.gpu_info()
    assert (info["name"], info["compute_capability"], info["memory_mb"]) == ("NVIDIA Tegra X1", "5.3", None)
    assert info["source"] == "device-tree (NVIDIA Jetson Nano Developer Kit)"


def test_no_gpu_anywhere(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(gpu, "DEVICE_TREE_MODEL", str(tmp_path / "absent"))
    monkeypatch.delitem(__import__("sys").modules, "torch", raising=False)
    assert environment.gpu_info() is None


@pytest.mark.parametrize("name, canonical", [
    ("Orin (nvgpu)", "Orin"), ("Orin", "Orin"), ("  NVIDIA Tegra X1 ", "NVIDIA Tegra X1"),
    ("NVIDIA GeForce RTX 3060", "NVIDIA GeForce RTX 3060"), ("NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"),
])
def test_canonical_names_are_what_cuda_reports(name, canonical):
    assert gpu.canonical_name(name) == canonical
    assert gpu.same_gpu(name, "8.7", canonical, "8.7") and not gpu.same_gpu(name, "8.7", canonical, "7.2")


def test_identify_names_an_orin_alike_from_nvidia_smi_and_from_cuda(tmp_path, monkeypatch):
    import edge.cuda.memory

    class Cuda(object):
        name = "fake"

        def device_info(self):
            return {"name": "Orin", "compute_capability": "8.7", "memory_mb": 7620}

    fake_nvidia_smi(tmp_path, monkeypatch, "Orin (nvgpu), 8.7, [N/A]\n")
    monkeypatch.setattr(edge.cuda.memory, "_BACKEND", None)
    monkeypatch.setattr(edge.cuda.memory, "backend", lambda name=None: (_ for _ in ()).throw(
        gpu.MissingDependency("no CUDA binding")))
    from_smi = gpu.identify()
    monkeypatch.setattr(edge.cuda.memory, "backend", lambda name=None: Cuda())
    from_cuda = gpu.identify()
    assert (from_smi["source"], from_cuda["source"]) == ("nvidia-smi", "cuda")
    assert from_smi["name"] == from_cuda["name"] == "Orin"
    assert from_smi["compute_capability"] == from_cuda["compute_capability"] == "8.7"
