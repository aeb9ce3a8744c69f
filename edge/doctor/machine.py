"""The machine checks of edge-doctor: does every hardware path of this board work?

    machine_checks(bundle_dir=None, root="") -> [Check]

L4T release, TensorRT, a CUDA host-device-host round trip, the GPU, fast FP16/INT8, OpenCV with
GStreamer, cameras and the Argus daemon, power mode and clocks, memory, free disk. Each check is
one function that returns one Check and never raises: a missing tool or file is a SKIP or an
INFO that says so, and every command runs with a timeout. `root` prefixes every absolute path
read (a fake filesystem in tests). Python 3.6 compatible, no torch; TensorRT, the CUDA bindings
and OpenCV are imported only by the check that needs them.
"""

import glob
import importlib
import os
import re
import shutil
import subprocess

import numpy as np

from edge.cuda import gpu, memory as cuda_memory
from edge.benchmark.environment import clocks_at_max, power_mode, read_text
from edge.doctor.checks import FAIL, INFO, PASS, SKIP, Check
from edge.errors import EdgeError, MissingDependency
from edge.util.lazy import INSTALL_HINTS

RELEASE_FILE = "/etc/nv_tegra_release"
MODEL_FILE = "/proc/device-tree/model"
ARGUS_SOCKET = "/tmp/argus_socket"
ROUND_TRIP_BYTES = 1 << 20
MIN_FREE_DISK = 500 << 20
SMALL_MEMORY = 5 << 30   # below this (the 4 GB Nano), big engines need swap to build
UPGRADE_R32 = "upgrade to L4T R32.7 (JetPack 4.6.1+)"
TENSORRT_HINT = ("apt install python3-libnvinfer (JetPack); a virtual environment needs "
                 "--system-site-packages to see it")
GPU_ACCESS = ("is the GPU driver working? Non-root CUDA needs the video group (and render on JetPack 6): "
              "jetson/README.md, Groups and the bundle folder")

_RELEASE_LINE = re.compile(r"^# R(\d+) \(release\), REVISION: (\d+)\.(\d+)")
_ARGUS_RUNNING = ("active", "reloading")
_ARGUS_STOPPED = ("inactive", "failed", "activating", "deactivating", "unknown")


def machine_checks(bundle_dir=None, root=""):
    """Every machine check, in report order, as a list of Check."""
    release = read_release(root)
    jetson = release is not None
    checks = [check_l4t(release, root), check_tensorrt(jetson), check_cuda_binding(jetson, release),
              check_gpu(root)]
    checks.append(check_fast_precisions(checks[-1].data.get("compute_capability")))
    checks += [check_opencv(jetson), check_cameras(root), check_argus(jetson, root),
               check_power_mode(jetson, root), check_memory(jetson, root), check_disk(bundle_dir)]
    return checks


# ----------------------------------------------------------------------------- helpers

def read_release(root=""):
    """{"line", "major", "minor", "patch"} of /etc/nv_tegra_release (numbers None if unreadable), None if absent."""
    text = read_text(root + RELEASE_FILE)
    if text is None:
        return None
    line = text.splitlines()[0] if text else ""
    found = _RELEASE_LINE.match(line)
    numbers = [int(part) for part in found.groups()] if found else [None] * 3
    return dict(zip(("major", "minor", "patch"), numbers), line=line)


def jetpack(major, minor):
    """(status, what L4T R<major>.<minor> ships, fix) as jetson/install.sh judges it."""
    if major == 32 and minor >= 7:
        return INFO, "JetPack 4.6.1+: TensorRT 8.2.1, CUDA 10.2", None
    if major == 32 and minor == 6:
        return FAIL, "JetPack 4.6: TensorRT 8.0.1, which this toolkit does not support; it needs 8.2.1", UPGRADE_R32
    if major == 32:
        return FAIL, "JetPack 4.5 or older: TensorRT 7", UPGRADE_R32
    if major == 36:
        shipped = "6.0: TensorRT 8.6.2, CUDA 12.2" if minor < 4 else "6.1/6.2: TensorRT 10.3, CUDA 12.6"
        return INFO, "JetPack " + shipped, None
    if major == 35:
        return INFO, "JetPack 5, which this toolkit does not test", None
    return FAIL, "not a supported release", "use JetPack 4.6.1+ (L4T R32.7) or JetPack 6 (L4T R36)"


