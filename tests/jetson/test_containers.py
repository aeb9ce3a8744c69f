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
    assert re.search(r"apt-get install [^&]*\bnvidia-opencv\b", runs)
    # nvidia-opencv comes from NVIDIA's L4T repository for R32.7, signed with its key.
    assert "https://repo.download.nvidia.com/jetson/common r32.7 main" in runs
    adds = [arguments for instruction, arguments in instructions("Dockerfile.jetpack46") if instruction == "ADD"]
    assert adds == ["https://repo.download.nvidia.com/jetson/jetson-ota-public.asc "
                    "/etc/apt/trusted.gpg.d/jetson-ota-public.asc"]
    assert runs.index("nvidia-l4t-apt-source.list") < runs.index("nvidia-opencv")


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
