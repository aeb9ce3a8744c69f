"""jetson/install.sh against fake Jetsons: release files and Python probes for JetPack 4.6 and 6.x.

The script reads EDGE_INSTALL_ROOT/etc/nv_tegra_release (and etc/group, usr/local/cuda/version.json
or version.txt) and probes EDGE_PYTHON; here all are fakes, and every run is --dry-run, so these
tests show what it would install or refuse.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.abspath(os.path.join(HERE, "..", ".."))
SCRIPT = os.path.join(CHECKOUT, "jetson", "install.sh")
RELEASES = {
    "jp46": "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022",
    "jp46_r326": "# R32 (release), REVISION: 6.1, GCID: 27863751, BOARD: t210ref, EABI: aarch64, DATE: Mon Jul 26 19:20:30 UTC 2021",
    "jp6": "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: Fri Sep 13 04:36:44 UTC 2024",
    "jp60": "# R36 (release), REVISION: 3.0, GCID: 36191598, BOARD: generic, EABI: aarch64, DATE: Mon May  6 17:34:21 UTC 2024",
    "jp5": "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023",
    "jp45": "# R32 (release), REVISION: 5.1, GCID: 26202423, BOARD: t210ref, EABI: aarch64, DATE: Fri Feb 19 16:45:52 UTC 2021",
}
FULL_46 = {"python": "3.6.9", "numpy": "1.19.4", "cv2": "4.1.1", "cv2_gstreamer": "yes", "tensorrt": "8.2.1.8",
           "pycuda": "2021.1", "yaml": "3.12", "cuda_python": "none", "paho": "1.6.1", "grpc": "1.48.2"}
BARE_46 = dict(FULL_46, numpy="none", cv2="none", cv2_gstreamer="no", tensorrt="none", pycuda="none",
               yaml="none", paho="none", grpc="none")
BARE_6 = {"python": "3.10.12", "numpy": "1.21.5", "cv2": "4.8.0", "cv2_gstreamer": "yes", "tensorrt": "10.3.0",
          "pycuda": "none", "yaml": "5.4.1", "cuda_python": "none", "paho": "none"}


def cuda_json(version):
    """/usr/local/cuda/version.json as CUDA 12 writes it: "cuda" is one of many components, and
    a component listed before it carries another version."""
    return json.dumps({"cuda_cccl": {"name": "CUDA C++ Core Compute Libraries", "version": "99.9.1"},
                       "cuda": {"name": "CUDA SDK", "version": version},
                       "cuda_cudart": {"name": "CUDA Runtime (cudart)", "version": "99.9.2"}}, indent=3)


CUDA_126 = {"usr/local/cuda/version.json": cuda_json("12.6.68")}
CUDA_122 = {"usr/local/cuda/version.json": cuda_json("12.2.140")}
GROUPS_46 = "root:x:0:\nvideo:x:44:alice\n"                 # Ubuntu 18.04: no render group
GROUPS_6 = "root:x:0:\nvideo:x:44:alice\nrender:x:104:\n"  # Ubuntu 22.04 on Orin

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def fake_probe(tmp_path, probe):
    """An EDGE_PYTHON that ignores the probe script and answers with fixed key=value lines."""
    fake_python = tmp_path / "python3"
    answer = "\n".join("{}={}".format(k, v) for k, v in probe.items())
    fake_python.write_text("#!/bin/sh\ncat > /dev/null\ncat <<'EOF'\n{}\nEOF\n".format(answer))
    fake_python.chmod(0o755)
    return str(fake_python)


def run(tmp_path, release, probe, *args, files=None, env=None, script=SCRIPT):
    """Run the script --dry-run on a fake root. `probe`: a dict for fake_probe, or a path to an
    interpreter. `files`: {path under the root: text}. SUDO_USER is alice unless `env` says otherwise."""
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    if release:
        (root / "etc").mkdir(parents=True, exist_ok=True)
        (root / "etc" / "nv_tegra_release").write_text(RELEASES[release] + "\n")
    for path, text in (files or {}).items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    python = probe if isinstance(probe, str) else fake_probe(tmp_path, probe)
    full_env = dict(os.environ, EDGE_INSTALL_ROOT=str(root), EDGE_PYTHON=python, SUDO_USER="alice")
    full_env.update(env or {})
    result = subprocess.run(["bash", script, "--dry-run"] + list(args), env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    return result.returncode, result.stdout, result.stderr


def commands(out):
    return [line[2:] for line in out.splitlines() if line.startswith("+ ")]


def installed_unit(out, name="edge-camera.service"):
    """The unit text the dry run would write: the indented lines after '+ write /etc/systemd/system/NAME'."""
    lines = out.splitlines()
    start = [i for i, line in enumerate(lines) if line.startswith("+ write /etc/systemd/system/" + name)]
    assert start, out
    unit = []
    for line in lines[start[0] + 1:]:
        if not line.startswith("    ") and line.strip():
            break
        unit.append(line[4:])
    return unit


def test_grpcio_is_offered_for_edge_serve_not_installed(tmp_path):
    # Optional: edge-serve serves HTTP only without it; on JetPack 4.6 the last grpcio with cp36 aarch64 wheels.
    code, out, err = run(tmp_path, "jp46", dict(FULL_46, grpc="none"))
    assert code == 0, err
    assert "all present, nothing to install" in out and "grpcio==1.48.2 'protobuf<3.20'" in out
    code, out, err = run(tmp_path, "jp6", BARE_6, files=CUDA_126)
    assert code == 0, err
    assert "python3 -m pip install grpcio protobuf" in out and "1.48.2" not in out


def test_jetpack46_with_everything_installs_only_the_runtime(tmp_path):
    code, out, err = run(tmp_path, "jp46", FULL_46)
    assert code == 0, err
    assert "L4T R32.7.1, JetPack 4.6.1+: TensorRT 8.2.1" in out and "all present, nothing to install" in out
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
    code, out, err = run(tmp_path, "jp6", BARE_6, files=CUDA_126)
    assert code == 0, err
    assert "JetPack 6" in out and "cuda-python>=12.6,<12.7" in out and "paho-mqtt<2" not in out
    assert "pycuda" not in [line for line in out.splitlines() if line.startswith("+")][0]


# --- 1. L4T R32.6.1 ships TensorRT 8.0.1, R32.7.x ships 8.2.1 -------------------------------------

def test_r32_6_is_refused_in_one_line_naming_the_upgrade(tmp_path):
    code, out, err = run(tmp_path, "jp46_r326", FULL_46)
    assert code == 2 and err.count("\n") == 1, err
    assert "R32.6.1" in err and "TensorRT 8.0.1" in err and "R32.7 (JetPack 4.6.1+)" in err and "--force" in err
    assert "+ " not in out


def test_r32_6_with_force_installs_and_says_what_it_is(tmp_path):
    code, out, err = run(tmp_path, "jp46_r326", FULL_46, "--force")
    assert code == 0, err
    assert "L4T R32.6.1, JetPack 4.6: TensorRT 8.0.1" in out
    assert "warning: L4T R32.6.1 ships TensorRT 8.0.1" in out and "R32.7 (JetPack 4.6.1+)" in out


def test_header_and_readme_say_which_jetpack_46_ships_tensorrt_82():
    with open(SCRIPT) as handle:
        header = handle.read().split("set -euo pipefail")[0]
    assert "R32.6/R32.7" not in header and "R32.7" in header and "TensorRT 8.2.1" in header
    assert "TensorRT 8.0.1" in header
    with open(os.path.join(CHECKOUT, "jetson", "README.md")) as handle:
        readme = handle.read()
    assert "R32.6/R32.7" not in readme and "JetPack 4.6.1+ (R32.7.x)" in readme and "TensorRT 8.0.1" in readme


# --- 2. JetPack 6.0 is TensorRT 8.6.2 / CUDA 12.2, 6.1/6.2 are 10.3 / 12.6 --------------------------

@pytest.mark.parametrize("release, files, pin, release_text", [
    ("jp60", CUDA_122, "cuda-python>=12.2,<12.3", "L4T R36.3.0, JetPack 6.0: TensorRT 8.6.2, CUDA 12.2"),
    ("jp6", CUDA_126, "cuda-python>=12.6,<12.7", "L4T R36.4.0, JetPack 6.1/6.2: TensorRT 10.3, CUDA 12.6"),
    # version.txt when there is no version.json
    ("jp60", {"usr/local/cuda/version.txt": "CUDA Version 12.2.140\n"}, "cuda-python>=12.2,<12.3", "JetPack 6.0"),
    # A JetPack 6 whose CUDA was upgraded: the pin follows the CUDA found, not the release.
    ("jp6", {"usr/local/cuda/version.json": cuda_json("12.8.93")}, "cuda-python>=12.8,<12.9", "JetPack 6.1/6.2"),
])
def test_cuda_python_is_pinned_to_the_cuda_on_the_machine(tmp_path, release, files, pin, release_text):
    code, out, err = run(tmp_path, release, BARE_6, files=files)
    assert code == 0, err
    assert release_text in out
    pip = [line for line in commands(out) if "cuda-python" in line]
    assert len(pip) == 1 and pip[0].endswith(pin), pip


def test_jetpack6_without_cuda_is_refused_in_one_line(tmp_path):
    code, out, err = run(tmp_path, "jp6", BARE_6)
    assert code == 2 and err.count("\n") == 1, err
    assert "version.json" in err and "version.txt" in err and "nvidia-jetpack" in err
    assert "+ " not in out


def test_nothing_claims_jetpack6_is_tensorrt_103_unconditionally():
    with open(SCRIPT) as handle:
        script = handle.read()
    assert "12.6,<12.7" not in script and "TensorRT 8.6.2" in script and "CUDA 12.2" in script
    with open(os.path.join(CHECKOUT, "jetson", "README.md")) as handle:
        readme = handle.read()
    assert "JetPack 6.x: Python 3.10, TensorRT 10.3" not in readme
    assert "JetPack 6.0 (R36.2/R36.3)" in readme and "TensorRT 8.6.2, CUDA 12.2" in readme


# --- 3. The GStreamer probe reads OpenCV 3.x's build information through edge.sources.gstreamer ----

OPENCV3_GSTREAMER = """
  Video I/O:
    DC1394 1.x:                  NO
    DC1394 2.x:                  YES (ver 2.2.5)
    FFMPEG:                      YES
      avcodec:                   YES (ver 57.107.100)
      avformat:                  YES (ver 57.83.100)
    GStreamer:                   
      base:                      YES (ver 1.14.1)
      video:                     YES (ver 1.14.1)
      app:                       YES (ver 1.14.1)
      riff:                      YES (ver 1.14.1)
      pbutils:                   YES (ver 1.14.1)
    OpenNI:                      NO
