"""Regression labels: labels.csv and the course's <x>_<y>_<id>.jpg names, with bad rows each one clear line."""

import os

import numpy as np
import pytest

from edge.errors import EdgeError
from edge.tasks.point_labels import (LABELS_CSV, check_inside, folder_points, inside_problem, is_point_folder,
                               parse_labels_csv, point_from_name)
from tests.helpers import write_png


def image(path, height=20, width=30):
    write_png(str(path), np.zeros((height, width, 3), np.uint8))
    return str(path)


def test_a_labels_csv_gives_targets_and_rows():
    targets, rows = parse_labels_csv("\ufefffile,nose_x,nose_y\n a.jpg , 3, 4.5\n\nsub\\b.png,0,0\n")
    assert targets.names == ["nose_x", "nose_y"] and targets.points == [("nose_x", "nose_y")]
    assert rows == [(2, "a.jpg", [3.0, 4.5]), (4, os.path.normpath("sub/b.png"), [0.0, 0.0])]


@pytest.mark.parametrize("text, message", [
    ("", "labels.csv is empty: write a header `file,x,y`"),
    ("name,x,y\na.jpg,1,2\n", "labels.csv line 1: the header must start with `file`"),
    ("file\na.jpg\n", "no target columns"),
    ("file,x\na.jpg,1\n", "come in x,y pairs"),
    ("file,y,x\na.jpg,1,2\n", "'y','x' are not an x,y pair"),
    ("file,x,y\na.jpg,abc,2\n", "labels.csv line 2 (a.jpg): x is 'abc', not a number; write the pixel position"),
    ("file,x,y\na.jpg,1,\n", "labels.csv line 2 (a.jpg): y is missing, not a number"),
    ("file,x,y\na.jpg,nan,2\n", "x is 'nan', not a number"),
    ("file,x,y\na.jpg,1\n", "labels.csv line 2: 2 value(s), the header names 3 (file,x,y); fix the row"),
    ("file,x,y\n,1,2\n", "labels.csv line 2: the file column is empty"),
    ("file,x,y\n../a.jpg,1,2\n", "must be a path inside the dataset folder"),
    ("file,x,y\na.jpg,1,2\na.jpg,3,4\n", "labels.csv line 3: a.jpg already has a row (line 2); keep one"),
])
def test_bad_rows_are_one_clear_line(text, message):
    with pytest.raises(EdgeError) as caught:
        parse_labels_csv(text)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_several_bad_rows_name_the_first_and_count_the_rest():
    with pytest.raises(EdgeError, match=r"line 2 \(a.jpg\): x is 'a'.* \(2 more problems like it\)"):
        parse_labels_csv("file,x,y\na.jpg,a,1\nb.jpg,b,1\nc.jpg,c,1\n")


@pytest.mark.parametrize("name, point", [
    ("120_45_0b7e.jpg", (120.0, 45.0)), ("3.5_4_a_b.png", (3.5, 4.0)), ("dir/7_8_x.JPG", (7.0, 8.0)),
    ("-1_4_a.jpg", (-1.0, 4.0)), ("12_a_b.jpg", None), ("12_13.jpg", None), ("12_13_a.txt", None),
    ("IMG_2024.jpg", None),
])
def test_course_file_names_give_a_point(name, point):
    assert point_from_name(name) == point


def test_a_folder_with_labels_csv_reads_every_image_once(tmp_path):
    image(tmp_path / "a.png")
    image(tmp_path / "sub" / "b.png")
    (tmp_path / LABELS_CSV).write_text("file,x,y\nsub/b.png,1,2\na.png,3,4\n")
    labels = folder_points(str(tmp_path))
    assert labels.origin == "labels.csv" and labels.targets.names == ["x", "y"]
    assert [(os.path.relpath(p, str(tmp_path)), v) for p, v, _ in labels.entries] == [
        ("a.png", [3.0, 4.0]), (os.path.join("sub", "b.png"), [1.0, 2.0])]
    assert labels.entries[0][2].endswith("line 3 (a.png)")


def test_an_image_without_a_row_and_a_row_without_an_image_are_refused(tmp_path):
    image(tmp_path / "a.png")
    image(tmp_path / "b.png")
    (tmp_path / LABELS_CSV).write_text("file,x,y\na.png,1,2\n")
    with pytest.raises(EdgeError, match=r"labels.csv has no row for b.png; add `b.png,X,Y` or move the image"):
        folder_points(str(tmp_path))
    (tmp_path / LABELS_CSV).write_text("file,x,y\na.png,1,2\nb.png,1,2\ngone.png,1,2\n")
    with pytest.raises(EdgeError, match=r"labels.csv line 4 lists gone.png, which is not an image in .*; remove the "
                                        r"row or add the image"):
        folder_points(str(tmp_path))


def test_a_folder_of_course_names_reads_x_y(tmp_path):
    image(tmp_path / "12_7_aa.jpg")
    labels = folder_points(str(tmp_path))
    assert labels.origin == "file names" and labels.targets.names == ["x", "y"]
    assert labels.entries[0][1] == [12.0, 7.0]
    image(tmp_path / "photo.jpg")
    with pytest.raises(EdgeError, match=r"file name photo.jpg does not give a point: name images <x>_<y>_<id>.jpg"):
        folder_points(str(tmp_path))


def test_points_outside_their_image_are_named(tmp_path):
    assert inside_problem([0, 0], (20, 30), ["x", "y"], "here") is None
    assert inside_problem([29, 19], (20, 30), ["x", "y"], "here") is None
    assert inside_problem([30, 5], (20, 30), ["x", "y"], "row 2") == (
        "row 2: x=30 is outside the image (width 30: 0 to 29); fix the label, pixels of this image")
    assert "y=-1 is outside the image (height 20: 0 to 19)" in inside_problem([3, -1], (20, 30), ["x", "y"], "r")
    path = image(tmp_path / "300_4_a.png")
    labels = folder_points(str(tmp_path))
    with pytest.raises(EdgeError, match=r"file name 300_4_a.png: x=300 is outside the image \(width 30"):
        check_inside(labels, {path: (20, 30)})


def test_the_task_rule_labels_csv_or_flat_images_is_regression(tmp_path):
    classes = tmp_path / "classes"
    image(classes / "cat" / "1.png")
    assert not is_point_folder(str(classes))
    image(tmp_path / "flat" / "1_2_a.png")
    assert is_point_folder(str(tmp_path / "flat"))
    (classes / LABELS_CSV).write_text("file,x,y\n")
    assert is_point_folder(str(classes))
    assert not is_point_folder(str(tmp_path / "missing"))
