"""Atomic file writes: temporary file in the same directory, fsync, rename.

A power cut on a Jetson must not leave a half-written engine, manifest or checkpoint behind:
readers see either the old file or the complete new one.
"""

import contextlib
import hashlib
import json
import os
import tempfile

from edge.errors import path_error


def fsync_path(path):
    """fsync a file or a directory (a directory: so a rename in it is durable)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename is still atomic
    finally:
        os.close(fd)


def current_umask():
    # os.umask can only be read by setting it: set and restore at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _publish_new(tmp, path):
    """Give the finished temporary file the name `path`, never replacing an existing file."""
    try:
        os.link(tmp, path)  # atomic and fails with FileExistsError when the name is taken
    except FileExistsError:
        raise
    except OSError:
        # No hard links (FAT/exFAT SD cards): check then rename; only another writer racing
        # within that instant could still collide.
        if os.path.lexists(path):
            raise FileExistsError(17, "File exists", path)
        os.rename(tmp, path)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_open(path, mode="wb", replace=True):
    """Open a temporary file next to `path`; on clean exit it replaces `path` atomically.

    With replace=False an existing `path` is never overwritten: the exit raises FileExistsError.
    On an exception the temporary file is removed and `path` is left untouched.
    """
    if mode not in ("wb", "w"):
        raise ValueError("atomic_open supports 'wb' and 'w' only")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    except OSError as exc:  # a folder that cannot be made or written (/proc/x, read-only, no permission)
        raise path_error("write", path, exc)
    try:
        # mkstemp makes 0600 files; give the usual permissions so a daemon running as another
        # user (the systemd service) can still read manifests and engines.
        os.chmod(tmp, 0o666 & ~current_umask())
        kwargs = {"encoding": "utf-8"} if mode == "w" else {}
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            _publish_new(tmp, path)
        fsync_path(directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def make_folder(path, what=""):
    """os.makedirs(path, exist_ok=True); a folder that cannot be made (/proc/x, under a file, read-only) is
    CannotUsePath, one line naming `what` ("the run folder") and why."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise path_error("write", path, exc, what)
    return path


def write_bytes(path, data, replace=True):
    with atomic_open(path, "wb", replace=replace) as handle:
        handle.write(data)


def write_text(path, text):
    with atomic_open(path, "w") as handle:
        handle.write(text)


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def copy_file(source, path, chunk=1 << 20):
    """Copy `source` to `path` atomically; returns the sha256 of the bytes written."""
    digest = hashlib.sha256()
    with open(source, "rb") as reader, atomic_open(path, "wb") as writer:
        for block in iter(lambda: reader.read(chunk), b""):
            digest.update(block)
            writer.write(block)
    return digest.hexdigest()


def sha256_file(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
