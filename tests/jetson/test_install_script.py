"""jetson/install.sh against fake Jetsons: release files and Python probes for JetPack 4.6 and 6.x.

The script reads EDGE_INSTALL_ROOT/etc/nv_tegra_release and probes EDGE_PYTHON; here both are
fakes, and every run is --dry-run, so these tests show what it would install or refuse.
"""

import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "jetson", "install.sh")
RELEASES = {
    "jp46": "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022",
    "jp6": "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: Fri Sep 13 04:36:44 UTC 2024",
    "jp5": "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023",
    "jp45": "# R32 (release), REVISION: 5.1, GCID: 26202423, BOARD: t210ref, EABI: aarch64, DATE: Fri Feb 19 16:45:52 UTC 2021",
}
FULL_46 = {"python": "3.6.9", "numpy": "1.19.4", "cv2": "4.1.1", "cv2_gstreamer": "yes", "tensorrt": "8.2.1.8",
           "pycuda": "2021.1", "yaml": "3.12", "cuda_python": "none", "paho": "1.6.1"}
BARE_46 = dict(FULL_46, numpy="none", cv2="none", cv2_gstreamer="no", tensorrt="none", pycuda="none",
               yaml="none", paho="none")
BARE_6 = {"python": "3.10.12", "numpy": "1.21.5", "cv2": "4.8.0", "cv2_gstreamer": "yes", "tensorrt": "10.3.0",
          "pycuda": "none", "yaml": "5.4.1", "cuda_python": "none", "paho": "none"}

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def run(tmp_path, release, probe, *args):
    root = tmp_path / "root"
    if release:
        (root / "etc").mkdir(parents=True, exist_ok=True)
        (root / "etc" / "nv_tegra_release").write_text(RELEASES[release] + "\n")
    fake_python = tmp_path / "python3"
    answer = "\n".join("{}={}".format(k, v) for k, v in probe.items())
    fake_python.write_text("#!/bin/sh\ncat > /dev/null\ncat <<'EOF'\n{}\nEOF\n".format(answer))
    fake_python.chmod(0o755)
    env = dict(os.environ, EDGE_INSTALL_ROOT=str(root), EDGE_PYTHON=str(fake_python))
    result = subprocess.run(["bash", SCRIPT, "--dry-run"] + list(args), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    return result.returncode, result.stdout, result.stderr


def test_jetpack46_with_everything_installs_only_the_runtime(tmp_path):
    code, out, err = run(tmp_path, "jp46", FULL_46)
    assert code == 0, err
    assert "L4T R32.7.1, JetPack 4.6" in out and "all present, nothing to install" in out
    assert "apt-get" not in out and "pip install" not in out
    assert "+ cp -r" in out and "python3 -m edge.camera" in out
    assert "systemctl" not in out  # no service unless asked


def test_jetpack46_bare_installs_jetpack_packages_and_builds_pycuda(tmp_path):
    code, out, err = run(tmp_path, "jp46", BARE_46, "--service", "--user", "camera")
    assert code == 0, err
    apt = [line for line in out.splitlines() if line.startswith("+ apt-get install")][0]
    for package in ("python3-numpy", "python3-yaml", "python3-libnvinfer", "nvidia-opencv", "python3-dev"):
        assert package in apt
    assert "pycuda==2021.1" in out and "CPATH=/usr/local/cuda/include" in out
    assert "paho-mqtt<2" in out
    # Never a pip OpenCV, TensorRT or numpy over JetPack's.
    pip_lines = [line for line in out.splitlines() if "pip install" in line]
    assert not any(name in line for line in pip_lines for name in ("opencv", "tensorrt", "numpy"))
    assert "useradd" in out and "--groups video camera" in out
    assert "systemctl enable --now edge-camera.service" in out and "User=camera" in out
    assert out.index("apt-get update") < out.index("apt-get install") < out.index("pycuda")


def test_jetpack6_uses_cuda_python_and_paho2(tmp_path):
    code, out, err = run(tmp_path, "jp6", BARE_6)
    assert code == 0, err
    assert "JetPack 6" in out and "cuda-python>=12.6,<12.7" in out and "paho-mqtt<2" not in out
    assert "pycuda" not in [line for line in out.splitlines() if line.startswith("+")][0]


def test_pip_opencv_without_gstreamer_is_warned_about_not_replaced(tmp_path):
    code, out, _ = run(tmp_path, "jp46", dict(FULL_46, cv2="4.9.0", cv2_gstreamer="no",
                                               cv2_path="/usr/local/lib/python3.6/dist-packages/cv2/__init__.py"))
    assert code == 0
    assert "warning: OpenCV at /usr/local/lib/python3.6/dist-packages/cv2" in out and "no GStreamer" in out
    assert "nvidia-opencv" not in out


@pytest.mark.parametrize("release, probe, message", [
    (None, FULL_46, "not a Jetson"),
    ("jp45", FULL_46, "JetPack 4.5 or older"),
    ("jp5", FULL_46, "pass --force"),
    ("jp46", dict(FULL_46, python="3.8.10"), "comes with Python 3.6"),
])
def test_refusals_are_one_clear_line(tmp_path, release, probe, message):
    code, out, err = run(tmp_path, release, probe)
    assert code == 2 and message in err and err.count("\n") == 1
    assert "+ " not in out  # nothing was planned


def test_not_a_jetson_points_to_the_desktop_install(tmp_path):
    _, _, err = run(tmp_path, None, FULL_46)
    assert "make setup" in err


def test_bad_options(tmp_path):
    assert run(tmp_path, "jp46", FULL_46, "--user", "bad name;rm")[0] == 2
    assert run(tmp_path, "jp46", FULL_46, "--prefix", "relative/dir")[0] == 2
    assert run(tmp_path, "jp46", FULL_46, "--bogus")[0] == 2


def test_uninstall_service(tmp_path):
    code, out, _ = run(tmp_path, "jp6", BARE_6, "--uninstall-service")
    assert code == 0 and "systemctl disable --now edge-camera.service" in out and "apt-get" not in out


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (apt install shellcheck)")
def test_shellcheck_clean():
    result = subprocess.run(["shellcheck", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    assert result.returncode == 0, result.stdout


def test_bash_syntax():
    assert subprocess.run(["bash", "-n", SCRIPT]).returncode == 0