"""
OPENCV3_NO_GSTREAMER = OPENCV3_GSTREAMER.replace("YES (ver 1.14.1)", "NO")
OPENCV4_GSTREAMER = """
  Video I/O:
    FFMPEG:                      YES
      avcodec:                   YES (58.54.100)
    GStreamer:                   YES (1.14.5)
    v4l/v4l2:                    YES (linux/videodev2.h)
"""
OPENCV4_PIP = OPENCV4_GSTREAMER.replace("GStreamer:                   YES (1.14.5)",
                                        "GStreamer:                   NO")


def real_python_probe(tmp_path, build_information, cv2_version="3.2.0", reported_python="3.6.9"):
    """An EDGE_PYTHON that is this real interpreter running the script's probe, with a fake cv2
    (on PYTHONPATH) whose getBuildInformation() returns `build_information`. -S keeps site-packages
    (and an editable install of this project) out, so only the fake cv2 and the checkout the script
    names are importable; the Python version line is rewritten to JetPack's."""
    package = tmp_path / "fake_site" / "cv2"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "__version__ = {!r}\nINFO = {!r}\n\ndef getBuildInformation():\n    return INFO\n".format(
            cv2_version, build_information))
    wrapper = tmp_path / "python3-probe"
    wrapper.write_text("#!/bin/sh\nPYTHONPATH='{}' '{}' -S \"$@\" | sed 's/^python=.*/python={}/'\n".format(
        tmp_path / "fake_site", sys.executable, reported_python))
    wrapper.chmod(0o755)
    return str(wrapper)


