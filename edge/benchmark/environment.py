"""What a benchmark ran on: CPU, GPU, library versions and, on a Jetson, power mode, clocks, temperatures.

Figures without their environment cannot be compared; every result carries this dict.
"""

import glob
import os
import platform
import subprocess
import sys

from edge import gpu
from edge.errors import EdgeError


def _read(path):
    try:
        with open(path, "r") as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def cpu_model():
    text = _read("/proc/cpuinfo") or ""
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
    """Versions of the libraries that matter, for those importable (imported modules are cheap to ask)."""
    versions = {"python": platform.python_version()}
    for name in ("numpy", "cv2", "onnxruntime", "torch", "tensorrt", "pycuda"):
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

    edge.gpu.identify, the same answer the engine keys and the TensorRT runner get.
    """
    try:
        return gpu.identify()
    except EdgeError:   # a CUDA binding whose driver fails: the TensorRT rows say why
        return None


def jetson_info():
    """Power mode, clocks and temperatures on a Jetson; None elsewhere."""
    release = _read("/etc/nv_tegra_release")
    if release is None:
        return None
    info = {"l4t_release": release.splitlines()[0]}
    nvpmodel = _run(["nvpmodel", "-q"])
    info["power_mode"] = nvpmodel.splitlines()[0] if nvpmodel else None
    # jetson_clocks --show needs root; compare current and maximum GPU/CPU frequencies instead.
    locked = []
    for cur in glob.glob("/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq"):
        maximum = _read(os.path.join(os.path.dirname(cur), "scaling_max_freq"))
        current = _read(cur)
        if current and maximum:
            locked.append(current == maximum)
    info["clocks_at_max"] = all(locked) if locked else None
    info["temperatures_c"] = temperatures()
    try:
        from jtop import jtop  # optional: jetson-stats
        with jtop() as stats:
            info["jtop"] = {"power_mode": str(stats.nvpmodel), "jetson_clocks": bool(stats.jetson_clocks)}
    except Exception:  # not installed, or its service is not running
        pass
    return info


def temperatures():
    found = {}
    for zone in sorted(glob.glob("/sys/class/thermal/thermal_zone*")):
        kind, temp = _read(os.path.join(zone, "type")), _read(os.path.join(zone, "temp"))
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
