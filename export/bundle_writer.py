"""Write a bundle all-or-nothing: build it in a staging folder beside the target, then swap.

Every file of the new bundle is written into `.<name>.staging-XXXXXXXX` next to the target, fsynced,
and only when the export (including verification) succeeded is the staging folder renamed
into place; the previous bundle is moved aside first and deleted after. A failed export removes
the staging folder and leaves the previous bundle exactly as it was. (Renaming two directories
is two steps: a power cut between them leaves the old bundle in `.<name>.old-XXXXXXXX` beside it.)
"""

import binascii
import os
import shutil

from edge.atomic import current_umask, fsync_path, write_text
from edge.bundle import MANIFEST, artifact_entry, put_artifact, write_manifest
from edge.errors import EdgeError

LABELS = "labels.txt"


def check_target(target):
    """Refuse to replace anything that is not a bundle (or an empty folder)."""
    target = os.path.abspath(str(target))
    if os.path.isfile(target):
        raise EdgeError("output {} is a file; -o takes a bundle folder".format(target))
    if os.path.isdir(target) and os.listdir(target) and not os.path.isfile(os.path.join(target, MANIFEST)):
        raise EdgeError("output {} exists and is not a bundle (no {}); choose another -o or empty it".format(
            target, MANIFEST))
    return target


def _settle_tree(root):
    """Readable-by-all permissions (as umask allows; atomic writes start at 0600), then fsync."""
    mask = current_umask()
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            os.chmod(path, 0o666 & ~mask)
            fsync_path(path)
        os.chmod(folder, 0o777 & ~mask)
        fsync_path(folder)


def _make_hidden_dir(parent, stem):
    """A new `.stem-XXXXXXXX` folder in `parent` (created with the normal umask permissions)."""
    while True:
        path = os.path.join(parent, ".{}-{}".format(stem, binascii.hexlify(os.urandom(4)).decode("ascii")))
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue


class StagedBundle(object):
    """Context manager: `path` is the staging folder; `commit()` swaps it in, else it is removed."""

    def __init__(self, target):
        self.target = check_target(target)
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
        os.makedirs(parent, exist_ok=True)
        self._created_parents = missing  # innermost first
        self.path = _make_hidden_dir(parent, os.path.basename(self.target) + ".staging")
        return self

    def commit(self):
        """Make the staged bundle the bundle at `target`."""
        _settle_tree(self.path)
        parent = os.path.dirname(self.target)
        old = None
        if os.path.exists(self.target):
            old = _make_hidden_dir(parent, os.path.basename(self.target) + ".old")
            os.rename(self.target, os.path.join(old, "bundle"))
        try:
            os.rename(self.path, self.target)
        except OSError:
            if old is not None:  # put the previous bundle back before reporting
                os.rename(os.path.join(old, "bundle"), self.target)
                os.rmdir(old)
            raise
        fsync_path(parent)
        self.committed = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.target

    def __exit__(self, exc_type, exc, tb):
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)
            for folder in self._created_parents:
                try:
                    os.rmdir(folder)
                except OSError:
                    break
        return False


def write_labels(bundle_dir, classes, manifest):
    """labels.txt (one class per line, in output order) and its artifact entry."""
    write_text(os.path.join(bundle_dir, LABELS), "".join(name + "\n" for name in classes))
    return put_artifact(manifest, artifact_entry(bundle_dir, LABELS, "labels"))


def add_file(bundle_dir, manifest, file_name, kind, **extra):
    """Hash a file already in the staging folder and list it in the manifest."""
    return put_artifact(manifest, artifact_entry(bundle_dir, file_name, kind, **extra))


def finish(bundle_dir, manifest):
    write_manifest(bundle_dir, manifest)
