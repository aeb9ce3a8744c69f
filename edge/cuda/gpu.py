"""Which NVIDIA GPU this is: the one answer for engine keys, the TensorRT runner and benchmark records.

`identify()` asks the CUDA binding (edge.cuda.memory: pycuda or cuda-python) first, then
nvidia-smi, then a Jetson's device tree, and names the GPU the way CUDA does whichever source
answered: JetPack 6's nvidia-smi says "Orin (nvgpu)" where CUDA says "Orin", and a Nano has no
nvidia-smi at all. An engine built with one source is therefore accepted when another answers.
Python 3.6 compatible; the CUDA binding is imported only when identify() asks it.
"""

import re
import subprocess

from edge.errors import EdgeError, MissingDependency

# Jetson modules by /proc/device-tree/model: the name CUDA reports on that module (so an engine
# key is the same whichever source answered) and its compute capability. Order matters ("Orin
# Nano" is an Orin, not a Nano). L4T 32.x names some boards by codename: a TX2 says "quill", an
# AGX Xavier "Jetson-AGX". CUDA names: unconfirmed on hardware.
JETSON_MODELS = (
    ("orin", "Orin", "8.7"),
    ("xavier", "Xavier", "7.2"),
    ("jetson-agx", "Xavier", "7.2"),
    ("tx2", "NVIDIA Tegra X2", "6.2"),
    ("quill", "NVIDIA Tegra X2", "6.2"),
    ("nano", "NVIDIA Tegra X1", "5.3"),
    ("tx1", "NVIDIA Tegra X1", "5.3"),
)
DEVICE_TREE_MODEL = "/proc/device-tree/model"


# nvidia-smi on Jetson (JetPack 6) appends the driver in brackets: "Orin (nvgpu)".
_DRIVER_SUFFIX = re.compile(r"\s*\(nvgpu\)\s*$", re.IGNORECASE)


def canonical_name(name):
    """A GPU name as CUDA reports it: driver suffixes dropped, whitespace collapsed."""
    return " ".join(_DRIVER_SUFFIX.sub("", str(name or "")).split())


def same_gpu(name_a, capability_a, name_b, capability_b):
    """True when two (name, compute capability) pairs, from any source, are the same GPU model."""
    return (canonical_name(name_a) == canonical_name(name_b)
            and str(capability_a) == str(capability_b))


def identify():
    """{"name" (canonical), "compute_capability", "memory_mb", "source"} of GPU 0, or None.

    Sources in order: CUDA (as the TensorRT runtime sees the device), nvidia-smi, the Jetson
    device tree. EdgeError when a CUDA binding is installed but the driver fails.
    """
    found = _from_cuda() or from_nvidia_smi() or from_device_tree()
    if found is not None:
        found = dict(found, name=canonical_name(found["name"]))
    return found


def _from_cuda():
    from edge.cuda import memory as cuda_memory

    try:
        info = cuda_memory.device_info()
    except MissingDependency:
        return None              # no CUDA binding here: the other sources may still tell
    except EdgeError:
        raise
    except Exception as exc:     # pycuda/cudart raise their own types when the driver or device fails
        raise EdgeError("CUDA could not be initialised ({}: {}); is the GPU driver working?".format(
            type(exc).__name__, exc))
    return {"name": info["name"], "compute_capability": info["compute_capability"],
            "memory_mb": info.get("memory_mb"), "source": "cuda"}


def jetson_gpu(model):
    """(CUDA device name, compute capability) for a Jetson device-tree model string, or None."""
    lowered = (model or "").lower()
    for needle, name, capability in JETSON_MODELS:
        if needle in lowered and ("jetson" in lowered or needle in ("orin", "quill")):
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
