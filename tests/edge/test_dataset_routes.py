"""The tag-and-record routes over real HTTP (no browser): bad input gets one line and the right status, and
nothing is written for it; a burst takes distinct frames at its rate; the archive streams the folder."""

import io
import json
import os
import tarfile
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from edge.daemon.telemetry import Telemetry
from edge.sinks.http import HttpSink
from edge.sources.base import Frame


@pytest.fixture
def sink(tmp_path):
    sink = HttpSink(Telemetry(), port=0, dataset=str(tmp_path / "data"))
    sink.start()
    stop = threading.Event()

    def frames():   # a camera at about 50 fps; each frame's pixels are its index
        index = 0
        while not stop.is_set():
            sink.publish({"frame": index, "values": {"x": 1.0, "y": 2.0}, "image": {"width": 64, "height": 48}},
                         Frame(np.full((48, 64, 3), index % 255, np.uint8), index))
            index += 1
            time.sleep(0.02)

    feeder = threading.Thread(target=frames)
    feeder.start()
    yield sink
    stop.set()
    feeder.join()
    sink.close()


def call(sink, path, form=None):
    data = None if form is None else form.encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(sink.url + path, data=data), timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("path, form, status, says", [
    ("/dataset/class", "label=../up", 400, "plain folder name"),
    ("/dataset/class", "label=", 400, "plain folder name"),
    ("/dataset/capture", "label=up&count=0", 400, "a burst is 1 to 100 frames"),
    ("/dataset/capture", "label=up&count=2&rate=nan", 400, "'nan' is not a number"),
    ("/dataset/point", "x=nan&y=1", 400, "'nan' is not a number"),
    ("/dataset/point", "x=64&y=1", 400, "outside the 64x48 frame"),
    ("/dataset/undo", "", 409, "nothing to undo"),
    ("/dataset/undo", None, 405, "POST the others"),
    ("/dataset.tar.gz", "", 405, "GET /dataset"),
])
def test_bad_input_is_one_line_with_its_status_and_writes_nothing(sink, path, form, status, says):
    code, body = call(sink, path, form)
    assert code == status and says in json.loads(body.decode())["error"]
    folder = sink.recorder.folder
    assert [name for _, _, names in os.walk(folder) for name in names] == []


def test_a_burst_saves_distinct_frames_at_its_rate_and_the_archive_streams_them(sink):
    started = time.time()
    code, body = call(sink, "/dataset/capture", "label=up&count=4&rate=10")
    took = time.time() - started
    assert code == 200 and 0.28 < took < 3.0   # 3 waits of 0.1 s between 4 frames
    saved = json.loads(body.decode())["saved"]
    assert len(saved) == 4 and json.loads(call(sink, "/dataset")[1].decode())["classes"] == {"up": 4}
    import cv2

    shades = [int(cv2.imread(os.path.join(sink.recorder.folder, name))[0, 0, 0]) for name in saved]
    assert len(set(shades)) == 4   # four different frames, not one saved four times
    code, data = call(sink, "/dataset.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        assert sorted(archive.getnames()) == sorted("data/" + name for name in saved)
    code, body = call(sink, "/dataset/point", "x=3&y=4")
    assert code == 409 and "holds classes" in json.loads(body.decode())["error"]