def _import(name):
    """(module, None); (None, None) when it is not installed; (None, why) when it is there but fails to import."""
    try:
        return importlib.import_module(name), None
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and (exc.name or name).split(".")[0] == name:
            return None, None
        return None, _error(exc)
    except Exception as exc:   # a broken install: a shared library that does not load, ...
        return None, _error(exc)


def _error(exc):
    """An exception as one line: ours carry their own message, others are named by type."""
    return str(exc) if isinstance(exc, EdgeError) else "{}: {}".format(type(exc).__name__, exc)


def _run(command, timeout=5):
    """(exit code, output) of `command`, or None when it is missing or does not finish in time."""
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.returncode, done.stdout.decode("utf-8", "replace").strip()


def size(nbytes):
    """Bytes for a human: "0 B", "512.0 MiB", "3.9 GiB"."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << shift:
            return "{:.1f} {}".format(nbytes / float(1 << shift), unit)
    return "{} B".format(int(nbytes))


# ----------------------------------------------------------------------------- the checks

def check_l4t(release, root=""):
    """The L4T release and what it ships, with the board model."""
    if release is None:
        return Check("l4t release", SKIP, "not a Jetson (no {})".format(RELEASE_FILE))
    board = (read_text(root + MODEL_FILE) or "").strip("\x00").strip() or "board model unknown"
    data = {"release_line": release["line"], "board": board}
    if release["major"] is None:
        return Check("l4t release", INFO, "L4T release unreadable ({!r}), {}".format(release["line"], board),
                     data=data)
    l4t = "{major}.{minor}.{patch}".format(**release)
    status, ships, fix = jetpack(release["major"], release["minor"])
    data.update(l4t=l4t, jetpack=ships)
    return Check("l4t release", status, "L4T R{} ({}), {}".format(l4t, ships, board), fix, data)


def check_tensorrt(jetson):
    """TensorRT imports: a Jetson must have it (JetPack), elsewhere it is optional."""
    trt, broken = _import("tensorrt")
    if trt is not None:
        version = str(getattr(trt, "__version__", "unknown"))
        return Check("tensorrt", PASS, "TensorRT " + version, data={"version": version})
    if broken:
        return Check("tensorrt", FAIL, "TensorRT is installed but does not import: " + broken, TENSORRT_HINT)
    return Check("tensorrt", FAIL if jetson else SKIP,
                 "TensorRT is not installed (comes with JetPack: apt install python3-libnvinfer)",
                 TENSORRT_HINT if jetson else INSTALL_HINTS["tensorrt"])


def check_cuda_binding(jetson, release=None):
    """The CUDA binding (pycuda or cuda-python) and a 1 MiB host-device-host round trip through it."""
    try:
        memory = cuda_memory.backend()
    except MissingDependency as exc:
        hint = INSTALL_HINTS["pycuda" if (release or {}).get("major") == 32 else "cuda"]
        fix = "sudo jetson/install.sh, or " + hint if jetson else INSTALL_HINTS["cuda"]
        return Check("cuda binding", FAIL if jetson else SKIP, "neither pycuda nor cuda-python is installed", fix,
                     data={"error": str(exc)})
    except Exception as exc:   # cuInit failed, no device, the primary context could not be retained, ...
        return Check("cuda binding", FAIL, "CUDA could not be initialised: " + _error(exc), GPU_ACCESS)
    problem = _round_trip(memory, ROUND_TRIP_BYTES)
    data = {"backend": memory.name, "bytes": ROUND_TRIP_BYTES}
    if problem is not None:
        return Check("cuda binding", FAIL, "{}: {} round trip failed: {}".format(
            memory.name, size(ROUND_TRIP_BYTES), problem), GPU_ACCESS, data)
    return Check("cuda binding", PASS, "{}: {} round trip intact".format(memory.name, size(ROUND_TRIP_BYTES)),
                 data=data)


def _round_trip(memory, nbytes):
    """None when a known pattern comes back from the GPU intact, else what went wrong; frees all it allocated.

    All of it in the backend's CUDA context, current on this thread for the round trip."""
    try:
        with memory.current():
            return _round_trip_in_context(memory, nbytes)
    except Exception as exc:   # the context could not be made current (CudaError, the binding's own)
        return _error(exc)


