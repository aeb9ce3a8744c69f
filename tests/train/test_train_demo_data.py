"""The demo dataset: real digits, an image folder with a disjoint, stratified train/val split."""

import os

from edge.preprocess import read_image
from train.data import scan_image_folder
from train.demo_data import write_digits


def test_digits_are_written_as_a_split_image_folder(tmp_path):
    counts = write_digits(str(tmp_path), size=32, val_fraction=0.2, seed=0)
    assert sum(counts["train"].values()) + sum(counts["val"].values()) == 1797
    assert sorted(counts["val"]) == [str(d) for d in range(10)]
    assert all(30 <= n <= 40 for n in counts["val"].values())
    train = scan_image_folder(str(tmp_path / "train"))
    val = scan_image_folder(str(tmp_path / "val"))
    assert train.classes == val.classes == [str(d) for d in range(10)]
    names = lambda ds: {os.path.basename(p) for p, _ in ds.samples}
    assert not names(train) & names(val)
    image = read_image(train.samples[0][0])
    assert image.shape == (32, 32, 3) and image.min() < 100 < image.max()
