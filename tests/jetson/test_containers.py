"""The Jetson Dockerfiles and the container section of jetson/README.md, read as text.

Nothing here can run docker or reach NVIDIA's registry: these tests check what the files claim and
install, and that every RUN is valid POSIX shell (Docker runs it with /bin/sh).
"""

import json
import os
import re
import shutil
import subprocess

import pytest

JETSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "jetson")
DOCKERFILES = ("Dockerfile.jetpack46", "Dockerfile.jetpack6")


def read(name):
    with open(os.path.join(JETSON, name)) as handle:
        return handle.read()


def instructions(name):
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    joined, pending = [], ""
    for line in read(name).splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return [tuple(entry.split(None, 1)) for entry in joined]


def header(name):
    return "\n".join(line for line in read(name).splitlines() if line.startswith("#"))


@pytest.mark.parametrize("name", DOCKERFILES)
def test_images_copy_edge_only(name):
    copies = [arguments for instruction, arguments in instructions(name) if instruction == "COPY"]
    assert copies == ["edge /opt/edge-toolkit/lib/edge"]
    assert instructions(name)[-1] == ("ENTRYPOINT", '["python3", "-m", "edge.camera"]')


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs sh")
@pytest.mark.parametrize("name", DOCKERFILES)
def test_run_steps_are_valid_posix_shell(name):
    for instruction, arguments in instructions(name):
        if instruction == "RUN":
            result = subprocess.run(["sh", "-n", "-c", arguments], stderr=subprocess.PIPE, universal_newlines=True)
            assert result.returncode == 0, (arguments, result.stderr)


def test_jetpack46_opencv_is_l4ts_not_ubuntus():
    runs = " ".join(arguments for instruction, arguments in instructions("Dockerfile.jetpack46") if instruction == "RUN")
    assert "python3-opencv" not in runs and "pip install" in runs and "opencv" not in runs.split("pip install")[1]
    # L4T's OpenCV 4.1.1 python3.6 module (libopencv-python, which pulls libopencv), as jetson-containers'
    # Dockerfile.ml installed it on l4t-base r32: on R32.7 OpenCV is not mounted from the host.
    assert re.search(r"apt-get install [^&]*\blibopencv-python\b", runs)
    # It comes from NVIDIA's L4T repository for R32.7, signed with its key.
    assert "https://repo.download.nvidia.com/jetson/common r32.7 main" in runs
    adds = [arguments for instruction, arguments in instructions("Dockerfile.jetpack46") if instruction == "ADD"]
    assert adds == ["https://repo.download.nvidia.com/jetson/jetson-ota-public.asc "
                    "/etc/apt/trusted.gpg.d/jetson-ota-public.asc"]
    assert runs.index("nvidia-l4t-apt-source.list") < runs.index("libopencv-python")


def test_jetpack46_header_names_the_release_and_the_build_time_runtime():
    text = header("Dockerfile.jetpack46")
    assert "R32.7" in text and "TensorRT 8.2.1" in text and "8.0.1" in text
    assert '"default-runtime": "nvidia"' in text and "/etc/docker/daemon.json" in text
    assert "sudo systemctl restart docker" in text


def test_jetpack6_base_tag_is_a_choice_and_cuda_python_follows_the_image():
    steps = instructions("Dockerfile.jetpack6")
    assert steps[0] == ("ARG", "L4T_TAG=r36.4.0") and steps[1] == ("FROM", "nvcr.io/nvidia/l4t-jetpack:${L4T_TAG}")
    runs = " ".join(arguments for instruction, arguments in steps if instruction == "RUN")
    assert "/usr/local/cuda/version.json" in runs and "12.6" not in runs
    text = header("Dockerfile.jetpack6")
    for claim in ("r36.4.0", "r36.3.0", "TensorRT 10.3, CUDA 12.6", "TensorRT 8.6.2, CUDA 12.2", "Orin"):
        assert claim in text


