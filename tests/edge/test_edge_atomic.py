"""Atomic writes: readers see the old file or the whole new one, never a torn write."""

import os

import pytest

from edge.util.atomic import atomic_open, sha256_file, write_bytes, write_json


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = str(tmp_path / "engine.plan")
    write_bytes(path, b"old engine")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as handle:
            handle.write(b"half a new eng")
            raise RuntimeError("power cut")
    assert open(path, "rb").read() == b"old engine"
    assert os.listdir(str(tmp_path)) == ["engine.plan"]


def test_write_creates_folders_and_replaces(tmp_path):
    path = str(tmp_path / "a" / "b" / "manifest.json")
    write_json(path, {"x": 1})
    write_json(path, {"x": 2})
    assert open(path).read().strip().endswith("}") and '"x": 2' in open(path).read()
    assert len(sha256_file(path)) == 64


def test_written_files_get_normal_permissions_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = str(tmp_path / "manifest.json")
        write_json(path, {})
        assert os.stat(path).st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


@pytest.mark.parametrize("hard_links", [True, False])
def test_no_replace_write_refuses_a_taken_name_and_leaves_no_temporary(tmp_path, monkeypatch, hard_links):
    if not hard_links:
        # FAT/exFAT SD cards refuse os.link; the fallback must still never overwrite.
        def no_links(src, dst):
            raise PermissionError(1, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_links)
    path = str(tmp_path / "up-0000.jpg")
    write_bytes(path, b"first", replace=False)
    with pytest.raises(FileExistsError):
        write_bytes(path, b"second", replace=False)
    assert open(path, "rb").read() == b"first"
    assert os.listdir(str(tmp_path)) == ["up-0000.jpg"]