@pytest.mark.parametrize("information, expected", [
    (OPENCV3_GSTREAMER, "yes"), (OPENCV3_NO_GSTREAMER, "no"), (OPENCV4_GSTREAMER, "yes"), (OPENCV4_PIP, "no"),
])
def test_gstreamer_probe_reads_opencv3_and_opencv4_build_information(tmp_path, information, expected):
    """The real probe, the real edge.sources.gstreamer of this checkout, a fake cv2."""
    code, out, err = run(tmp_path, "jp46", real_python_probe(tmp_path, information))
    assert code == 0, err
    assert "opencv         3.2.0 (GStreamer: {})".format(expected) in out
    assert ("has no GStreamer" in out) == (expected == "no")


def staged_checkout(tmp_path, gstreamer_module):
    """A copy of jetson/ in a checkout of its own whose edge/ is only `gstreamer_module` (None: no edge/)."""
    checkout = tmp_path / "checkout"
    shutil.copytree(os.path.join(CHECKOUT, "jetson"), str(checkout / "jetson"))
    if gstreamer_module is not None:
        (checkout / "edge" / "sources").mkdir(parents=True)
        (checkout / "edge" / "__init__.py").write_text("")
        (checkout / "edge" / "sources" / "__init__.py").write_text("")
        (checkout / "edge" / "sources" / "gstreamer.py").write_text(gstreamer_module)
    return str(checkout / "jetson" / "install.sh")


