"""edge.util.image_folders: one listing of image folders for predict, bench, sources, export and train."""

import os

from edge.util.image_folders import class_folders, image_files, is_image_name, labelled_image_files


def _touch(root, *names):
    for name in names:
        path = os.path.join(str(root), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(b"x")


def test_image_names():
    assert is_image_name("a.JPG") and is_image_name("b.tiff")
    assert not is_image_name(".hidden.jpg") and not is_image_name("notes.txt")


def test_image_files_order_is_by_folder_path_then_name(tmp_path):
    # "b-c" sorts before "b/" as a path ("-" < "/"): the order edge-train's seeded splits were made in.
    _touch(tmp_path, "z.png", "b/y.png", "b/x.png", "b-c/w.png", "b/d/v.png", "a/.u.png", "a/t.txt")
    got = [os.path.relpath(path, str(tmp_path)) for path in image_files(tmp_path)]
    assert got == ["z.png", "b/x.png", "b/y.png", "b-c/w.png", "b/d/v.png"]


def test_class_folders_and_labelled_files(tmp_path):
    _touch(tmp_path, "cat/1.jpg", "cat/deep/2.jpg", "dog/3.jpg", ".cache/4.jpg", "loose.png", ".x.png", "x.txt")
    os.makedirs(str(tmp_path / "empty"))
    assert class_folders(tmp_path) == ["cat", "dog", "empty"]
    got = [(os.path.relpath(path, str(tmp_path)), label) for path, label in labelled_image_files(tmp_path)]
    assert got == [("cat/1.jpg", "cat"), ("cat/deep/2.jpg", "cat"), ("dog/3.jpg", "dog"), ("loose.png", None)]