def test_readme_gives_the_default_runtime_json_and_the_restart():
    readme = read("README.md")
    blocks = re.findall(r"```json\n(.*?)```", readme, re.S)
    configs = [json.loads(block) for block in blocks]
    assert any(config.get("default-runtime") == "nvidia"
               and config["runtimes"]["nvidia"]["path"] == "nvidia-container-runtime" for config in configs)
    assert "/etc/docker/daemon.json" in readme and "sudo systemctl restart docker" in readme
    assert "python3-opencv" in readme and "nvidia-opencv" in readme  # says which OpenCV and why


# --- The bases: what each FROM gives, with its source ----------------------------------------------
#
# What each base image is, as established from public sources (jetson/README.md, "Container bases"):
#   l4t-base:r32.7.1             Ubuntu 18.04, python3 3.6; CUDA/cuDNN/TensorRT mounted from the R32
#                                host by the NVIDIA runtime (cuda.csv, cudnn.csv, tensorrt.csv); no OpenCV.
#                                dusty-nv/jetson-containers jetson_containers/l4t_version.py (get_l4t_base,
#                                get_lsb_release, DEFAULT_PYTHON_VERSIONS); dusty-nv/jetson-containers#77, #179.
#   l4t-tensorrt:r8.2.1-runtime  Ubuntu 20.04, python3 3.8 (Dockerfiles built FROM it add python3.8-dev,
#                                cp38 wheels and focal's llvm-10): not a Python 3.6 base.
#   l4t-jetpack:r36.x            Ubuntu 22.04, python3 3.10, CUDA and TensorRT inside the image.
BASES = {
    "nvcr.io/nvidia/l4t-base:r32.7.1": {"ubuntu": "18.04", "python": "3.6", "l4t": "32.7.1"},
    "nvcr.io/nvidia/l4t-tensorrt:r8.2.1-runtime": {"ubuntu": "20.04", "python": "3.8", "l4t": None},
    "nvcr.io/nvidia/l4t-jetpack:${L4T_TAG}": {"ubuntu": "22.04", "python": "3.10", "l4t": "36"},
}
PROMISES = {"Dockerfile.jetpack46": {"ubuntu": "18.04", "python": "3.6"},
            "Dockerfile.jetpack6": {"ubuntu": "22.04", "python": "3.10"}}


def from_lines(name):
    """(line number, image) of every FROM, on the raw text."""
    lines = read(name).splitlines()
    return [(number, line.split(None, 1)[1].split()[0]) for number, line in enumerate(lines)
            if line.startswith("FROM ")]


def comment_above(name, number):
    """The comment block right above line `number` (no blank line in between)."""
    lines = read(name).splitlines()
    block = []
    for line in reversed(lines[:number]):
        if not line.startswith("#"):
            break
        block.insert(0, line)
    return "\n".join(block)


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_from_names_its_source_right_above_it(name):
    froms = from_lines(name)
    assert froms
    for number, image in froms:
        comment = comment_above(name, number)
        assert "Source:" in comment, (name, image)
        # A repository and the file in it, with the commit the fact was read at.
        assert "dusty-nv/jetson-containers" in comment and "jetson_containers/l4t_version.py" in comment, comment
        assert re.search(r"\b[0-9a-f]{8,40}\b", comment), comment


@pytest.mark.parametrize("name", DOCKERFILES)
def test_each_base_gives_the_os_and_python_the_image_promises(name):
    (_, image), = from_lines(name)
    assert image in BASES, image
    facts = BASES[image]
    assert (facts["ubuntu"], facts["python"]) == (PROMISES[name]["ubuntu"], PROMISES[name]["python"])
    text = header(name) + "\n" + comment_above(name, from_lines(name)[0][0])
    assert "Ubuntu " + facts["ubuntu"] in text and "Python " + facts["python"] in text


def test_jetpack46_base_is_l4t_base_r32_7_1_never_an_ubuntu_20_04_image():
    (_, image), = from_lines("Dockerfile.jetpack46")
    assert image == "nvcr.io/nvidia/l4t-base:r32.7.1"
    assert BASES[image]["ubuntu"] == "18.04" and BASES[image]["python"] == "3.6"
    assert BASES[image]["ubuntu"] != "20.04"
    text = read("Dockerfile.jetpack46")
    # The one that looked right and is not: said so, and not used.
    assert "FROM nvcr.io/nvidia/l4t-tensorrt" not in text
    assert "l4t-tensorrt:" in text and "Ubuntu 20.04 with Python 3.8" in text


