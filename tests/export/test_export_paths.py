"""edge-export's files named by the user fail in one line: a labels.txt that is not UTF-8 (--classes)."""

import pytest

from edge.errors import EdgeError


def test_a_labels_file_that_is_not_utf8_is_one_line(tmp_path):
    from export.model_source import parse_classes

    labels = tmp_path / "labels.txt"
    labels.write_bytes(b"cat\ncaf\xe9\n")
    with pytest.raises(EdgeError) as refused:  # edge.errors.CannotUsePath, one line, exit 2
        parse_classes(str(labels))
    assert str(refused.value) == ("cannot read --classes {} (not UTF-8 text: byte 0xe9 at offset 7; save it as "
                                  "UTF-8)".format(labels))
