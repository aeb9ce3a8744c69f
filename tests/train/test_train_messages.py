"""Messages that reach the user whole: a tampered checkpoint, and why a training image was skipped."""

import os

import numpy as np
import pytest

from edge.errors import EdgeError
from tests.helpers import make_shapes_folder, write_png


class _Payload(object):
    """Unpickling this runs a shell command: what a tampered checkpoint carries."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch {}".format(self.marker),))


def _tampered(tmp_path):
    import torch

    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"format": "edge-toolkit/model", "state_dict": {}, "extra": _Payload(str(marker))}, str(path))
    return path, marker


def _whole_sentence(text):
    """No cut library text: quotes and brackets close, no torch boilerplate, nothing dangling."""
    assert "Weights only load failed" not in text and "Re-running" not in text, text
    assert text.count("`") % 2 == 0, text
    assert text.count("(") == text.count(")"), text
    assert not text.rstrip().endswith((",", "(", "`", "torch.")), text


def test_a_tampered_checkpoint_is_refused_for_safety_in_a_whole_sentence(tmp_path):
    from train.checkpoint import load_checkpoint

    path, marker = _tampered(tmp_path)
    with pytest.raises(EdgeError) as refused:
        load_checkpoint(str(path))
    text = str(refused.value)
    _whole_sentence(text)
    assert "refused for safety" in text and "code" in text, text
    assert "posix.system" in text or "os.system" in text, text   # names what it would have run
    assert "state dict" in text, text                              # and what to do instead
    assert not marker.exists()


def test_edge_export_refuses_the_same_file_with_the_same_reason(tmp_path, capsys):
    from export.cli import main

    path, marker = _tampered(tmp_path)
    assert main([str(path), "-o", str(tmp_path / "bundle")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("edge-export: error: ")]
    assert errors == lines[-1:], lines       # progress lines before it, one error line, last
    _whole_sentence(errors[0])
    assert "refused for safety" in errors[0] and "code" in errors[0], errors[0]
    assert "state dict" in errors[0], errors[0]
    assert not marker.exists() and not (tmp_path / "bundle").exists()


def test_a_pickled_module_without_trust_pickle_says_why_and_what_to_do(tmp_path, capsys):
    import torch

    from export.cli import main
    from train.resnet import build_resnet

    path = tmp_path / "whole.pt"
    torch.save(build_resnet("resnet18", 2), str(path))
    assert main([str(path), "--classes", "a,b", "-o", str(tmp_path / "bundle")]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]     # after the "loading" progress line
    assert line.startswith("edge-export: error: "), line
    _whole_sentence(line)
    assert "refused for safety" in line and "--trust-pickle" in line and "state dict" in line, line


# ----------------------------------------------------------------------------- skipped training files

def _dataset(tmp_path):
    return make_shapes_folder(tmp_path / "data", per_class=4)


def _reasons(root):
    from train.data import scan_image_folder

    return dict((os.path.basename(item["file"]), item["reason"]) for item in scan_image_folder(root).skipped)


def _png_bytes():
    import cv2

    ok, data = cv2.imencode(".png", np.full((16, 16, 3), 120, np.uint8))
    assert ok
    return data.tobytes()


def test_each_kind_of_bad_file_says_what_is_wrong(tmp_path):
    root = _dataset(tmp_path)
    dark = os.path.join(root, "dark")
    open(os.path.join(dark, "empty.jpg"), "wb").close()
    with open(os.path.join(dark, "cut.png"), "wb") as handle:
        handle.write(_png_bytes()[:60])
    with open(os.path.join(dark, "notes.jpg"), "w") as handle:
        handle.write("these are my notes, saved with the wrong name\n")
    with open(os.path.join(dark, "scrambled.png"), "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + bytes(bytearray(range(256))) * 4 + _png_bytes()[-12:])
    os.symlink(os.path.join(dark, "gone.png"), os.path.join(dark, "dangling.png"))
    reasons = _reasons(root)
    assert "empty" in reasons["empty.jpg"], reasons
    assert "truncated" in reasons["cut.png"] and "PNG" in reasons["cut.png"], reasons
    assert "not an image" in reasons["notes.jpg"] and "text" in reasons["notes.jpg"], reasons
    assert "damaged" in reasons["scrambled.png"] and "PNG" in reasons["scrambled.png"], reasons
    assert "unreadable" in reasons["dangling.png"], reasons
    assert len(set(reasons.values())) == 5, reasons


def test_a_file_without_read_permission_says_so(tmp_path, monkeypatch):
    import train.data

    root = _dataset(tmp_path)
    locked = os.path.join(root, "light", "locked.png")
    write_png(locked, np.zeros((8, 8, 3), np.uint8))
    os.chmod(locked, 0)
    if os.geteuid() == 0:  # root reads anything: make the file refuse the way it would for a user
        real_open = open

        def refusing_open(path, *args, **kwargs):
            if os.path.basename(str(path)) == "locked.png":
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(train.data, "open", refusing_open, raising=False)
    reasons = _reasons(root)
    assert reasons == {"locked.png": "unreadable: permission denied"}, reasons


def test_a_long_library_message_is_cut_only_at_a_sentence_end():
    from train.checkpoint import library_reason

    long_text = "The archive is damaged. " + "It goes on and on without a stop " * 10
    assert library_reason(ValueError(long_text)) == "ValueError: The archive is damaged."
    assert library_reason(ValueError("x" * 300)) == "ValueError"
    assert library_reason(KeyError("short one")) == "KeyError: 'short one'"
