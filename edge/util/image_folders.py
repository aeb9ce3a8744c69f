"""Image files in folders: which names are images, and the one order every command lists them in.

edge-predict and image-folder sources list a folder's images; edge-bench --data, edge-export's
--calib and --verify, and edge-train's datasets read a folder of class sub-folders. All of them
walk folders here, so an image one command sees is an image every command sees, in the same order.
"""

import os

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def is_image_name(name):
    """An image file name by extension (hidden files excluded)."""
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def image_files(folder):
    """Image files under `folder`, recursively, in a stable order: folders by sorted path, then names.

    The order fixes edge-train's seeded split of a dataset: it must not change between versions.
    """
    found = []
    for directory, _, names in sorted(os.walk(str(folder))):
        found.extend(os.path.join(directory, name) for name in sorted(names) if is_image_name(name))
    return found


def class_folders(root):
    """The sub-folders of `root` that name classes, sorted (the model's output order); hidden ones left out."""
    root = str(root)
    return sorted(name for name in os.listdir(root)
                  if os.path.isdir(os.path.join(root, name)) and not name.startswith("."))


def labelled_image_files(root):
    """(path, label) for the images of a flat folder (label None) or of its class sub-folders (label the name).

    Both may be mixed; entries come in sorted name order, each class folder's images as image_files lists them.
    """
    root = str(root)
    classes = set(class_folders(root))
    found = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name in classes:
            found.extend((image, name) for image in image_files(path))
        elif is_image_name(name) and os.path.isfile(path):
            found.append((path, None))
    return found