def _round_trip_in_context(memory, nbytes):
    pattern = (np.arange(nbytes) % 251).astype(np.uint8)   # a prime period: shifted bytes show
    held, problem = [], None   # (free, thing), freed in reverse order whatever happens
    try:
        host = memory.pagelocked(nbytes, np.uint8)
        held.append((memory.free_host, host))
        device = memory.alloc(nbytes)
        held.append((memory.free, device))
        stream = memory.stream()
        held.append((memory.free_stream, stream))
        host[:] = pattern
        memory.htod(device, host, stream)
        memory.synchronize(stream)
        host[:] = 0
        memory.dtoh(host, device, stream)
        memory.synchronize(stream)
        wrong = np.flatnonzero(host != pattern)
        if wrong.size:
            problem = "{} of {} bytes came back different (the first at offset {})".format(
                wrong.size, nbytes, wrong[0])
    except Exception as exc:   # CudaError, or the binding's own (pycuda.driver.Error, ...)
        problem = _error(exc)
    for free, thing in reversed(held):
        try:
            free(thing)
        except Exception as exc:
            problem = problem or "freeing failed: " + _error(exc)
    return problem


def check_gpu(root=""):
    """Which GPU this is (edge.cuda.gpu.identify); a board model alone is an INFO, not a verified GPU."""
    try:
        found = gpu.identify()
        if found is None and root:
            found = gpu.from_device_tree(root + MODEL_FILE)
    except EdgeError as exc:
        return Check("gpu", FAIL, str(exc), GPU_ACCESS)
    if found is None:
        return Check("gpu", SKIP, "no GPU found (no CUDA binding answered, no nvidia-smi, not a Jetson)")
    data = {key: found[key] for key in ("name", "compute_capability", "source")}
    detail = "{}, compute {} (from {})".format(found["name"], found["compute_capability"], found["source"])
    status = INFO if found["source"].startswith("device-tree") else PASS
    return Check("gpu", status, detail, data=data)


def check_fast_precisions(compute_capability=None):
    """Fast FP16 / INT8 as TensorRT's builder reports them, and what an engine request becomes here."""
    trt, broken = _import("tensorrt")
    if trt is None:
        return Check("fast fp16/int8", SKIP, "TensorRT does not import" + (": " + broken if broken else ""))
    from edge.tensorrt.build import choose_precision
    from edge.tensorrt.compat import platform_capabilities

    try:
        fast = platform_capabilities(trt, compute_capability)
    except Exception as exc:   # no usable GPU: TensorRT cannot make a builder
        return Check("fast fp16/int8", FAIL, "TensorRT could not make a builder: " + _error(exc), GPU_ACCESS)
    detail = "fast FP16 {}, fast INT8 {}".format(*("yes" if fast[p] else "no" for p in ("fp16", "int8")))
    notes = ["{} engines build as {}".format(p.upper(), choose_precision(p, fast, "this GPU", False)[0].upper())
             for p in ("int8", "fp16") if not fast[p]]
    return Check("fast fp16/int8", INFO, detail + (" ({} here)".format("; ".join(notes)) if notes else ""),
                 data=fast)


def check_opencv(jetson):
    """OpenCV and whether it has GStreamer (CSI cameras and hardware decoding need it)."""
    cv2, broken = _import("cv2")
    if cv2 is None:
        return Check("opencv", FAIL if broken else SKIP,
                     "OpenCV does not import: " + broken if broken else "OpenCV is not installed",
                     INSTALL_HINTS["cv2"])
    from edge.sources.gstreamer import opencv_has_gstreamer

    has = opencv_has_gstreamer()
    version = str(getattr(cv2, "__version__", "unknown"))
    detail = "OpenCV {}, GStreamer {}".format(version, "yes" if has else "no")
    data = {"version": version, "gstreamer": has, "path": getattr(cv2, "__file__", None)}
    if has:
        return Check("opencv", PASS, detail, data=data)
    if jetson:
        return Check("opencv", FAIL, detail + " (at {})".format(data["path"]), "a pip opencv-python shadows "
                     "JetPack's: pip3 uninstall opencv-python opencv-python-headless", data)
    return Check("opencv", INFO, detail + " (file, USB and HTTP sources work; CSI and GStreamer pipelines do not)",
                 data=data)