def test_gstreamer_probe_asks_the_checkout_being_installed(tmp_path):
    """The rule lives in edge.sources.gstreamer of the checkout the script comes from (SOURCE_DIR)."""
    script = staged_checkout(tmp_path, "def gstreamer_in_build_information(text):\n"
                                       "    return 'STUB-MARKER' in text\n")
    code, out, err = run(tmp_path, "jp46", real_python_probe(tmp_path, "Video I/O:\n  STUB-MARKER\n"), script=script)
    assert code == 0, err
    assert "(GStreamer: yes)" in out and "has no GStreamer" not in out


def test_gstreamer_probe_says_no_when_the_checkout_cannot_be_imported(tmp_path):
    script = staged_checkout(tmp_path, None)
    code, out, err = run(tmp_path, "jp46", real_python_probe(tmp_path, OPENCV4_GSTREAMER), script=script)
    assert code == 0, err
    assert "(GStreamer: no)" in out and "has no GStreamer" in out


def test_pip_opencv_without_gstreamer_is_warned_about_not_replaced(tmp_path):
    code, out, _ = run(tmp_path, "jp46", dict(FULL_46, cv2="4.9.0", cv2_gstreamer="no",
                                               cv2_path="/usr/local/lib/python3.6/dist-packages/cv2/__init__.py"))
    assert code == 0
    assert "warning: OpenCV at /usr/local/lib/python3.6/dist-packages/cv2" in out and "no GStreamer" in out
    assert "nvidia-opencv" not in out


# --- 5. render where it exists -------------------------------------------------------------------

def test_service_user_and_unit_get_render_where_the_group_exists(tmp_path):
    code, out, err = run(tmp_path, "jp6", BARE_6, "--service", "--user", "camera",
                         files=dict(CUDA_126, **{"etc/group": GROUPS_6}))
    assert code == 0, err
    assert "--groups video,render camera" in out
    unit = installed_unit(out)
    assert "SupplementaryGroups=video render" in unit and "User=camera" in unit and "Group=video" in unit
    # alice is in video already; she is added to render only.
    assert "usermod -a -G render alice" in commands(out)


def test_no_render_group_no_render_anywhere(tmp_path):
    code, out, err = run(tmp_path, "jp46", FULL_46, "--service", files={"etc/group": GROUPS_46})
    assert code == 0, err
    assert "--groups video edge" in out
    unit = installed_unit(out)
    assert "SupplementaryGroups=video" in unit
    assert not any("render" in line for line in unit if not line.startswith("#"))
    assert not any("render" in command for command in commands(out))
    assert "(no render group here)" in out


