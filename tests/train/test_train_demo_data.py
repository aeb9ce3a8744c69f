"""The demo dataset: real digits, an image folder with a disjoint, stratified train/val split."""

import os

from edge.bundle.preprocess import read_image
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


def test_per_class_writes_the_first_scans_of_each_digit(tmp_path):
    counts = write_digits(str(tmp_path), size=16, val_fraction=0.2, seed=0, per_class=5)
    assert all(counts["train"][digit] == 4 and counts["val"][digit] == 1 for digit in map(str, range(10)))
    written = sorted(int(name[:-4]) for part in ("train", "val") for digit in range(10)
                     for name in os.listdir(str(tmp_path / part / str(digit))))
    assert len(written) == 50 and written[-1] < 100   # the first five of each digit, of 1797 scans


def test_the_regression_demo_data_has_the_nose_where_its_label_says(tmp_path):
    import numpy as np

    from edge.tasks.point_labels import folder_points
    from train.demo_data import write_points

    counts = write_points(str(tmp_path), count=30, size=48, seed=1)
    assert counts == {"train": 24, "val": 6}
    train, val = folder_points(str(tmp_path / "train")), folder_points(str(tmp_path / "val"))
    assert train.origin == "file names" and val.origin == "labels.csv"
    assert len(train.entries) == 24 and len(val.entries) == 6
    for path, (x, y), _ in train.entries + val.entries:
        image = read_image(path).astype(np.float64)
        # The nose is the brightest, warmest disc: its pixels' centre is the labelled point.
        warm = (image[:, :, 2] > 200) & (image[:, :, 1] > 150) & (image[:, :, 0] > 110)
        ys, xs = np.nonzero(warm)
        assert len(xs) >= 5 and abs(xs.mean() - x) < 1.0 and abs(ys.mean() - y) < 1.0, path