def test_jetpack46_asks_for_every_csv_mount_and_builds_pycuda_against_the_mounted_cuda():
    steps = instructions("Dockerfile.jetpack46")
    kinds = [instruction for instruction, _ in steps]
    envs = [arguments for instruction, arguments in steps if instruction == "ENV"]
    # libnvidia-container 0.11.0+jetpack mounts only l4t/devices/drivers.csv unless asked
    # (NVIDIA/nvidia-container-runtime#173); the ENV is set before the RUN that needs CUDA.
    # The toolkit's CSV mode mounts nothing for an image that asks for no device.
    assert envs[0] == 'NVIDIA_VISIBLE_DEVICES=all NVIDIA_REQUIRE_JETPACK="csv-mounts=all"'
    first_run = kinds.index("RUN")
    assert [index for index, (instruction, arguments) in enumerate(steps)
            if instruction == "ENV" and "NVIDIA_REQUIRE_JETPACK" in arguments][0] < first_run
    runs = " ".join(arguments for instruction, arguments in steps if instruction == "RUN")
    assert "/usr/local/cuda-10.2/bin/nvcc" in runs and "CPATH=/usr/local/cuda-10.2/include" in runs
    assert "pycuda==2021.1" in runs and '"paho-mqtt<2"' in runs
    # --no-install-recommends: Ubuntu 18.04's python3-pip only recommends setuptools and wheel.
    apt = re.search(r"apt-get install -y --no-install-recommends python3 [^&]*", runs).group(0)
    for package in ("python3-pip", "python3-setuptools", "python3-wheel", "python3-dev", "build-essential",
                    "python3-numpy", "python3-yaml"):
        assert re.search(r"\b{}\b".format(re.escape(package)), apt), package


@pytest.mark.parametrize("name, version", [("Dockerfile.jetpack46", "(3, 6)"), ("Dockerfile.jetpack6", "(3, 10)")])
def test_images_check_their_promises_at_build_time(name, version):
    steps = instructions(name)
    copy = [index for index, (instruction, _) in enumerate(steps) if instruction == "COPY"][0]
    checks = " ".join(arguments for index, (instruction, arguments) in enumerate(steps)
                      if instruction == "RUN" and index > copy)
    assert "sys.version_info[:2] == {}".format(version) in checks
    assert "gstreamer_in_build_information" in checks and "cv2.getBuildInformation()" in checks
    assert "find_spec('tensorrt')" in checks
    # The GStreamer rule the check uses is the one the runtime and install.sh use.
    from edge.sources.gstreamer import gstreamer_in_build_information  # noqa: F401


def test_jetpack6_tags_are_the_ones_jetson_containers_and_install_sh_know():
    text = header("Dockerfile.jetpack6")
    for tag in ("r36.2.0", "r36.3.0", "r36.4.0"):
        assert tag in text
    assert "l4t_version_compatible" in text and "Ubuntu 22.04" in text and "Python 3.10" in text


def test_readme_gives_each_base_with_its_sources():
    readme = read("README.md")
    section = readme[readme.index("### Container bases"):]
    for claim in ("nvcr.io/nvidia/l4t-base:r32.7.1", "nvcr.io/nvidia/l4t-tensorrt:r8.2.1-runtime",
                  "nvcr.io/nvidia/l4t-jetpack:r36.4.0", "Ubuntu 18.04", "Ubuntu 20.04", "Ubuntu 22.04",
                  "Python 3.6", "Python 3.8", "Python 3.10", "dusty-nv/jetson-containers",
                  "jetson_containers/l4t_version.py", "NVIDIA/nvidia-container-runtime#173",
                  "csv-mounts=all", "libopencv-python"):
        assert claim in section, claim


def test_jetpack6_asks_for_the_device_so_the_driver_is_mounted():
    steps = instructions("Dockerfile.jetpack6")
    assert ("ENV", "NVIDIA_VISIBLE_DEVICES=all") in steps
    assert steps.index(("ENV", "NVIDIA_VISIBLE_DEVICES=all")) < [i for i, (k, _) in enumerate(steps) if k == "RUN"][0]