# --- 6. /var/lib/edge-toolkit: root:video 2775, always, and the login user in video -------------

DATA_DIR_COMMAND = "install -d -o root -g video -m 2775 /var/lib/edge-toolkit /var/lib/edge-toolkit/bundle"


def test_data_folder_is_group_writable_setgid_video_without_service(tmp_path):
    code, out, err = run(tmp_path, "jp46", FULL_46, env={"SUDO_USER": "bob"}, files={"etc/group": GROUPS_46})
    assert code == 0, err
    assert DATA_DIR_COMMAND in commands(out)
    assert "usermod -a -G video bob" in commands(out)
    assert "warning: bob was added to video" in out and "log out and in again" in out


def test_login_user_already_in_video_is_left_alone(tmp_path):
    code, out, err = run(tmp_path, "jp46", FULL_46, files={"etc/group": GROUPS_46})
    assert code == 0, err
    assert DATA_DIR_COMMAND in commands(out)
    assert not any(command.startswith("usermod") for command in commands(out))


def test_the_service_does_not_take_the_data_folder_over(tmp_path):
    code, out, err = run(tmp_path, "jp46", FULL_46, "--service", "--user", "camera", env={"SUDO_USER": "root"})
    assert code == 0, err
    cmds = commands(out)
    assert DATA_DIR_COMMAND in cmds
    assert not any(command.startswith("install -d -o camera") for command in cmds)
    useradd = [command for command in cmds if command.startswith("useradd")][0]
    assert "--no-create-home" in useradd and "--home-dir /var/lib/edge-toolkit" in useradd
    assert cmds.index(DATA_DIR_COMMAND) < cmds.index(useradd)
    assert not any(command.startswith("usermod") for command in cmds)  # root is nobody's login user


def test_readme_explains_the_data_folder_the_script_makes():
    with open(os.path.join(CHECKOUT, "jetson", "README.md")) as handle:
        readme = handle.read()
    assert "2775" in readme and "setgid" in readme and "group `video`" in readme
    # Copying into the folder the script made, not over it (scp -r DIR EXISTING makes EXISTING/DIR).
    assert "scp -r desktop:project/bundle /var/lib/edge-toolkit/bundle\n" not in readme
    assert "/var/lib/edge-toolkit/bundle/" in readme


# --- 7. The device gets edge/ only ----------------------------------------------------------------

def test_device_install_copies_edge_only_and_edge_export_is_edge_export(tmp_path):
    code, out, err = run(tmp_path, "jp46", FULL_46)
    assert code == 0, err
    copies = [command for command in commands(out) if command.startswith("cp ")]
    assert copies == ["cp -r {}/edge /opt/edge-toolkit/lib.new/".format(CHECKOUT)]
    assert "+ write /usr/local/bin/edge-export (PYTHONPATH=/opt/edge-toolkit/lib python3 -m edge.export)" in out
    modules = [line.rsplit(" -m ", 1)[1].rstrip(")") for line in commands(out) if line.startswith("write /usr/local/bin/")]
    assert len(modules) == 7 and all(module.startswith("edge.") for module in modules)
    assert "+ write /usr/local/bin/edge-doctor (PYTHONPATH=/opt/edge-toolkit/lib python3 -m edge.doctor.cli)" in out
    for module in modules:  # every wrapper runs a module that the copied edge/ has
        assert os.path.isfile(os.path.join(CHECKOUT, *module.split(".")) + ".py"), module


# --- refusals, options, service removal, lint ---------------------------------------------------

