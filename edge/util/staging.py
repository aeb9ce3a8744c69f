"""Replace a folder all-or-nothing: build it in a staging folder beside the target, then swap.

The bundle (export.bundle_writer) and the Triton model repository (edge.triton.repo) are written
this way. Every file of the new folder is written into `.<name>.staging-XXXXXXXX` next to the
target, fsynced, and only when the writer says it is done is the staging folder renamed into
place; the previous folder is moved aside first (into `.<name>.old-XXXXXXXX/<inner>`) and deleted
after. A failed write removes the staging folder and leaves the previous folder exactly as it was.

A killed export (SIGKILL, power cut) cannot clean up, so each staging and moved-aside folder holds
an owner file (`OWNER`: process id, its start time, host). The next export (`recover`) treats a
folder whose owner is gone as stale: it removes stale staging folders and says so in one line; and
when a kill fell between the two renames (nothing at the target, the previous folder moved aside)
it renames the previous folder back. It never finishes the interrupted swap: that export had not
said it was done, so, as for any failed export, the previous folder stays.

Both are written by edge-export, so the messages speak of exports. A `Kind` names what is replaced:
the file that marks a complete one (a bundle's manifest.json), the folder name inside a moved-aside
folder, and the noun the messages use. Python 3.6 compatible.
"""

import binascii
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import threading
import time
from collections import namedtuple

from edge.util.atomic import current_umask, fsync_path, write_json
from edge.errors import EdgeError, path_error

# marker: a file every complete folder of this kind holds; inner: the folder name in `.NAME.old-X/`;
# noun: what messages call it ("bundle").
Kind = namedtuple("Kind", "marker inner noun")


def settle_tree(root):
    """Readable-by-all permissions (as umask allows; atomic writes start at 0600), then fsync."""
    mask = current_umask()
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            os.chmod(path, 0o666 & ~mask)
            fsync_path(path)
        os.chmod(folder, 0o777 & ~mask)
        fsync_path(folder)


# ----------------------------------------------------------------------------- owners of hidden folders

OWNER = ".edge-export-owner"
# A folder without an owner file was made before owner files existed, or its writer was killed in
# the instant between mkdir and writing the owner file: stale once this old, or at once when it
# holds nothing (a live writer in that instant recreates its folder as it writes the owner file).
UNOWNED_GRACE_S = 60.0