def check_cameras(root=""):
    """The V4L2 camera devices (/dev/video*)."""
    found = sorted((path[len(root):] for path in glob.glob(glob.escape(root) + "/dev/video*")),
                   key=lambda path: (len(path), path))   # video2 before video10
    return Check("cameras", INFO, ", ".join(found) if found else "no V4L2 camera", data={"v4l2": found})


def check_argus(jetson, root=""):
    """On a Jetson, the Argus daemon that CSI cameras need: systemd's word, else its socket (a container)."""
    if not jetson:
        return Check("argus daemon", SKIP, "not a Jetson: CSI cameras need JetPack's nvargus-daemon")
    answer = _run(["systemctl", "is-active", "nvargus-daemon"])
    state = answer[1].splitlines()[0].strip() if answer and answer[1] else None
    if state in _ARGUS_RUNNING:
        return Check("argus daemon", PASS, "nvargus-daemon " + state, data={"state": state})
    if state in _ARGUS_STOPPED:
        return Check("argus daemon", FAIL, "nvargus-daemon not running ({}): CSI cameras will not open".format(state),
                     "sudo systemctl restart nvargus-daemon", {"state": state})
    if os.path.exists(root + ARGUS_SOCKET):
        return Check("argus daemon", PASS, "Argus socket {} present (systemd did not answer)".format(ARGUS_SOCKET),
                     data={"socket": ARGUS_SOCKET})
    return Check("argus daemon", FAIL, "nvargus-daemon not running (systemd did not answer, no {})".format(
        ARGUS_SOCKET), "sudo systemctl restart nvargus-daemon; in a container, mount -v {0}:{0}".format(ARGUS_SOCKET))


def check_power_mode(jetson, root=""):
    """The nvpmodel power mode and whether the CPU clocks are locked at their maximum."""
    if not jetson:
        return Check("power mode", SKIP, "not a Jetson (no nvpmodel power modes)")
    mode = power_mode()
    at_max = clocks_at_max(root)
    clocks = {True: "yes", False: "no (sudo jetson_clocks for benchmarks)", None: "unknown"}[at_max]
    detail = "{}; clocks at max: {}".format(mode or "power mode unknown (nvpmodel did not answer)", clocks)
    return Check("power mode", INFO, detail, data={"power_mode": mode, "clocks_at_max": at_max})


def check_memory(jetson, root=""):
    """Total and available memory and swap (/proc/meminfo); a small Jetson without swap is told to add some."""
    values = {}
    for line in (read_text(root + "/proc/meminfo") or "").splitlines():
        key, _, rest = line.partition(":")
        if rest.split() and rest.split()[0].isdigit():
            values[key] = int(rest.split()[0]) << 10   # kB
    if "MemTotal" not in values:
        return Check("memory", SKIP, "no /proc/meminfo here")
    total, available, swap = (values.get(key, 0) for key in ("MemTotal", "MemAvailable", "SwapTotal"))
    fix = None
    if jetson and total < SMALL_MEMORY and not swap:
        fix = "add swap before building engines for ResNet-50 and up (jetson/README.md, Memory on the 4 GB Nano)"
    return Check("memory", INFO, "{}, {} available, swap {}".format(size(total), size(available), size(swap)), fix,
                 {"total": total, "available": available, "swap": swap})


def check_disk(bundle_dir=None):
    """Free space where the bundle is (engines and timing caches are written into it)."""
    where = bundle_dir or os.getcwd()
    try:
        free = shutil.disk_usage(where).free
    except OSError as exc:
        return Check("disk", SKIP, "cannot read the free space of {}: {}".format(where, exc))
    detail = "{} free at {}".format(size(free), where)
    if free < MIN_FREE_DISK:
        return Check("disk", FAIL, detail + ", less than " + size(MIN_FREE_DISK),
                     "free space on that disk: engines and timing caches are written into the bundle",
                     {"free": free, "path": where})
    return Check("disk", INFO, detail, data={"free": free, "path": where})
