"""What a benchmark ran on: CPU, GPU, library versions and, on a Jetson, power mode, clocks, temperatures.

Figures without their environment cannot be compared; every result carries this dict.
"""

import glob
import os
import platform
import subprocess
import sys

from edge.cuda import gpu
from edge.errors import EdgeError


def read_text(path):
    """A small text file stripped, or None when it cannot be read."""
    try:
        with open(path, "r") as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def cpu_model():
    text = read_text("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.lower().startswith(("model name", "hardware")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _run(command, timeout=5):
    try:
        out = subprocess.check_output(command, stderr=subprocess.STDOUT, timeout=timeout)
        return out.decode("utf-8", "replace").strip()
    except (OSError, subprocess.SubprocessError):
        return None


def library_versions():
    """Versions of the libraries that matter, for those importable (imported modules are cheap to ask): numpy,
    OpenCV, each runtime's (edge.runners.registry) and pycuda."""
    from edge.runners.registry import runtimes

    versions = {"python": platform.python_version()}
    names = ["numpy", "cv2"] + [runtime.module for runtime in runtimes()] + ["pycuda"]
    for name in sorted(set(names), key=names.index):
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except Exception:  # missing, or broken on this machine: recorded as absent
                continue
        versions[name] = str(getattr(module, "__version__", "unknown"))
    return versions


def gpu_info():
    """{"name", "compute_capability", "memory_mb", "source"} of the first GPU, or None.

    edge.cuda.gpu.identify, the same answer the engine keys and the TensorRT runner get.
    """
    try:
        return gpu.identify()
    except EdgeError:   # a CUDA binding whose driver fails: the TensorRT rows say why
        return None


def jetson_info():
    """Power mode, clocks and temperatures on a Jetson; None elsewhere."""
    release = read_text("/etc/nv_tegra_release")
    if release is None:
        return None
    info = {"l4t_release": release.splitlines()[0]}
    info["power_mode"] = power_mode()
    info["clocks_at_max"] = clocks_at_max()
    info["temperatures_c"] = temperatures()
    try:
        from jtop import jtop  # optional: jetson-stats
        with jtop() as stats:
            info["jtop"] = {"power_mode": str(stats.nvpmodel), "jetson_clocks": bool(stats.jetson_clocks)}
    except Exception:  # not installed, or its service is not running
        pass
    return info


def power_mode():
    """The "NV Power Mode: MAXN" line of `nvpmodel -q` (Xavier prints a fan mode line first), or None."""
    lines = (_run(["nvpmodel", "-q"]) or "").splitlines()
    chosen = [line for line in lines if line.startswith("NV Power Mode")] or lines
    return chosen[0] if chosen else None


def clocks_at_max(root=""):
    """True when every CPU runs at its maximum frequency (as after jetson_clocks), None when unknown.

    jetson_clocks --show needs root; the current and maximum frequencies can be read without.
    `root` prefixes the /sys paths (a fake filesystem in tests).
    """
    locked = []
    for cur in glob.glob(glob.escape(root) + "/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq"):
        maximum = read_text(os.path.join(os.path.dirname(cur), "scaling_max_freq"))
        current = read_text(cur)
        if current and maximum:
            locked.append(current == maximum)
    return all(locked) if locked else None


def temperatures():
    found = {}
    for zone in sorted(glob.glob("/sys/class/thermal/thermal_zone*")):
        kind, temp = read_text(os.path.join(zone, "type")), read_text(os.path.join(zone, "temp"))
        if kind and temp and temp.lstrip("-").isdigit():
            found[kind] = int(temp) / 1000.0
    return found


def environment():
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "libraries": library_versions(),
        "gpu": gpu_info(),
        "jetson": jetson_info(),
        "temperatures_c": temperatures(),
    }
