"""The machine's identity outside CUDA, for one test: nvidia-smi on PATH and the device-tree model file.

nvidia-smi answers `--query-gpu=<fields> --format=csv[,noheader][,nounits]` as the device does
(devices.py). A device without nvidia-smi (JetPack 4.6) gets none: when a real one is on PATH, a
stand-in that exits 127 ("command not found") hides it. edge.cuda.gpu.DEVICE_TREE_MODEL points at a
file holding the board's NUL-terminated model string, or at a missing path on a desktop.
Everything goes through monkeypatch (undone after the test); files live in a temporary folder
removed when the fake module is garbage collected.
"""

import os
import stat
import sys
import tempfile

_SMI = """#!{python}
import sys
FIELDS = {{"name": {name!r}, "compute_cap": {cc!r}, "memory.total": {memory!r}}}
args = sys.argv[1:]
query = [a.split("=", 1)[1] for a in args if a.startswith("--query-gpu=")]
form = [a.split("=", 1)[1] for a in args if a.startswith("--format=")]
if not query or not form or "csv" not in form[0].split(","):
    sys.stderr.write("fake nvidia-smi only answers --query-gpu=... --format=csv\\n")
    sys.exit(2)
fields = query[0].split(",")
bad = [f for f in fields if f not in FIELDS]
if bad:
    print('Field "{{}}" is not a valid field to query.'.format(bad[0]))
    sys.exit(2)
options = form[0].split(",")
if "noheader" not in options:
    print(", ".join(f + ("" if "nounits" in options or f != "memory.total" else " [MiB]") for f in fields))
values = [FIELDS[f] + ("" if "nounits" in options or f != "memory.total" or FIELDS[f].startswith("[")
                       else " MiB") for f in fields]
print(", ".join(values))
"""

_MISSING = "#!/bin/sh\necho \"$0: command not found\" >&2\nexit 127\n"


def _executable(path, text):
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def install_identity(monkeypatch, device, cuda_name, compute_capability, keep_alive):
    """Fake nvidia-smi on PATH and the device-tree model for `device` (a devices.Device).

    keep_alive: an object whose lifetime bounds the temporary folder (the fake module)."""
    import edge.cuda.gpu

    folder = tempfile.TemporaryDirectory(prefix="fake-machine-")
    keep_alive.fake_machine_folder = folder   # removed when the fake module goes away
    bin_dir = os.path.join(folder.name, "bin")
    os.mkdir(bin_dir)
    smi = os.path.join(bin_dir, "nvidia-smi")
    if device.nvidia_smi is not None:
        name, _, rest = device.nvidia_smi.rpartition(", ")
        name, _, capability = name.rpartition(", ")
        if cuda_name != device.cuda_name or compute_capability != device.compute_capability:
            name, capability = cuda_name, compute_capability   # an overridden GPU answers with its own name
        _executable(smi, _SMI.format(python=sys.executable, name=name, cc=capability, memory=rest))
    elif any(os.path.exists(os.path.join(d, "nvidia-smi")) for d in os.environ.get("PATH", "").split(os.pathsep)):
        _executable(smi, _MISSING)
    monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ.get("PATH", ""))
    model = os.path.join(folder.name, "device-tree-model")
    if device.device_tree is not None:
        with open(model, "wb") as handle:
            handle.write(device.device_tree.encode("utf-8") + b"\x00")
    monkeypatch.setattr(edge.cuda.gpu, "DEVICE_TREE_MODEL", model)
    return folder.name
