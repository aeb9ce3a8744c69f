"""Write a bundle all-or-nothing: build it in a staging folder beside the target, then swap.

Every file of the new bundle is written into `.<name>.staging-XXXXXXXX` next to the target and
only when the export (including verification) succeeded is the staging folder renamed into place;
the previous bundle is moved aside first (into `.<name>.old-XXXXXXXX/bundle`) and deleted after. A
failed export leaves the previous bundle exactly as it was; the next export tidies what a killed
one left (edge.util.staging, shared with the Triton model repository).
`edge.bundle.bundle.read_manifest` points at a moved-aside bundle until then.
"""

import os

from edge.util.atomic import write_text
from edge.bundle.bundle import LABELS, MANIFEST, artifact_entry, labels_text, put_artifact
from edge.errors import EdgeError
from edge.util.staging import Kind, StagedFolder
from edge.util.staging import recover as recover_folder

BUNDLE = Kind(marker=MANIFEST, inner="bundle", noun="bundle")


def check_target(target):
    """Refuse to replace anything that is not a bundle (or an empty folder)."""
    target = os.path.abspath(str(target))
    if os.path.isfile(target):
        raise EdgeError("output {} is a file; -o takes a bundle folder".format(target))
    if os.path.isdir(target) and os.listdir(target) and not os.path.isfile(os.path.join(target, MANIFEST)):
        raise EdgeError("output {} exists and is not a bundle (no {}); choose another -o or empty it".format(
            target, MANIFEST))
    return target


def recover(target, log=print):
    """Tidy what interrupted exports left beside the bundle `target` (edge.util.staging.recover). Returns `target`."""
    return recover_folder(target, BUNDLE, log)


def prepare_target(target, log=print):
    """Before an export: tidy what interrupted ones left, then check the target can be replaced."""
    return check_target(recover(check_target(target), log))


class StagedBundle(StagedFolder):
    """Context manager: `path` is the staging folder; `commit()` swaps it in, else it is removed."""

    def __init__(self, target, log=print):
        super(StagedBundle, self).__init__(target, BUNDLE, check_target, log=log)


def write_labels(bundle_dir, classes, manifest):
    """labels.txt (one class per line, in output order) and its artifact entry."""
    write_text(os.path.join(bundle_dir, LABELS), labels_text(classes))
    return put_artifact(manifest, artifact_entry(bundle_dir, LABELS, "labels"))
