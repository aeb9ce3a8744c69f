"""Which NVIDIA GPU this is, asked without a CUDA binding: nvidia-smi, then a Jetson's device tree.

Engine keys (export.trt_compat) and benchmark records (edge.benchmark.environment) both need
the GPU's name and compute capability; they ask here so both name a Jetson the same way.
Python 3.6 compatible, standard library only.
"""

import subprocess

# Jetson modules by /proc/device-tree/model: the name CUDA reports on that module (so an engine
# key is the same whichever source answered) and its compute capability. Order matters ("Orin
# Nano" is an Orin, not a Nano). CUDA names: unconfirmed on hardware.
JETSON_MODELS = (
    ("orin", "Orin", "8.7"),
    ("xavier", "Xavier", "7.2"),
    ("tx2", "NVIDIA Tegra X2", "6.2"),
    ("nano", "NVIDIA Tegra X1", "5.3"),
    ("tx1", "NVIDIA Tegra X1", "5.3"),
)
DEVICE_TREE_MODEL = "/proc/device-tree/model"


def jetson_gpu(model):
    """(CUDA device name, compute capability) for a Jetson device-tree model string, or None."""
    lowered = (model or "").lower()
    if "jetson" not in lowered and "orin" not in lowered:
        return None
    for needle, name, capability in JETSON_MODELS:
        if needle in lowered:
            return name, capability
    return None


def from_device_tree(path=None):
    """{"name", "compute_capability", "memory_mb": None, "source"} on a known Jetson, else None."""
    path = path or DEVICE_TREE_MODEL
    try:
        with open(path, "rb") as handle:
            model = handle.read().decode("utf-8", "replace").strip("\x00").strip()
    except (IOError, OSError):
        return None
    found = jetson_gpu(model)
    if found is None:
        return None
    return {"name": found[0], "compute_capability": found[1], "memory_mb": None,
            "source": "device-tree ({})".format(model)}


def from_nvidia_smi(timeout=10):
    """{"name", "compute_capability", "memory_mb", "source"} of the first GPU, or None.

    None also when this nvidia-smi is too old to report compute_cap (drivers before 510):
    a GPU without its capability cannot key an engine.
    """
    try:
        out = subprocess.check_output(
            ["nvidia-smi", "--query-gpu=name,compute_cap,memory.total", "--format=csv,noheader,nounits"],
            stderr=subprocess.STDOUT, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.decode("utf-8", "replace").strip().splitlines()
    parts = [part.strip() for part in lines[0].split(",")] if lines else []
    if len(parts) < 2 or "." not in parts[1]:
        return None
    try:
        memory = int(float(parts[2])) if len(parts) > 2 else None
    except ValueError:  # "[N/A]" on some boards
        memory = None
    return {"name": parts[0], "compute_capability": parts[1], "memory_mb": memory, "source": "nvidia-smi"}
