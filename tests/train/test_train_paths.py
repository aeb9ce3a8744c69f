"""edge-train --out a folder that cannot be made is one line and exit 2, not makedirs' traceback."""

import os

import pytest

from edge.errors import EXIT_USAGE
from tests.bundle_fixtures import write_image_folder


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_an_out_folder_that_cannot_be_made_is_one_line(where, tmp_path, capsys):
    from train.cli import main

    if where == "proc":
        if not os.path.isdir("/proc/self"):
            pytest.skip("needs Linux's /proc")
        out, reason = "/proc/x", "No such file or directory"
    else:
        (tmp_path / "a-file").write_text("x")
        out, reason = str(tmp_path / "a-file" / "run"), "Not a directory"
    data = write_image_folder(str(tmp_path / "data"), per_class=4, seed=0)
    code = main([data, "--out", out, "--epochs", "1", "--size", "32", "--workers", "0"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "Traceback" not in err, err
    assert err.splitlines()[-1] == "edge-train: error: cannot write the run folder {} ({})".format(out, reason), err
