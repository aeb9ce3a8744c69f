"""edge-doctor's machine checks on fake Jetsons (a fake filesystem root, fake nvpmodel/systemctl on
PATH, the strict TensorRT and CUDA fakes) and on this machine as it is."""

import json
import os
import stat
import sys
import types

import pytest

import edge.cuda.memory
import edge.cuda.gpu
from edge.cuda.memory import CudaError
from edge.doctor import machine
from edge.doctor.checks import FAIL, INFO, PASS, SKIP

ON_A_JETSON = os.path.exists("/etc/nv_tegra_release")

R32_7 = "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022"
R32_6 = "# R32 (release), REVISION: 6.1, GCID: 27863751, BOARD: t210ref, EABI: aarch64, DATE: Mon Jul 26 19:20:30 UTC 2021"
R36_4 = "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: Fri Sep 13 04:36:44 UTC 2024"
NANO_MEMINFO = "MemTotal:        3964928 kB\nMemFree:          300000 kB\nMemAvailable:    1258292 kB\n" \
               "SwapTotal:             0 kB\nSwapFree:              0 kB\nHugePages_Total:       0\n"


def write(path, text, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    if mode:
        path.chmod(path.stat().st_mode | mode)
    return path


def fake_jetson(tmp_path, release=R32_7, model="NVIDIA Jetson Nano Developer Kit", meminfo=NANO_MEMINFO,
                cpu_freqs=((1479000, 1479000), (1479000, 1479000)), videos=("video0",), argus_socket=True):
    """A Jetson's files under tmp_path/root; returns the root."""
    root = tmp_path / "root"
    write(root / "etc" / "nv_tegra_release", release + "\n")
    write(root / "proc" / "device-tree" / "model", model.encode() + b"\x00")
    write(root / "proc" / "meminfo", meminfo)
    for number, (current, maximum) in enumerate(cpu_freqs):
        folder = root / "sys" / "devices" / "system" / "cpu" / "cpu{}".format(number) / "cpufreq"
        write(folder / "scaling_cur_freq", "{}\n".format(current))
        write(folder / "scaling_max_freq", "{}\n".format(maximum))
    for name in videos:
        write(root / "dev" / name, "")
    if argus_socket:
        write(root / "tmp" / "argus_socket", "")
    return str(root)


def fake_command(tmp_path, monkeypatch, name, output, code=0, only=False):
    """An executable `name` printing `output` and exiting `code`, first on PATH (the only thing on it if `only`)."""
    folder = tmp_path / "bin"
    write(folder / name, "#!/bin/sh\nprintf '%s\\n' '{}'\nexit {}\n".format(output, code), stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(folder) if only else str(folder) + os.pathsep + os.environ["PATH"])


def fake_cv2(monkeypatch, gstreamer):
    cv2 = types.ModuleType("cv2")
    cv2.__version__ = "4.1.1"
    cv2.getBuildInformation = lambda: "  Video I/O:\n    FFMPEG:  YES\n    GStreamer:  {}\n".format(
        "YES (1.14.5)" if gstreamer else "NO")
    monkeypatch.setitem(sys.modules, "cv2", cv2)


def install_trt(monkeypatch, device="nano", cuda="pycuda", generation="8.2", **kwargs):
    from tests.fakes.trt import install
    return install(monkeypatch, generation, device=device, cuda=cuda, **kwargs)


def no_module(monkeypatch, *names):
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


# ----------------------------------------------------------------------------- l4t release

UPGRADE = "upgrade to L4T R32.7 (JetPack 4.6.1+)"


@pytest.mark.parametrize("line, status, detail, fix", [
    (R32_7, INFO, "L4T R32.7.1 (JetPack 4.6.1+: TensorRT 8.2.1, CUDA 10.2), NVIDIA Jetson Nano Developer Kit", None),
    (R32_6, FAIL, "L4T R32.6.1 (JetPack 4.6: TensorRT 8.0.1, which this toolkit does not support", UPGRADE),
    ("# R32 (release), REVISION: 5.1, GCID: 1", FAIL, "L4T R32.5.1 (JetPack 4.5 or older: TensorRT 7)", UPGRADE),
    ("# R36 (release), REVISION: 3.0, GCID: 1", INFO, "L4T R36.3.0 (JetPack 6.0: TensorRT 8.6.2, CUDA 12.2)", None),
    (R36_4, INFO, "L4T R36.4.0 (JetPack 6.1/6.2: TensorRT 10.3, CUDA 12.6)", None),
    ("# R35 (release), REVISION: 4.1, GCID: 1", INFO, "L4T R35.4.1 (JetPack 5, which this toolkit does not test)",
     None),
    ("# R28 (release), REVISION: 2.1, GCID: 1", FAIL, "L4T R28.2.1 (not a supported release)",
     "use JetPack 4.6.1+ (L4T R32.7) or JetPack 6 (L4T R36)"),
    ("something else", INFO, "L4T release unreadable ('something else')", None),
])
def test_l4t_release_names_the_jetpack_and_the_board(tmp_path, line, status, detail, fix):
    root = fake_jetson(tmp_path, release=line)
    check = machine.check_l4t(machine.read_release(root), root)
    assert (check.name, check.status, check.fix) == ("l4t release", status, fix)
    assert check.detail.startswith(detail)
    assert check.detail.endswith(", NVIDIA Jetson Nano Developer Kit")
    assert check.data["board"] == "NVIDIA Jetson Nano Developer Kit"


def test_l4t_release_skips_off_a_jetson(tmp_path):
    check = machine.check_l4t(machine.read_release(str(tmp_path)), str(tmp_path))
    assert (check.status, check.detail) == (SKIP, "not a Jetson (no /etc/nv_tegra_release)")


# ----------------------------------------------------------------------------- tensorrt

def test_tensorrt_passes_with_its_version(monkeypatch):
    install_trt(monkeypatch, generation="10.3", device="orin")
    check = machine.check_tensorrt(jetson=True)
    assert (check.status, check.detail, check.fix) == (PASS, "TensorRT 10.3.0.26", None)


@pytest.mark.parametrize("jetson, status", [(False, SKIP), (True, FAIL)])
def test_missing_tensorrt_skips_off_a_jetson_and_fails_on_one(monkeypatch, jetson, status):
    no_module(monkeypatch, "tensorrt")
    check = machine.check_tensorrt(jetson)
    assert check.status == status
    assert check.detail == "TensorRT is not installed (comes with JetPack: apt install python3-libnvinfer)"
    assert "python3-libnvinfer" in check.fix


def test_a_tensorrt_that_fails_to_import_fails(tmp_path, monkeypatch):
    write(tmp_path / "pkgs" / "tensorrt" / "__init__.py",
          "raise ImportError('libnvinfer.so.8: cannot open shared object file: No such file or directory')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    check = machine.check_tensorrt(jetson=False)
    assert check.status == FAIL
    assert "does not import: ImportError: libnvinfer.so.8" in check.detail


# ----------------------------------------------------------------------------- cuda binding

@pytest.mark.parametrize("binding", ["pycuda", "cuda-python"])
def test_cuda_round_trip_passes_and_frees_everything(monkeypatch, binding):
    trt = install_trt(monkeypatch, cuda=binding)
    check = machine.check_cuda_binding(jetson=True)
    assert (check.status, check.detail) == (PASS, "{}: 1.0 MiB round trip intact".format(binding))
    assert check.data == {"backend": binding, "bytes": 1 << 20}
    assert trt.fake_memory.live() == []


@pytest.mark.parametrize("binding", ["pycuda", "cuda-python"])
def test_cuda_round_trip_fails_when_the_device_corrupts_data(monkeypatch, binding):
    trt = install_trt(monkeypatch, cuda=binding)
    device = trt.fake_memory.device
    honest_write = device.write

    def flip_a_byte(pointer, payload, what="an illegal memory access was encountered"):
        payload = bytearray(payload)
        payload[12345] ^= 0xFF
        honest_write(pointer, payload, what)

    monkeypatch.setattr(device, "write", flip_a_byte)
    check = machine.check_cuda_binding(jetson=True)
    assert check.status == FAIL
    assert "1 of 1048576 bytes came back different (the first at offset 12345)" in check.detail
    assert "video group" in check.fix
    assert trt.fake_memory.live() == []


@pytest.mark.parametrize("binding, error", [("pycuda", "cuMemAlloc failed: out of memory"),
                                            ("cuda-python", "cudaMalloc failed: cudaErrorMemoryAllocation")])
def test_a_cuda_error_fails_the_round_trip_and_frees_what_was_allocated(monkeypatch, binding, error):
    trt = install_trt(monkeypatch, cuda=binding, free_bytes=1000)
    check = machine.check_cuda_binding(jetson=False)
    assert check.status == FAIL
    assert check.detail.startswith("{}: 1.0 MiB round trip failed: ".format(binding)) and error in check.detail
    assert trt.fake_memory.live() == []


def test_a_binding_that_cannot_start_cuda_fails(monkeypatch):
    def no_device(name=None):
        raise RuntimeError("cuInit failed: no CUDA-capable device is detected")
    monkeypatch.setattr(edge.cuda.memory, "backend", no_device)
    check = machine.check_cuda_binding(jetson=False)
    assert check.status == FAIL
    assert check.detail == "CUDA could not be initialised: RuntimeError: cuInit failed: no CUDA-capable device is detected"


@pytest.mark.parametrize("jetson, release, status, hint", [
    (False, None, SKIP, "pip install cuda-python"),
    (True, {"major": 32}, FAIL, "sudo jetson/install.sh, or on a Jetson: pip3 install pycuda"),
    (True, {"major": 36}, FAIL, "sudo jetson/install.sh, or pip install cuda-python"),
])
def test_no_cuda_binding_skips_off_a_jetson_and_fails_on_one(monkeypatch, jetson, release, status, hint):
    install_trt(monkeypatch, cuda=None)
    check = machine.check_cuda_binding(jetson, release)
    assert check.status == status
    assert check.detail == "neither pycuda nor cuda-python is installed" and "pycuda" in check.data["error"]
    assert check.fix.startswith(hint)


# ----------------------------------------------------------------------------- gpu

def test_gpu_from_cuda_passes(monkeypatch):
    install_trt(monkeypatch, device="orin", cuda="cuda-python", generation="10.3")
    check = machine.check_gpu()
    assert (check.status, check.detail) == (PASS, "Orin, compute 8.7 (from cuda)")
    assert check.data == {"name": "Orin", "compute_capability": "8.7", "source": "cuda"}


def test_gpu_from_nvidia_smi_passes_with_cuda_s_name(monkeypatch):
    install_trt(monkeypatch, device="orin", cuda=None, generation="10.3")
    check = machine.check_gpu()
    assert (check.status, check.detail) == (PASS, "Orin, compute 8.7 (from nvidia-smi)")


def test_gpu_known_only_from_the_board_model_is_info(tmp_path, monkeypatch):
    install_trt(monkeypatch, device="nano", cuda=None)
    monkeypatch.setattr(edge.cuda.gpu, "DEVICE_TREE_MODEL", str(tmp_path / "absent"))
    check = machine.check_gpu(fake_jetson(tmp_path))   # the model under root answers
    assert check.status == INFO
    assert check.detail == "NVIDIA Tegra X1, compute 5.3 (from device-tree (NVIDIA Jetson Nano Developer Kit))"


def test_no_gpu_skips(monkeypatch):
    monkeypatch.setattr(edge.cuda.gpu, "identify", lambda: None)
    check = machine.check_gpu()
    assert (check.status, check.detail) == (SKIP, "no GPU found (no CUDA binding answered, no nvidia-smi, not a Jetson)")


def test_a_failing_driver_fails_the_gpu_check(monkeypatch):
    install_trt(monkeypatch, device="nano", cuda="pycuda")

    def broken():
        raise CudaError("CUDA cudaGetDeviceProperties failed: cudaErrorInvalidDevice")
    monkeypatch.setattr(edge.cuda.memory, "device_info", broken)
    check = machine.check_gpu()
    assert (check.status, check.detail) == (FAIL, "CUDA cudaGetDeviceProperties failed: cudaErrorInvalidDevice")


# ----------------------------------------------------------------------------- fast fp16/int8

@pytest.mark.parametrize("device, generation, detail", [
    ("nano", "8.2", "fast FP16 yes, fast INT8 no (INT8 engines build as FP16 here)"),
    ("orin", "10.3", "fast FP16 yes, fast INT8 yes"),
    ("gtx1080", "8.6", "fast FP16 no, fast INT8 yes (FP16 engines build as FP32 here)"),
])
def test_fast_precisions_say_what_an_engine_becomes(monkeypatch, device, generation, detail):
    install_trt(monkeypatch, device=device, generation=generation)
    check = machine.check_fast_precisions("5.3")
    assert (check.name, check.status, check.detail) == ("fast fp16/int8", INFO, detail)


def test_fast_precisions_skip_without_tensorrt(monkeypatch):
    no_module(monkeypatch, "tensorrt")
    assert machine.check_fast_precisions().status == SKIP


def test_fast_precisions_fail_when_no_builder_can_be_made(monkeypatch):
    trt = install_trt(monkeypatch)

    def no_builder(logger):
        raise TypeError("pybind11::init(): factory function returned nullptr")
    monkeypatch.setattr(trt, "Builder", no_builder)
    check = machine.check_fast_precisions()
    assert check.status == FAIL and "factory function returned nullptr" in check.detail


# ----------------------------------------------------------------------------- opencv

@pytest.mark.parametrize("gstreamer, jetson, status", [(True, True, PASS), (False, True, FAIL), (False, False, INFO)])
def test_opencv_needs_gstreamer_on_a_jetson(monkeypatch, gstreamer, jetson, status):
    fake_cv2(monkeypatch, gstreamer)
    check = machine.check_opencv(jetson)
    assert check.status == status
    assert check.detail.startswith("OpenCV 4.1.1, GStreamer {}".format("yes" if gstreamer else "no"))
    if status == FAIL:
        assert check.fix == ("a pip opencv-python shadows JetPack's: "
                             "pip3 uninstall opencv-python opencv-python-headless")


def test_opencv_skips_when_missing(monkeypatch):
    no_module(monkeypatch, "cv2")
    check = machine.check_opencv(jetson=True)
    assert (check.status, check.detail) == (SKIP, "OpenCV is not installed")


# ----------------------------------------------------------------------------- cameras and argus

def test_cameras_list_v4l2_devices_in_number_order(tmp_path):
    root = fake_jetson(tmp_path, videos=("video10", "video1", "video0", "video2"))
    check = machine.check_cameras(root)
    assert (check.status, check.detail) == (INFO, "/dev/video0, /dev/video1, /dev/video2, /dev/video10")
    assert machine.check_cameras(str(tmp_path / "empty")).detail == "no V4L2 camera"


@pytest.mark.parametrize("output, code, socket, status, detail", [
    ("active", 0, False, PASS, "nvargus-daemon active"),
    ("inactive", 3, True, FAIL, "nvargus-daemon not running (inactive): CSI cameras will not open"),
    ("failed", 3, True, FAIL, "nvargus-daemon not running (failed): CSI cameras will not open"),
    ("System has not been booted with systemd as init system (PID 1). Can't operate.", 1, True, PASS,
     "Argus socket /tmp/argus_socket present (systemd did not answer)"),
    ("System has not been booted with systemd as init system (PID 1). Can't operate.", 1, False, FAIL,
     "nvargus-daemon not running (systemd did not answer, no /tmp/argus_socket)"),
])
def test_argus_daemon_on_a_jetson(tmp_path, monkeypatch, output, code, socket, status, detail):
    fake_command(tmp_path, monkeypatch, "systemctl", output, code)
    check = machine.check_argus(True, fake_jetson(tmp_path, argus_socket=socket))
    assert (check.name, check.status, check.detail) == ("argus daemon", status, detail)
    assert (check.fix is None) == (status == PASS)
    if status == FAIL:
        assert check.fix.startswith("sudo systemctl restart nvargus-daemon")


def test_argus_without_systemctl_falls_back_to_the_socket(tmp_path, monkeypatch):
    fake_command(tmp_path, monkeypatch, "nvpmodel", "unused", only=True)   # PATH holds no systemctl
    assert machine.check_argus(True, fake_jetson(tmp_path)).status == PASS
    assert machine.check_argus(True, fake_jetson(tmp_path / "b", argus_socket=False)).status == FAIL


def test_argus_skips_off_a_jetson():
    assert machine.check_argus(False).status == SKIP


# ----------------------------------------------------------------------------- power, memory, disk

@pytest.mark.parametrize("output, freqs, detail", [
    ("NVPM WARN: fan mode is not set!\nNV Power Mode: MAXN\n0", ((1479000, 1479000),) * 4,
     "NV Power Mode: MAXN; clocks at max: yes"),
    ("NV Fan Mode:quiet\nNV Power Mode: MODE_15W\n2", ((1479000, 1479000), (102000, 1479000)),
     "NV Power Mode: MODE_15W; clocks at max: no (sudo jetson_clocks for benchmarks)"),
    ("NV Power Mode: 5W\n1", (), "NV Power Mode: 5W; clocks at max: unknown"),
])
def test_power_mode_and_clocks(tmp_path, monkeypatch, output, freqs, detail):
    fake_command(tmp_path, monkeypatch, "nvpmodel", output)
    check = machine.check_power_mode(True, fake_jetson(tmp_path, cpu_freqs=freqs))
    assert (check.status, check.detail) == (INFO, detail)


def test_power_mode_without_nvpmodel_is_unknown(tmp_path, monkeypatch):
    fake_command(tmp_path, monkeypatch, "systemctl", "active", only=True)   # PATH holds no nvpmodel
    check = machine.check_power_mode(True, fake_jetson(tmp_path))
    assert (check.status, check.detail) == (INFO, "power mode unknown (nvpmodel did not answer); clocks at max: yes")
    assert machine.check_power_mode(False).status == SKIP


@pytest.mark.parametrize("jetson, swap_kb, fix", [(True, 0, True), (True, 1982464, False), (False, 0, False)])
def test_memory_tells_a_small_jetson_without_swap_to_add_some(tmp_path, jetson, swap_kb, fix):
    meminfo = NANO_MEMINFO.replace("SwapTotal:             0 kB", "SwapTotal:       {} kB".format(swap_kb))
    check = machine.check_memory(jetson, fake_jetson(tmp_path, meminfo=meminfo))
    assert check.status == INFO
    assert check.detail == "3.8 GiB, 1.2 GiB available, swap {}".format("1.9 GiB" if swap_kb else "0 B")
    assert (check.fix is not None) == fix
    if fix:
        assert "Memory on the 4 GB Nano" in check.fix


def test_memory_skips_without_meminfo(tmp_path):
    assert machine.check_memory(False, str(tmp_path)).status == SKIP


def test_disk(tmp_path, monkeypatch):
    check = machine.check_disk(str(tmp_path))
    assert check.status == INFO and check.detail.endswith("free at {}".format(tmp_path))
    assert machine.check_disk(str(tmp_path / "absent")).status == SKIP
    monkeypatch.setattr(machine.shutil, "disk_usage", lambda path: types.SimpleNamespace(free=100 << 20))
    check = machine.check_disk(str(tmp_path))
    assert (check.status, check.detail) == (FAIL, "100.0 MiB free at {}, less than 500.0 MiB".format(tmp_path))
    assert "written into the bundle" in check.fix


# ----------------------------------------------------------------------------- all together

def test_a_healthy_fake_nano(tmp_path, monkeypatch):
    trt = install_trt(monkeypatch, device="nano", cuda="pycuda")
    fake_cv2(monkeypatch, gstreamer=True)
    fake_command(tmp_path, monkeypatch, "systemctl", "active")
    fake_command(tmp_path, monkeypatch, "nvpmodel", "NV Power Mode: MAXN\n0")
    checks = machine.machine_checks(str(tmp_path), root=fake_jetson(tmp_path))
    assert [(c.name, c.status) for c in checks] == [
        ("l4t release", INFO), ("tensorrt", PASS), ("cuda binding", PASS), ("gpu", PASS), ("fast fp16/int8", INFO),
        ("opencv", PASS), ("cameras", INFO), ("argus daemon", PASS), ("power mode", INFO), ("memory", INFO),
        ("disk", INFO)]
    assert checks[4].detail == "fast FP16 yes, fast INT8 no (INT8 engines build as FP16 here)"
    assert checks[9].fix is not None   # 4 GB and no swap
    assert trt.fake_memory.live() == []
    json.dumps([c.to_dict() for c in checks])


def test_an_r36_jetson_without_tensorrt_or_cuda_fails_those(tmp_path, monkeypatch):
    install_trt(monkeypatch, device="orin", cuda=None, generation="10.3")
    no_module(monkeypatch, "tensorrt")
    fake_cv2(monkeypatch, gstreamer=False)
    checks = {c.name: c for c in machine.machine_checks(str(tmp_path), root=fake_jetson(
        tmp_path, release=R36_4, model="NVIDIA Jetson AGX Orin Developer Kit"))}
    assert checks["l4t release"].detail.startswith("L4T R36.4.0 (JetPack 6.1/6.2")
    assert [checks[name].status for name in ("tensorrt", "cuda binding", "fast fp16/int8", "opencv")] == [
        FAIL, FAIL, SKIP, FAIL]
    assert checks["cuda binding"].fix.startswith("sudo jetson/install.sh, or pip install cuda-python")


def test_importing_the_machine_checks_loads_no_heavy_library():
    from tests import helpers

    heavy = ("torch", "tensorrt", "pycuda", "cuda", "onnxruntime", "onnx", "cv2")
    result = helpers.run_blocked("import edge.doctor.machine\n"
                                 "print(sorted(m for m in sys.modules if m.split('.')[0] in {!r}))".format(heavy),
                                 ())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.skipif(ON_A_JETSON, reason="a real Jetson: test_on_a_real_jetson runs instead")
def test_this_machine_as_it_is_fails_nothing(tmp_path):
    checks = machine.machine_checks(str(tmp_path))
    assert [c.status for c in checks if c.status == FAIL] == [], [c.to_dict() for c in checks]
    assert {c.name: c.status for c in checks}["l4t release"] == SKIP
    json.dumps([c.to_dict() for c in checks])


@pytest.mark.jetson
def test_on_a_real_jetson(tmp_path):
    checks = {c.name: c for c in machine.machine_checks(str(tmp_path))}
    assert checks["l4t release"].status != SKIP
    assert checks["power mode"].status == INFO
    json.dumps([c.to_dict() for c in checks.values()])
