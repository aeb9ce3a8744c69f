"""edge-collect against a video file source: interval and key-press modes, labels, bad input."""

import os
import subprocess
import sys

import pytest

from edge.collect import main
from edge.bundle.preprocess import read_image
from tests.edge.realparts import FFMPEG

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="needs Debian's ffmpeg (apt install ffmpeg)")


def test_interval_mode_saves_distinct_frames_into_the_label_folder(video, tmp_path, capsys):
    out = str(tmp_path / "dataset")
    assert main(["--source", video, "--out", out, "--label", "thumbs up", "--interval", "0.2", "--count", "5"]) == 0
    files = sorted(os.listdir(os.path.join(out, "thumbs up")))
    assert len(files) == 5 and all(f.startswith("thumbs up-") and f.endswith(".jpg") for f in files)
    images = [read_image(os.path.join(out, "thumbs up", f)) for f in files]
    assert all(image is not None and image.shape == (120, 160, 3) for image in images)
    assert images[0].tobytes() != images[-1].tobytes()  # the test pattern moves: real, later frames
    assert "saved 5 image(s)" in capsys.readouterr().out
    # A second run adds to the class instead of overwriting it.
    assert main(["--source", video, "--out", out, "--label", "thumbs up", "--interval", "0.1", "--count", "2"]) == 0
    assert len(os.listdir(os.path.join(out, "thumbs up"))) == 7


def test_runs_started_in_the_same_second_never_overwrite_earlier_images(video, tmp_path, monkeypatch):
    # The names carry a per-second stamp; two runs sharing it once overwrote each other's images.
    import edge.collect
    monkeypatch.setattr(edge.collect.time, "strftime", lambda fmt, *rest: "20261124-210314")
    out = str(tmp_path / "dataset")
    folder = os.path.join(out, "up")
    assert main(["--source", video, "--out", out, "--label", "up", "--interval", "0.05", "--count", "3"]) == 0
    before = {name: open(os.path.join(folder, name), "rb").read() for name in os.listdir(folder)}
    assert main(["--source", video, "--out", out, "--label", "up", "--interval", "0.05", "--count", "2"]) == 0
    after = sorted(os.listdir(folder))
    assert after == ["up-20261124-210314-{:04d}.jpg".format(i) for i in range(5)]
    assert all(open(os.path.join(folder, name), "rb").read() == data for name, data in before.items())


def test_key_mode_saves_one_frame_per_enter(video, tmp_path):
    out = str(tmp_path / "dataset")
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-m", "edge.collect", "--source", video, "--out", out, "--label", "down",
                             "--key"], input="\n\n\nq\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(os.listdir(os.path.join(out, "down"))) == 3


@pytest.mark.parametrize("argv, message", [
    (["--label", "../etc"], "plain folder name"),
    (["--label", "ok", "--interval", "0"], "positive"),
    (["--label", "ok", "--source", "csi://12"], "sensor id"),
])
def test_bad_input_is_one_line(video, tmp_path, capsys, argv, message):
    base = ["--source", video, "--out", str(tmp_path / "d")]
    assert main(base + argv) == 2
    assert message in capsys.readouterr().err


def test_point_mode_saves_the_courses_regression_names_that_training_reads(video, tmp_path, capsys):
    from edge.tasks.point_labels import folder_points

    out = str(tmp_path / "nose")
    assert main(["--source", video, "--out", out, "--point", "120,45", "--interval", "0.1", "--count", "3"]) == 0
    assert "saved 3 image(s) of point 120,45" in capsys.readouterr().out
    assert main(["--source", video, "--out", out, "--point", "7,100", "--interval", "0.1", "--count", "2"]) == 0
    labels = folder_points(out)        # what edge-train reads: <x>_<y>_<id>.jpg, flat in --out
    assert labels.origin == "file names" and labels.targets.names == ["x", "y"]
    assert sorted(tuple(values) for _, values, _ in labels.entries) == [(7.0, 100.0)] * 2 + [(120.0, 45.0)] * 3
    assert all(read_image(path).shape == (120, 160, 3) for path, _, _ in labels.entries)


@pytest.mark.parametrize("argv, message", [
    (["--point", "160,10"], "--point 160,10 is outside the 160x120 frames this source gives"),
    (["--point", "12"], "--point takes X,Y in whole pixels of the saved frame"),
    (["--point", "1.5,2"], "--point takes X,Y in whole pixels"),
    (["--point", "1,2", "--label", "up"], "not allowed with argument"),
])
def test_bad_points_are_one_line(video, tmp_path, capsys, argv, message):
    code = main(["--source", video, "--out", str(tmp_path / "d"), "--interval", "0.1", "--count", "1"] + argv)
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.strip().count("\n") == 0