@pytest.mark.parametrize("release, probe, message", [
    (None, FULL_46, "not a Jetson"),
    ("jp45", FULL_46, "JetPack 4.5 or older"),
    ("jp46_r326", FULL_46, "upgrade to L4T R32.7"),
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


def test_help_prints_the_header(tmp_path):
    code, out, _ = run(tmp_path, "jp46", FULL_46, "--help")
    assert code == 0 and out.startswith("Install the Jetson Edge Toolkit") and "EDGE_PYTHON" in out
    assert "set -euo" not in out


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


def test_the_install_ends_with_edge_doctor(tmp_path):
    """The last thing the install does is check the machine (and a bundle already in place)."""
    code, out, err = run(tmp_path, "jp46", FULL_46)
    assert code == 0, err
    assert out.rstrip().splitlines()[-1] == "+ PYTHONPATH=/opt/edge-toolkit/lib python3 -m edge.doctor.cli"


# --- 8. edge-serve: its wrapper always, its service with --serve-service ------------------------

def test_edge_serve_wrapper_is_installed_like_the_others(tmp_path):
    code, out, err = run(tmp_path, "jp46", FULL_46)
    assert code == 0, err
    assert "+ write /usr/local/bin/edge-serve (PYTHONPATH=/opt/edge-toolkit/lib python3 -m edge.serve.cli)" in out
    # The module the wrapper runs is the one pyproject's edge-serve entry point names, and it runs as __main__.
    with open(os.path.join(CHECKOUT, "pyproject.toml")) as handle:
        assert 'edge-serve = "edge.serve.cli:main"' in handle.read()
    with open(os.path.join(CHECKOUT, "edge", "serve", "cli.py")) as handle:
        assert 'if __name__ == "__main__":' in handle.read()


def test_edge_serve_wrapper_really_runs_edge_serve(tmp_path):
    """The wrapper the script writes (same printf) runs `edge-serve --help` from a copied edge/."""
    prefix = tmp_path / "prefix"
    shutil.copytree(os.path.join(CHECKOUT, "edge"), str(prefix / "lib" / "edge"))
    wrapper = tmp_path / "edge-serve"
    written = "printf '#!/bin/sh\\nPYTHONPATH=%s/lib${PYTHONPATH:+:$PYTHONPATH} exec python3 -m %s \"$@\"\\n'"
    with open(SCRIPT) as handle:
        assert written in handle.read()
    # The same text, with this interpreter for python3.
    text = '#!/bin/sh\nPYTHONPATH={}/lib${{PYTHONPATH:+:$PYTHONPATH}} exec "{}" -m edge.serve.cli "$@"\n'
    wrapper.write_text(text.format(prefix, sys.executable))
    wrapper.chmod(0o755)
    result = subprocess.run([str(wrapper), "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=120, cwd=str(tmp_path),
                            env=dict(os.environ, PYTHONPATH=""))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: edge-serve") and "--token-file" in result.stdout


@pytest.mark.parametrize("options", [(), ("--service",)])
def test_no_serve_service_unless_asked(tmp_path, options):
    code, out, err = run(tmp_path, "jp46", FULL_46, *options)
    assert code == 0, err
    assert "edge-serve.service" not in out and "edge-serve.env" not in out


def test_serve_service_installs_its_config_unit_and_enables_it(tmp_path):
    code, out, err = run(tmp_path, "jp46", FULL_46, "--serve-service", files={"etc/group": GROUPS_46})
    assert code == 0, err
    cmds = commands(out)
    assert "install -D -m 644 {}/jetson/edge-serve.env /etc/edge-toolkit/edge-serve.env".format(CHECKOUT) in cmds
    unit = installed_unit(out, "edge-serve.service")
    assert "ExecStart=/usr/bin/python3 -m edge.serve.cli $EDGE_SERVE_BUNDLE $EDGE_SERVE_OPTIONS" in unit
    assert "EnvironmentFile=/etc/edge-toolkit/edge-serve.env" in unit and "User=edge" in unit
    assert "useradd --system --no-create-home --home-dir /var/lib/edge-toolkit --shell /usr/sbin/nologin " \
           "--groups video edge" in cmds
    # No bundle yet: enabled for the next boot, not started (it would stop at once, exit 2).
    assert "systemctl enable edge-serve.service" in cmds and "systemctl enable --now edge-serve.service" not in cmds
    assert "warning: edge-serve.service is enabled but not started" in out and "systemctl start edge-serve" in out
    assert cmds.index("systemctl daemon-reload") < cmds.index("systemctl enable edge-serve.service")
    assert "edge-camera.service" not in out   # the camera service is its own option
    assert DATA_DIR_COMMAND in cmds and cmds.index(DATA_DIR_COMMAND) < cmds.index("systemctl enable edge-serve.service")


def test_serve_service_starts_now_when_a_bundle_is_in_place(tmp_path):
    code, out, err = run(tmp_path, "jp46", FULL_46, "--serve-service",
                         files={"var/lib/edge-toolkit/bundle/manifest.json": "{}"})
    assert code == 0, err
    assert "systemctl enable --now edge-serve.service" in commands(out)
    assert "enabled but not started" not in out


def test_serve_service_keeps_an_existing_config(tmp_path):
    code, out, err = run(tmp_path, "jp46", FULL_46, "--serve-service",
                         files={"etc/edge-toolkit/edge-serve.env": 'EDGE_SERVE_OPTIONS="--host 0.0.0.0"\n'})
    assert code == 0, err
    assert "keeping the existing /etc/edge-toolkit/edge-serve.env" in out
    assert not any("edge-serve.env" in command for command in commands(out))


def test_both_services_share_one_user_and_render_where_it_exists(tmp_path):
    code, out, err = run(tmp_path, "jp6", BARE_6, "--service", "--serve-service", "--user", "camera",
                         "--prefix", "/opt/et", files=dict(CUDA_126, **{"etc/group": GROUPS_6}))
    assert code == 0, err
    cmds = commands(out)
    assert len([command for command in cmds if command.startswith(("useradd", "usermod -a -G video,render"))]) == 1
    for name in ("edge-camera.service", "edge-serve.service"):
        unit = installed_unit(out, name)
        assert "SupplementaryGroups=video render" in unit and "User=camera" in unit and "Group=video" in unit
        assert "Environment=PYTHONPATH=/opt/et/lib" in unit and not any("/opt/edge-toolkit" in line for line in unit)
    assert "systemctl enable --now edge-camera.service" in cmds and "systemctl enable edge-serve.service" in cmds


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_installed_serve_unit_passes_systemd_analyze_verify(tmp_path):
    """The unit as the script would write it (user, prefix and groups filled in), not only the template."""
    code, out, err = run(tmp_path, "jp6", BARE_6, "--serve-service", "--user", "camera", "--prefix", "/opt/et",
                         files=dict(CUDA_126, **{"etc/group": GROUPS_6}))
    assert code == 0, err
    path = tmp_path / "edge-serve.service"
    path.write_text("\n".join(installed_unit(out, "edge-serve.service")) + "\n")
    result = subprocess.run(["systemd-analyze", "verify", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, universal_newlines=True, timeout=60)
    assert result.returncode == 0 and str(path) not in result.stdout, result.stdout


def test_uninstall_serve_service(tmp_path):
    code, out, _ = run(tmp_path, "jp6", BARE_6, "--uninstall-serve-service")
    cmds = commands(out)
    assert code == 0 and cmds == ["systemctl disable --now edge-serve.service",
                                  "rm -f /etc/systemd/system/edge-serve.service", "systemctl daemon-reload"]
    code, out, _ = run(tmp_path, "jp6", BARE_6, "--uninstall-service", "--uninstall-serve-service")
    assert code == 0 and "systemctl disable --now edge-camera.service" in out
    assert "systemctl disable --now edge-serve.service" in out and "apt-get" not in out


def test_help_and_readme_describe_the_serve_service(tmp_path):
    code, out, _ = run(tmp_path, "jp46", FULL_46, "--help")
    assert code == 0 and "--serve-service" in out and "--uninstall-serve-service" in out and "127.0.0.1:8000" in out
    with open(os.path.join(CHECKOUT, "jetson", "README.md")) as handle:
        readme = handle.read()
    for claim in ("sudo jetson/install.sh --serve-service", "/etc/edge-toolkit/edge-serve.env", "edge-serve.service",
                  "--token-file", "127.0.0.1:8000", "journalctl -u edge-serve"):
        assert claim in readme, claim
