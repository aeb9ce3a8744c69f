"""Dataset scanning, the edge cases that must be refused up front, and the seeded split."""

import os

import numpy as np
import pytest

from edge.errors import EdgeError
from tests.helpers import make_shapes_folder
from train.data import make_splits, scan_image_folder, stratified_split


def test_corrupt_and_empty_files_are_skipped_and_listed(tmp_path):
    root = make_shapes_folder(tmp_path / "data", per_class=6)
    (tmp_path / "data" / "dark" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (tmp_path / "data" / "light" / "empty.jpg").write_bytes(b"")
    (tmp_path / "data" / "light" / "notes.txt").write_text("not an image, ignored by extension")
    dataset = scan_image_folder(root)
    assert dataset.classes == ["dark", "light"]
    assert len(dataset.samples) == 12
    assert sorted(s["file"] for s in dataset.skipped) == [os.path.join("dark", "broken.png"),
                                                          os.path.join("light", "empty.jpg")]
    train, val, skipped = make_splits(root, val_fraction=0.5, seed=0)
    assert len(skipped) == 2
    assert len(train.samples) + len(val.samples) == 12


def test_empty_class_is_a_clear_error(tmp_path):
    root = make_shapes_folder(tmp_path / "data", per_class=4)
    os.makedirs(os.path.join(root, "zebra"))
    with pytest.raises(EdgeError, match="zebra"):
        make_splits(root)


def test_class_with_only_corrupt_files_counts_as_empty(tmp_path):
    root = make_shapes_folder(tmp_path / "data", per_class=4)
    os.makedirs(os.path.join(root, "zebra"))
    (tmp_path / "data" / "zebra" / "x.png").write_bytes(b"garbage")
    with pytest.raises(EdgeError, match="no readable images: zebra"):
        make_splits(root)


def test_single_class_is_a_clear_error(tmp_path):
    root = make_shapes_folder(tmp_path / "data", per_class=4, classes=("only",))
    with pytest.raises(EdgeError, match="single class"):
        make_splits(root)


def test_no_images_at_all_is_a_clear_error(tmp_path):
    os.makedirs(str(tmp_path / "data" / "a"))
    os.makedirs(str(tmp_path / "data" / "b"))
    with pytest.raises(EdgeError, match="no images"):
        make_splits(str(tmp_path / "data"))
    os.makedirs(str(tmp_path / "flat"))
    with pytest.raises(EdgeError, match="no class sub-folders"):
        make_splits(str(tmp_path / "flat"))
    with pytest.raises(EdgeError, match="not found"):
        make_splits(str(tmp_path / "missing"))


def test_validation_folder_with_unknown_class_is_refused(tmp_path):
    root = make_shapes_folder(tmp_path / "train", per_class=4)
    val = make_shapes_folder(tmp_path / "val", per_class=2, classes=("dark", "purple"))
    with pytest.raises(EdgeError, match="purple"):
        make_splits(root, val_dir=val)


def test_split_is_stratified_deterministic_and_disjoint():
    labels = np.repeat(np.arange(4), [10, 20, 5, 2])
    first = stratified_split(labels, 0.2, seed=7)
    again = stratified_split(labels, 0.2, seed=7)
    other = stratified_split(labels, 0.2, seed=8)
    assert first == again
    assert first != other
    train, val = first
    assert set(train).isdisjoint(val) and sorted(train + val) == list(range(len(labels)))
    val_counts = np.bincount(labels[val], minlength=4)
    assert val_counts.tolist() == [2, 4, 1, 1]  # 20% per class, at least one each


def test_split_does_not_depend_on_file_order(tmp_path):
    root = make_shapes_folder(tmp_path / "data", per_class=10)
    a = make_splits(root, seed=3)
    b = make_splits(root, seed=3)
    assert [p for p, _ in a[1].samples] == [p for p, _ in b[1].samples]