def _process_start(pid):
    """The process's start time in clock ticks since boot (Linux), or None where it cannot be read."""
    try:
        with open("/proc/{}/stat".format(pid)) as handle:
            stat = handle.read()
    except (IOError, OSError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return fields[19] if len(fields) > 19 else None


def write_owner(folder):
    """Mark `folder` as this process's."""
    write_json(os.path.join(folder, OWNER), {"pid": os.getpid(), "started": _process_start(os.getpid()),
                                             "host": socket.gethostname()})


def _alive(record):
    if record.get("host") != socket.gethostname():
        return True  # another machine's writer (a shared folder): it cannot be checked from here
    pid = record.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    started = record.get("started")
    return started is None or started == _process_start(pid)  # a different start: the pid was reused


def is_stale(folder):
    """True when the writer that made `folder` is gone (killed, crashed, power cut)."""
    try:
        with open(os.path.join(folder, OWNER)) as handle:
            record = json.load(handle)
    except (IOError, OSError, ValueError):
        try:
            contents = [name for name in os.listdir(folder) if OWNER not in name]  # owner temp files too
            return not contents or time.time() - os.path.getmtime(folder) > UNOWNED_GRACE_S
        except OSError:
            return False
    return not _alive(record) if isinstance(record, dict) else True


def _make_hidden_dir(parent, stem):
    """A new `.stem-XXXXXXXX` folder in `parent` owned by this process (normal umask permissions)."""
    while True:
        path = os.path.join(parent, ".{}-{}".format(stem, binascii.hexlify(os.urandom(4)).decode("ascii")))
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        try:
            write_owner(path)
        except BaseException:  # Ctrl-C or SIGTERM too: the caller never learns of this folder
            shutil.rmtree(path, ignore_errors=True)
            raise
        return path


# ----------------------------------------------------------------------------- recovery

def _hidden(target, kind):
    """The `.NAME.<kind>-XXXXXXXX` folders beside `target`."""
    parent, name = os.path.split(target)
    pattern = re.compile(r"^\.{}\.{}-[0-9a-f]{{8}}$".format(re.escape(name), kind))
    try:
        names = sorted(os.listdir(parent))
    except OSError:
        return []
    return [os.path.join(parent, n) for n in names if pattern.match(n) and os.path.isdir(os.path.join(parent, n))]


def _tree_bytes(folder):
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _megabytes(size):
    return "{:.0f} MB".format(size / 1e6) if size >= 10e6 else "{:.1f} MB".format(size / 1e6)


def is_complete(path, kind):
    """True when `path` is a folder of `kind` (it holds the kind's marker file)."""
    return os.path.isfile(os.path.join(path, kind.marker))


def _restore(target, olds, kind, log):
    """Rename the newest moved-aside folder back to `target` (missing or an empty folder)."""
    kept = [old for old in olds if is_complete(os.path.join(old, kind.inner), kind)]
    if not kept or (os.path.lexists(target) and not (os.path.isdir(target) and not os.listdir(target))):
        return
    newest = max(kept, key=lambda old: os.path.getmtime(os.path.join(old, kind.inner, kind.marker)))
    try:
        if os.path.isdir(target):
            os.rmdir(target)
        os.rename(os.path.join(newest, kind.inner), target)
    except OSError as exc:
        raise EdgeError("an export was interrupted and the previous {} could not be renamed back ({}); do it by "
                        "hand: mv {} {}".format(kind.noun, exc.strerror or exc, os.path.join(newest, kind.inner),
                                               target))
    fsync_path(os.path.dirname(target))
    log("restored the previous {} from {} to {}: an export was interrupted while swapping it in".format(
        kind.noun, os.path.basename(newest), target))


def recover(target, kind, log=print):
    """Tidy what killed writers left beside `target`; see the module docstring. Returns `target`."""
    target = os.path.abspath(str(target))
    olds = [old for old in _hidden(target, "old") if is_stale(old)]
    _restore(target, olds, kind, log)
    if is_complete(target, kind):
        for old in olds:  # superseded: the swap had finished, or the folder was restored above
            shutil.rmtree(old, ignore_errors=True)
        owner = os.path.join(target, OWNER)
        if os.path.isfile(owner) and is_stale(target):  # killed just after the swap, before tidying
            try:
                os.unlink(owner)
            except OSError:
                pass  # a stray hidden file harms nothing; the next writer tries again
    stale = [folder for folder in _hidden(target, "staging") if is_stale(folder)]
    if stale:
        size = sum(_tree_bytes(folder) for folder in stale)
        for folder in stale:
            shutil.rmtree(folder, ignore_errors=True)
        log("removed {} stale staging folder{} ({}) left by interrupted exports".format(
            len(stale), "" if len(stale) == 1 else "s", _megabytes(size)))
    return target


# ----------------------------------------------------------------------------- staging

@contextlib.contextmanager
def signals_deferred(numbers=("SIGINT", "SIGTERM")):
    """Ctrl-C or SIGTERM arriving inside is delivered at its end: the swap's two renames run both or
    neither, so an interrupted export leaves the previous folder or the new one, never a gap between.
    Only the main thread can set handlers: elsewhere it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = [(number, signal.signal(number, lambda signum, frame: caught.append(signum)))
                for number in (getattr(signal, name) for name in numbers)]
    try:
        yield
    finally:
        for number, handler in previous:
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        if caught:
            os.kill(os.getpid(), caught[0])


class StagedFolder(object):
    """Context manager: `path` is the staging folder; `commit()` swaps it in, else it is removed.

    check_target(target) -> absolute target: refuses (EdgeError) what must not be replaced.
    """

    def __init__(self, target, kind, check_target, log=print):
        self.kind = kind
        self.target = check_target(target)
        self.log = log
        self.path = None
        self.committed = False
        self._created_parents = []

    def __enter__(self):
        parent = os.path.dirname(self.target)
        missing = []
        probe = parent
        while probe and not os.path.isdir(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        try:
            os.makedirs(parent, exist_ok=True)
            self._created_parents = missing  # innermost first
            recover(self.target, self.kind, self.log)
            self.path = _make_hidden_dir(parent, os.path.basename(self.target) + ".staging")
        except OSError as exc:  # a folder that cannot be made or written (/proc/x, read-only, full)
            self.__exit__(None, None, None)
            raise path_error("write", self.target, exc, "the " + self.kind.noun)
        except BaseException:  # Ctrl-C or SIGTERM before `with` took over: tidy as __exit__ would
            self.__exit__(None, None, None)
            raise
        return self

    def commit(self):
        """Make the staged folder the one at `target`."""
        settle_tree(self.path)
        with signals_deferred():
            return self._swap()

    def _swap(self):
        parent = os.path.dirname(self.target)
        old = None
        if os.path.exists(self.target):
            old = _make_hidden_dir(parent, os.path.basename(self.target) + ".old")
            os.rename(self.target, os.path.join(old, self.kind.inner))
        try:
            os.rename(self.path, self.target)
        except OSError:
            if old is not None:  # put the previous folder back before reporting
                os.rename(os.path.join(old, self.kind.inner), self.target)
                shutil.rmtree(old, ignore_errors=True)
            raise
        fsync_path(parent)
        self.committed = True
        os.unlink(os.path.join(self.target, OWNER))
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.target

    def __exit__(self, exc_type, exc, tb):
        if not self.committed and self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            for folder in self._created_parents:
                try:
                    os.rmdir(folder)
                except OSError:
                    break
        return False
